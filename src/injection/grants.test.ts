import { describe, expect, it } from 'vitest';
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import { matchGrants } from './grants.ts';
import type { AccessLookup } from './grants.ts';

const access = (name: string, sa: string[], opts: { ready?: boolean; store?: string; podSelector?: Record<string, string> } = {}): DatasetAccess => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetAccess',
  metadata: { name, namespace: 'ml' },
  spec: {
    storeRef: { kind: 'ClusterDatasetStore', name: opts.store ?? 'aws' },
    prefix: 'data/',
    verbs: ['read'],
    subjects: { serviceAccounts: sa, ...(opts.podSelector ? { podSelector: { matchLabels: opts.podSelector } } : {}) },
  },
  status: { conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True', reason: 'Valid', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
});
const store = (name: string, region: string, endpoint?: string) =>
  ({ kind: 'ClusterDatasetStore', metadata: { name }, spec: { region, ...(endpoint ? { endpoint } : {}) } }) as unknown as AnyDatasetStore;
const lookup = (accesses: DatasetAccess[]): AccessLookup => ({
  accesses: (ns) => (ns === 'ml' ? accesses : []),
  store: (a) => ({ aws: store('aws', 'eu-west-1'), minio: store('minio', 'us-east-1', 'http://minio:9000') })[a.spec.storeRef.name],
});
const pod = { namespace: 'ml', serviceAccountName: 'trainer', labels: { role: 'train' } };

describe('the accesses that grant a pod being created', () => {
  it('are those whose subjects match, by name, with their store region and endpoint', () => {
    const m = matchGrants(pod, lookup([access('z', ['trainer'], { store: 'minio' }), access('a', ['trainer']), access('b', ['other']), access('c', ['trainer'], { podSelector: { role: 'eval' } })]));
    expect(m).toEqual({
      grants: [
        { access: 'a', region: 'eu-west-1', ready: true },
        { access: 'z', region: 'us-east-1', endpoint: 'http://minio:9000', ready: true },
      ],
    });
  });

  it('say why the pod will wait when nothing grants it, or nothing that grants it is Ready', () => {
    expect(matchGrants(pod, lookup([])).note).toMatch(/there is no DatasetAccess in the namespace/);
    expect(matchGrants(pod, lookup([access('b', ['other'])])).note).toMatch(/none of the 1 DatasetAccess objects in the namespace lists it/);
    expect(matchGrants({ ...pod, namespace: 'elsewhere' }, lookup([access('a', ['trainer'])])).grants).toEqual([]);
    expect(matchGrants(pod, lookup([access('a', ['trainer'], { ready: false })])).note).toMatch(/DatasetAccess a grants service account "trainer" in namespace "ml" but is not Ready yet/);
  });

  it('keep an access whose store is unknown, without a region', () => {
    expect(matchGrants(pod, lookup([access('a', ['trainer'], { store: 'gone' })])).grants).toEqual([{ access: 'a', ready: true }]);
  });
});
