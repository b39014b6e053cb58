// The reconciler's decisions with in-memory caches (pure logic; the lab suite shows the real thing).
import { describe, expect, it } from 'vitest';
import type { AnyDatasetStore, DatasetAccess, DatasetAccessStatus } from '../api/v1alpha1/index.ts';
import { FakeClock } from '../platform/clock.ts';
import { memoryLogger } from '../platform/logger.ts';
import { accessesUsingStore, makeAccessReconciler, type AccessCaches } from './access.ts';

const store: AnyDatasetStore = {
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetStore',
  metadata: { name: 'lab', namespace: 'team' },
  spec: {
    provider: 's3',
    bucket: 'datasets',
    region: 'us-east-1',
    roleArn: 'arn:aws:iam::000000000000:role/r',
    auth: { mode: 'defaultChain' },
    allowedPrefixes: ['imagenet/'],
    allowedVerbs: ['read', 'list'],
    maxSessionDurationSeconds: 3600,
  },
};

function access(verbs: DatasetAccess['spec']['verbs'], status?: DatasetAccessStatus): DatasetAccess {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name: 'a', namespace: 'team', generation: 2, resourceVersion: '7' },
    spec: { storeRef: { kind: 'DatasetStore', name: 'lab' }, prefix: 'imagenet/', verbs, subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900 },
    status,
  };
}

function harness(objects: { access?: DatasetAccess; store?: AnyDatasetStore }) {
  const writes: DatasetAccessStatus[] = [];
  const events: string[] = [];
  const caches: AccessCaches = {
    access: () => objects.access,
    datasetStore: (ns, name) => (objects.store && objects.store.metadata.namespace === ns && objects.store.metadata.name === name ? objects.store : undefined),
    clusterStore: () => undefined,
    namespaceLabels: () => ({}),
    overlappingClaims: () => [],
  };
  const reconcile = makeAccessReconciler({
    caches,
    clock: new FakeClock(),
    logger: memoryLogger(),
    status: {
      write: async (a, s) => {
        writes.push(s);
        objects.access = { ...a, status: s };
      },
    },
    events: { record: (_o, type, reason) => events.push(`${type}/${reason}`) },
  });
  return { reconcile, writes, events, objects };
}

describe('DatasetAccess reconcile', () => {
  it('writes Ready with the rendered policy, then nothing on a second pass', async () => {
    const h = harness({ access: access(['read']), store });
    await h.reconcile('team/a');
    expect(h.writes).toHaveLength(1);
    const s = h.writes[0];
    expect(s?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', observedGeneration: 2 });
    expect(JSON.parse(s?.sessionPolicy ?? '{}').Statement).toBeDefined();
    expect(h.events).toEqual(['Normal/Ready']);
    await h.reconcile('team/a');
    expect(h.writes).toHaveLength(1);
  });

  it('reports a verb the store does not allow, with no policy', async () => {
    const h = harness({ access: access(['read', 'write']), store });
    await h.reconcile('team/a');
    expect(h.writes[0]?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'VerbNotAllowed' });
    expect(h.writes[0]?.sessionPolicy).toBeUndefined();
    expect(h.events).toEqual(['Warning/VerbNotAllowed']);
  });

  it('reports a missing store and does nothing for a deleted access', async () => {
    const h = harness({ access: access(['read']) });
    await h.reconcile('team/a');
    expect(h.writes[0]?.conditions?.[0]).toMatchObject({ status: 'False', reason: 'StoreNotFound' });
    const gone = harness({});
    await gone.reconcile('team/a');
    expect(gone.writes).toHaveLength(0);
  });

  it('finds the accesses a store change affects, namespace-scoped for DatasetStore', () => {
    const a = access(['read']);
    const other = { ...access(['read']), metadata: { name: 'b', namespace: 'elsewhere' } };
    expect(accessesUsingStore([a, other], { kind: 'DatasetStore', namespace: 'team', name: 'lab' })).toEqual(['team/a']);
    expect(accessesUsingStore([a, other], { kind: 'ClusterDatasetStore', name: 'lab' })).toEqual([]);
  });
});
