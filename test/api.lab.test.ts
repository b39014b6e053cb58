// The CRDs against the real kube-apiserver: they install, the examples are accepted, and a table
// of invalid objects is each refused by the API server with a message naming the field.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { apply, readObjects } from './lab/apply.ts';
import { useLabLogs } from './lab/vitest.ts';
import { startWorld, type World } from './lab/world.ts';

const root = join(import.meta.dirname, '..');
let w: World;
const ns = 'api-test';

beforeAll(async () => {
  // The CRDs and a namespace; no store, no service accounts, no operator: only the API server judges here.
  w = await startWorld({ lab: { minio: false }, ns, serviceAccounts: [], store: false, operator: false });
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

type Obj = KubernetesObject & { spec: Record<string, unknown> };

const access = (spec: Record<string, unknown> = {}): Obj => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetAccess',
  metadata: { name: 'bad', namespace: ns },
  spec: {
    storeRef: { kind: 'DatasetStore', name: 'lab' },
    prefix: 'imagenet/',
    verbs: ['read'],
    subjects: { serviceAccounts: ['trainer'] },
    sessionDurationSeconds: 3600,
    ...spec,
  },
});

const storeSpec = {
  provider: 's3',
  bucket: 'datasets',
  region: 'us-east-1',
  roleArn: 'arn:aws:iam::123456789012:role/valet',
  auth: { mode: 'defaultChain' },
  allowedPrefixes: ['imagenet/'],
  allowedVerbs: ['read', 'list'],
  maxSessionDurationSeconds: 3600,
};
const store = (spec: Record<string, unknown> = {}): Obj => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetStore',
  metadata: { name: 'bad', namespace: ns },
  spec: { ...storeSpec, ...spec },
});
const clusterStore = (spec: Record<string, unknown> = {}): Obj => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'ClusterDatasetStore',
  metadata: { name: 'bad' },
  spec: { ...storeSpec, namespaceSelector: {}, ...spec },
});
const azureSource = { accountName: 'mlteamdatasets', container: 'datasets', auth: { mode: 'accountKey', secretRef: { name: 'azure-key' } } };
const gcsSource = { bucket: 'ml-shared-features', auth: { mode: 'hmac', secretRef: { name: 'gcs-key' } } };
/** The spec of a store of another provider: storeSpec without its S3 fields. */
const otherSpec = { allowedPrefixes: ['imagenet/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600 };
const azureStore = (spec: Record<string, unknown> = {}): Obj => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetStore',
  metadata: { name: 'bad', namespace: ns },
  spec: { provider: 'azureBlob', azureBlob: azureSource, ...otherSpec, allowedVerbs: ['read', 'list'], ...spec },
});
const gcsStore = (spec: Record<string, unknown> = {}): Obj => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetStore',
  metadata: { name: 'bad', namespace: ns },
  spec: { provider: 'gcs', gcs: gcsSource, ...otherSpec, ...spec },
});
const gcsClusterStore = (spec: Record<string, unknown> = {}): Obj => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'ClusterDatasetStore',
  metadata: { name: 'bad' },
  spec: { provider: 'gcs', gcs: { ...gcsSource, auth: { mode: 'serviceAccountKey', secretRef: { name: 'gcs-key', namespace: 'valet-system' } } }, ...otherSpec, namespaceSelector: {}, ...spec },
});
const without = (o: Obj, field: string): Obj => {
  const spec = { ...o.spec };
  delete spec[field];
  return { ...o, spec };
};

