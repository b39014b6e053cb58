import { describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { ClusterDatasetStore, DatasetAccess, DatasetStore } from '../api/v1alpha1/index.ts';
import { FakeClock } from '../platform/clock.ts';
import { GrantSourceOverCaches } from './grants.ts';

const nsStore: DatasetStore = {
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetStore',
  metadata: { name: 'lab', namespace: 'team-a' },
  spec: { provider: 's3', bucket: 'datasets', region: 'us-east-1', roleArn: 'arn:aws:iam::000000000000:role/r', auth: { mode: 'secret', secretRef: { name: 'creds' } }, allowedPrefixes: ['a/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600 },
};
const clusterStore: ClusterDatasetStore = {
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'ClusterDatasetStore',
  metadata: { name: 'shared' },
  spec: { ...(nsStore.spec as Omit<DatasetStore['spec'], 'azureBlob' | 'gcs'>), auth: { mode: 'secret', secretRef: { name: 'shared-creds', namespace: 'valet-system', accessKeyIdKey: 'id', secretAccessKeyKey: 'key' } }, namespaceSelector: {} },
};
const access = (name: string, kind: 'DatasetStore' | 'ClusterDatasetStore', store: string): DatasetAccess => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetAccess',
  metadata: { name, namespace: 'team-a' },
  spec: { storeRef: { kind, name: store }, prefix: 'a/', verbs: ['read'], subjects: { serviceAccounts: ['x'] } },
});

function setup(secrets: Record<string, V1Secret>) {
  const clock = new FakeClock();
  const reads: string[] = [];
  const g = new GrantSourceOverCaches({
    caches: {
      accesses: (ns) => (ns === 'team-a' ? [access('one', 'DatasetStore', 'lab')] : []),
      datasetStore: (ns, name) => (ns === 'team-a' && name === 'lab' ? nsStore : undefined),
      clusterStore: (name) => (name === 'shared' ? clusterStore : undefined),
      namespaceLabels: (ns) => (ns === 'team-a' ? { team: 'a' } : undefined),
    },
    core: {
      readNamespacedSecret: async ({ namespace, name }: { namespace: string; name: string }) => {
        reads.push(`${namespace}/${name}`);
        const s = secrets[`${namespace}/${name}`];
        if (!s) throw Object.assign(new Error('not found'), { code: 404 });
        return s;
      },
    } as unknown as Pick<CoreV1Api, 'readNamespacedSecret'>,
    clock,
  });
  return { g, clock, reads };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('the informer-backed grant source', () => {
  it('resolves a DatasetStore in the access namespace and a ClusterDatasetStore by name', () => {
    const { g } = setup({});
    expect(g.accesses('team-a').map((a) => a.metadata.name)).toEqual(['one']);
    expect(g.store(access('one', 'DatasetStore', 'lab'))).toBe(nsStore);
    expect(g.store(access('two', 'ClusterDatasetStore', 'shared'))).toBe(clusterStore);
    expect(g.store(access('three', 'DatasetStore', 'shared'))).toBeUndefined();
  });

  it("reads a store's key from its Secret (the store's namespace, or the cluster store's secretRef.namespace), cached", async () => {
    const { g, reads, clock } = setup({
      'team-a/creds': { data: { accessKeyId: b64('AKID'), secretAccessKey: b64('s3cr3t') } },
      'valet-system/shared-creds': { data: { id: b64('AKID2'), key: b64('other') } },
    });
    expect(await g.storeCredentials(nsStore)).toEqual({ accessKeyId: 'AKID', secretAccessKey: 's3cr3t' });
    expect(await g.storeCredentials(clusterStore)).toEqual({ accessKeyId: 'AKID2', secretAccessKey: 'other' });
    await Promise.all([g.storeCredentials(nsStore), g.storeCredentials(nsStore)]);
    expect(reads).toEqual(['team-a/creds', 'valet-system/shared-creds']);
    clock.advance(30_001);
    await g.storeCredentials(nsStore);
    expect(reads).toHaveLength(3);
    expect(await g.storeCredentials({ ...nsStore, spec: { ...nsStore.spec, auth: { mode: 'defaultChain' } } })).toBe('defaultChain');
  });

  it('fails with StoreCredentialsUnavailable, naming the Secret but never its content', async () => {
    const { g } = setup({ 'team-a/creds': { data: { accessKeyId: b64('AKID') } } });
    await expect(g.storeCredentials(nsStore)).rejects.toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('lacks key "secretAccessKey"') });
    await expect(g.storeCredentials(clusterStore)).rejects.toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('not found') });
  });
});