/** [what is wrong, the object, the field path the message must name] */
const INVALID: [string, Obj, string][] = [
  ['a prefix that climbs out with ..', access({ prefix: '../x/' }), 'spec.prefix'],
  ['an absolute prefix', access({ prefix: '/abs/' }), 'spec.prefix'],
  ['a wildcard in the prefix', access({ prefix: 'a*/' }), 'spec.prefix'],
  ['a prefix that is not a folder', access({ prefix: 'imagenet' }), 'spec.prefix'],
  ['an empty segment in the prefix', access({ prefix: 'a//b/' }), 'spec.prefix'],
  ['a .. segment inside the prefix', access({ prefix: 'a/../b/' }), 'spec.prefix'],
  ['a . segment as the prefix', access({ prefix: './' }), 'spec.prefix'],
  ['an empty prefix', access({ prefix: '' }), 'spec.prefix'],
  ['an overlong prefix', access({ prefix: 'x'.repeat(1100) + '/' }), 'spec.prefix'],
  ['no prefix at all', without(access(), 'prefix'), 'spec.prefix'],
  ['an unknown verb', access({ verbs: ['read', 'admin'] }), 'spec.verbs'],
  ['no verbs', access({ verbs: [] }), 'spec.verbs'],
  ['a repeated verb', access({ verbs: ['read', 'read'] }), 'spec.verbs'],
  ['a session shorter than STS allows', access({ sessionDurationSeconds: 60 }), 'spec.sessionDurationSeconds'],
  ['a session longer than STS allows', access({ sessionDurationSeconds: 100_000 }), 'spec.sessionDurationSeconds'],
  ['empty subjects', access({ subjects: { serviceAccounts: [] } }), 'spec.subjects.serviceAccounts'],
  ['subjects without service accounts', access({ subjects: {} }), 'spec.subjects.serviceAccounts'],
  ['too many service accounts', access({ subjects: { serviceAccounts: Array.from({ length: 65 }, (_, i) => `sa-${i}`) } }), 'spec.subjects.serviceAccounts'],
  ['a service account name that is not a DNS label', access({ subjects: { serviceAccounts: ['Bad_Name'] } }), 'spec.subjects.serviceAccounts[0]'],
  ['presigned URLs outliving the session', access({ presign: { enabled: true, maxExpirySeconds: 7200 } }), 'spec.presign.maxExpirySeconds'],
  ['a store kind that is not a store', access({ storeRef: { kind: 'Secret', name: 'x' } }), 'spec.storeRef.kind'],
  ['a store reference without a name', access({ storeRef: { kind: 'DatasetStore' } }), 'spec.storeRef.name'],
  ['a pod selector with an unknown operator', access({ subjects: { serviceAccounts: ['t'], podSelector: { matchExpressions: [{ key: 'a', operator: 'Like', values: ['b'] }] } } }), 'spec.subjects.podSelector.matchExpressions[0].operator'],
  ['a bucket name S3 would refuse', store({ bucket: 'Bad_Bucket' }), 'spec.bucket'],
  ['a role that is not an ARN', store({ roleArn: 'not-an-arn' }), 'spec.roleArn'],
  ['an allowed prefix that climbs out', store({ allowedPrefixes: ['../'] }), 'spec.allowedPrefixes[0]'],
  ['too many allowed prefixes', store({ allowedPrefixes: Array.from({ length: 40 }, (_, i) => `p${i}/`) }), 'spec.allowedPrefixes'],
  ['a maximum session below STS minimum', store({ maxSessionDurationSeconds: 10 }), 'spec.maxSessionDurationSeconds'],
  ['secret auth without a secret', store({ auth: { mode: 'secret' } }), 'spec.auth'],
  ['an endpoint that is not http(s)', store({ endpoint: 'ftp://minio:9000' }), 'spec.endpoint'],
  ['an unknown provider', store({ provider: 'ftp' }), 'spec.provider'],
  ['an s3 store without a role', without(store(), 'roleArn'), 'spec.roleArn'],
  ['an s3 store without a bucket', without(store(), 'bucket'), 'spec.bucket'],
  ['an s3 store with spec.azureBlob', store({ azureBlob: azureSource }), 'spec.azureBlob'],
  ['an s3 store with spec.gcs', store({ gcs: gcsSource }), 'spec.gcs'],
  ['an azureBlob store without spec.azureBlob', without(azureStore(), 'azureBlob'), 'spec.azureBlob'],
  ['an azureBlob store with spec.gcs', azureStore({ gcs: gcsSource }), 'spec.gcs'],
  ['an azureBlob store with an S3 bucket', azureStore({ bucket: 'datasets' }), 'spec.bucket'],
  ['an azureBlob store with an S3 role', azureStore({ roleArn: storeSpec.roleArn }), 'spec.roleArn'],
  ['a gcs store with an S3 region', gcsStore({ region: 'us-east-1' }), 'spec.region'],
  ['a gcs store asking for STS session tags', gcsStore({ sessionTags: true }), 'spec.sessionTags'],
  ['an azureBlob store with secret auth (for STS)', azureStore({ auth: { mode: 'secret', secretRef: { name: 'minio-key' } } }), 'spec.auth'],
  ['an Azure container name with capitals and _', azureStore({ azureBlob: { ...azureSource, container: 'Bad_Container' } }), 'spec.azureBlob.container'],
  ['an Azure container name with --', azureStore({ azureBlob: { ...azureSource, container: 'a--b' } }), 'spec.azureBlob.container'],
  ['an Azure account name with capitals and -', azureStore({ azureBlob: { ...azureSource, accountName: 'Bad-Account' } }), 'spec.azureBlob.accountName'],
  ['an Azure auth mode that does not exist', azureStore({ azureBlob: { ...azureSource, auth: { mode: 'sharedKey', secretRef: { name: 'k' } } } }), 'spec.azureBlob.auth.mode'],
  ['a gcs store without spec.gcs', without(gcsStore(), 'gcs'), 'spec.gcs'],
  ['a gcs store that allows list', gcsStore({ allowedVerbs: ['read', 'list'] }), 'spec.allowedVerbs'],
  ['a gcs store that allows delete', gcsStore({ allowedVerbs: ['write', 'delete'] }), 'spec.allowedVerbs'],
  ['a gcs store without auth.secretRef', gcsStore({ gcs: { ...gcsSource, auth: { mode: 'hmac' } } }), 'spec.gcs.auth.secretRef'],
  ['a gcs auth mode that does not exist', gcsStore({ gcs: { ...gcsSource, auth: { mode: 'workloadIdentity', secretRef: { name: 'k' } } } }), 'spec.gcs.auth.mode'],
  ['a gcs cluster store whose secretRef has no namespace', gcsClusterStore({ gcs: gcsSource }), 'spec.gcs.auth.secretRef.namespace'],
  ['an unknown allowed verb', clusterStore({ allowedVerbs: ['read', 'fly'] }), 'spec.allowedVerbs'],
  ['a cluster store without a namespace selector', without(clusterStore(), 'namespaceSelector'), 'spec.namespaceSelector'],
];

describe('the valet.dev CRDs', () => {
  it('accept every example in examples/', async () => {
    const objects = readObjects(join(root, 'examples'));
    const kinds = objects.map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['ClusterDatasetStore', 'DatasetStore', 'DatasetAccess']));
    const created = await apply(w.lab.kubeConfig, objects);
    expect(created.every((o) => o.metadata?.uid)).toBe(true);
  });

  it('apply the default session duration', async () => {
    const api = KubernetesObjectApi.makeApiClient(w.lab.kubeConfig);
    const o = without(access(), 'sessionDurationSeconds');
    o.metadata = { name: 'defaults', namespace: ns };
    const created = (await api.create(o)) as Obj;
    expect(created.spec.sessionDurationSeconds).toBe(3600);
  });

  it('accept a valid azureBlob store, gcs store and gcs cluster store, and apply their defaults', async () => {
    const api = KubernetesObjectApi.makeApiClient(w.lab.kubeConfig);
    const named = (o: Obj, name: string): Obj => ({ ...o, metadata: { ...o.metadata, name } });
    const azure = (await api.create(named(azureStore(), 'valid-azure'))) as Obj;
    expect(azure.spec.provider).toBe('azureBlob');
    expect(azure.spec.azureBlob).toEqual({ ...azureSource, auth: { mode: 'accountKey', secretRef: { name: 'azure-key', accountKeyKey: 'accountKey' } } });
    const gcsKeys = { serviceAccountKeyKey: 'key.json', accessIdKey: 'accessId', secretKey: 'secret' };
    const gcs = (await api.create(named(gcsStore({ allowedVerbs: ['read', 'write'] }), 'valid-gcs'))) as Obj;
    expect(gcs.spec.gcs).toEqual({ ...gcsSource, auth: { mode: 'hmac', secretRef: { name: 'gcs-key', ...gcsKeys } } });
    expect(gcs.spec.allowedVerbs).toEqual(['read', 'write']);
    const cluster = (await api.create(named(gcsClusterStore(), 'valid-gcs'))) as Obj;
    expect(cluster.spec.gcs).toEqual({ ...gcsSource, auth: { mode: 'serviceAccountKey', secretRef: { name: 'gcs-key', namespace: 'valet-system', ...gcsKeys } } });
    // The store's own defaults still apply; the S3 ones that are no field of another provider's store stay off.
    for (const o of [azure, gcs, cluster]) {
      expect(o.spec.maxSessionDurationSeconds).toBe(3600);
      expect(o.spec.sessionTags).toBe(false);
      expect(o.spec.bucket).toBeUndefined();
      expect(o.spec.roleArn).toBeUndefined();
    }
  });

  it(`refuse ${INVALID.length} invalid objects, each with a message naming the field`, async () => {
    const api = KubernetesObjectApi.makeApiClient(w.lab.kubeConfig);
    const wrong: string[] = [];
    for (const [what, obj, field] of INVALID) {
      try {
        await api.create(obj);
        wrong.push(`${what}: accepted`);
        await api.delete(obj);
      } catch (err) {
        const e = err as { code?: number; body?: unknown };
        const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : ((e.body ?? {}) as { message?: string });
        const message = body.message ?? String(err);
        if (e.code !== 422) wrong.push(`${what}: HTTP ${e.code}, not 422: ${message}`);
        else if (!message.includes(field)) wrong.push(`${what}: message does not name ${field}: ${message}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(INVALID.length).toBeGreaterThanOrEqual(25);
  });
});
