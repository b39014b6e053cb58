import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { policyCommand } from './policy.ts';

const ex = (f: string) => join(import.meta.dirname, '../../examples', f);

function run(args: string[]) {
  let out = '';
  let err = '';
  const code = policyCommand(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

const scratch = mkdtempSync(join(tmpdir(), 'valet-policy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;

/** Writes `objects` as one multi-document YAML file; returns its path. */
function yamlFile(...objects: object[]): string {
  const file = join(scratch, `objects-${++files}.yaml`);
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

const access = (storeRef: { kind: string; name: string }, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetAccess',
  metadata: { name: 'a', namespace: 'ml-team' },
  spec: { storeRef, prefix: 'data/', verbs: ['read'], subjects: { serviceAccounts: ['trainer'] }, ...spec },
});
// Stores with keys are cluster stores whose Secrets sit in Valet's namespace (ADR 0008).
const store = (spec: Record<string, unknown>) => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'ClusterDatasetStore',
  metadata: { name: 's' },
  spec: { allowedPrefixes: ['data/'], maxSessionDurationSeconds: 3600, namespaceSelector: {}, ...spec },
});
const ref = { kind: 'ClusterDatasetStore', name: 's' };
const azureBlob = { accountName: 'devstoreaccount1', container: 'datasets', auth: { mode: 'accountKey', secretRef: { name: 'azure-key', namespace: 'valet-system' } } };
const gcs = { bucket: 'features', auth: { mode: 'hmac', secretRef: { name: 'gcs-key', namespace: 'valet-system' } } };

/** The JSON document of one access's output: every line but the `#` comments. */
function document(out: string): unknown {
  const json = out
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
  return JSON.parse(json);
}

describe('valet policy', () => {
  it('renders the policy for an access the store allows, reading namespace labels from the files', () => {
    const r = run(['-f', ex('00-namespace.yaml'), '-f', ex('clusterdatasetstore-minio.yaml'), '-f', ex('datasetaccess-imagenet-read.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('ml-team/imagenet-read: Ready');
    expect(r.out).toContain('"arn:aws:s3:::datasets/imagenet/*"');
    expect(r.out).toMatch(/packed size: \d+ of 2048/);
  });

  it('reads every YAML file of a folder', () => {
    const r = run(['-f', join(import.meta.dirname, '../../examples')]);
    expect(r.out).toContain('ml-team/imagenet-read: Ready');
    expect(r.out).toContain('ml-team/checkpoints-write: Ready');
  });

  it('says why an access would be refused, and exits 1', () => {
    const r = run(['-f', ex('clusterdatasetstore-minio.yaml'), '-f', ex('datasetaccess-imagenet-read.yaml'), '--namespace-labels', 'team=other']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('StoreResolved: NamespaceNotSelected');
    expect(r.out).not.toContain('"Statement"');
  });

  it('names bad input and exits 2', () => {
    expect(run([]).err).toContain('give at least one -f FILE');
    expect(run(['-f', '/nonexistent.yaml']).err).toContain('cannot read /nonexistent.yaml');
    expect(run(['--bogus']).code).toBe(2);
    expect(run(['-f', ex('clusterdatasetstore-minio.yaml')]).err).toContain('no DatasetAccess in the files');
  });

  it('renders every example access of every provider as Ready, and exits 0', () => {
    const r = run(['-f', join(import.meta.dirname, '../../examples')]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain('would be refused');
    for (const name of ['checkpoints-write', 'imagenet-read', 'scans-read', 'features-readwrite']) expect(r.out).toContain(`ml-team/${name}: Ready`);
  });

  it('renders an azureBlob access as its per-blob SAS scope: the permissions of each verb, container, account, prefix, protocol', () => {
    const r = run(['-f', ex('clusterdatasetstore-azure.yaml'), '-f', ex('datasetaccess-scans-read.yaml')]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('ml-team/scans-read: Ready');
    expect(r.out).toContain('# azureBlob: per-blob SAS scope (sr=b)');
    expect(r.out).toMatch(/^# {3}account: +mlteamdatasets \(https:\/\/mlteamdatasets\.blob\.core\.windows\.net\)$/m);
    expect(r.out).toMatch(/^# {3}container: +datasets$/m);
    expect(r.out).toMatch(/^# {3}prefix: +scans\/$/m);
    expect(r.out).toMatch(/^# {3}protocol: +https$/m);
    expect(r.out).toMatch(/^# {3}read: +sp=r$/m);
    expect(r.out).toMatch(/^# {3}list: +no SAS; the issuer lists for the pod, inside the prefix only$/m);
    expect(r.out).not.toMatch(/^# {3}write:/m);
    expect(r.out).toMatch(/status\.sessionPolicy: \d+ of 2048 characters/);
    expect(r.out).not.toContain('packed size');
    expect(document(r.out)).toEqual({
      provider: 'azureBlob',
      resource: 'blob',
      account: 'mlteamdatasets',
      container: 'datasets',
      prefix: 'scans/',
      permissions: 'r',
      list: true,
      protocol: 'https',
    });
  });

  it('gives write the SAS letters cw and delete d, and allows http for an http endpoint (Azurite)', () => {
    const endpoint = 'http://127.0.0.1:10000/devstoreaccount1';
    const file = yamlFile(
      store({ provider: 'azureBlob', azureBlob: { ...azureBlob, endpoint }, allowedVerbs: ['read', 'list', 'write', 'delete'] }),
      access(ref, { verbs: ['delete', 'write', 'read'] }),
    );
    const r = run(['-f', file]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^# {3}account: +devstoreaccount1 \(http:\/\/127\.0\.0\.1:10000\/devstoreaccount1\)$/m);
    expect(r.out).toMatch(/^# {3}protocol: +https,http$/m);
    expect(r.out).toMatch(/^# {3}permissions: +sp=rcwd$/m);
    // Per verb, in canonical order (read, list, write, delete), only the verbs granted.
    expect(r.out).toMatch(/^# {3}read: +sp=r\n# {3}write: +sp=cw\n# {3}delete: +sp=d$/m);
    expect(r.out).not.toMatch(/^# {3}list:/m);
    expect(document(r.out)).toMatchObject({ permissions: 'rcwd', list: false, protocol: 'https,http' });
  });

  it('renders a gcs access as its V4 signed-URL scope: bucket, prefix, methods of each verb, algorithm, host', () => {
    const r = run(['-f', ex('00-namespace.yaml'), '-f', ex('clusterdatasetstore-gcs.yaml'), '-f', ex('datasetaccess-features-readwrite.yaml')]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('ml-team/features-readwrite: Ready');
    expect(r.out).toContain('# gcs: V4 signed-URL scope');
    expect(r.out).toMatch(/^# {3}bucket: +ml-shared-features$/m);
    expect(r.out).toMatch(/^# {3}prefix: +features\/$/m);
    expect(r.out).toMatch(/^# {3}host: +storage\.googleapis\.com$/m);
    expect(r.out).toMatch(/^# {3}algorithm: +GOOG4-HMAC-SHA256$/m);
    expect(r.out).toMatch(/^# {3}methods: +GET, HEAD, PUT$/m);
    expect(r.out).toMatch(/^# {3}read: +GET, HEAD\n# {3}write: +PUT$/m);
    expect(r.out).not.toContain('packed size');
    expect(document(r.out)).toEqual({
      provider: 'gcs',
      bucket: 'ml-shared-features',
      prefix: 'features/',
      methods: ['GET', 'HEAD', 'PUT'],
      algorithm: 'GOOG4-HMAC-SHA256',
      host: 'storage.googleapis.com',
    });
  });

  it('signs gcs URLs with RSA for a service-account key, and for the host of a custom endpoint', () => {
    const file = yamlFile(
      store({ provider: 'gcs', gcs: { ...gcs, endpoint: 'https://storage.example.internal:8443', auth: { mode: 'serviceAccountKey', secretRef: { name: 'gcs-key', namespace: 'valet-system' } } }, allowedVerbs: ['read'] }),
      access(ref),
    );
    const r = run(['-f', file]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^# {3}algorithm: +GOOG4-RSA-SHA256$/m);
    expect(r.out).toMatch(/^# {3}host: +storage\.example\.internal:8443$/m);
    expect(r.out).toMatch(/^# {3}methods: +GET, HEAD$/m);
  });

  it('refuses list on a gcs store, naming the verb in every condition that fails, and exits 1', () => {
    const r = run(['-f', ex('00-namespace.yaml'), '-f', ex('clusterdatasetstore-gcs.yaml'), '-f', yamlFile(access({ kind: 'ClusterDatasetStore', name: 'gcs' }, { prefix: 'features/', verbs: ['read', 'list'] }))]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('ml-team/a: would be refused');
    expect(r.out).toContain(`VerbsAllowed: VerbNotAllowed: spec.verbs ["list"] not in the store's allowedVerbs ["read", "write"]`);
    expect(r.out).toContain('PolicyRendered: PolicyInvalid: provider gcs cannot grant spec.verbs [list]; it grants read, write');
    expect(r.out).not.toContain('signed-URL scope');
    expect(r.out).not.toContain('"provider"');
  });

  it('refuses list on a gcs store even where the store (offline, unchecked by the CRD) allows it', () => {
    const file = yamlFile(store({ provider: 'gcs', gcs, allowedVerbs: ['read', 'list'] }), access(ref, { verbs: ['list'] }));
    const r = run(['-f', file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('PolicyRendered: PolicyInvalid: provider gcs cannot grant spec.verbs [list]');
    expect(r.out).not.toContain('VerbsAllowed');
  });

  it('refuses an azureBlob store without spec.azureBlob, and exits 1', () => {
    const r = run(['-f', yamlFile(store({ provider: 'azureBlob', allowedVerbs: ['read'] }), access(ref))]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('PolicyRendered: PolicyInvalid: store spec.azureBlob is required for provider azureBlob');
  });

  it('reads a store without spec.provider as s3, the CRD default', () => {
    const file = yamlFile(store({ bucket: 'datasets', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/valet', allowedVerbs: ['read'], maxSessionDurationSeconds: undefined }), access(ref));
    const r = run(['-f', file]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('"arn:aws:s3:::datasets/data/*"');
    expect(r.out).toMatch(/packed size: \d+ of 2048/);
  });

  it('names a store of an unknown provider as bad input, and exits 2', () => {
    const r = run(['-f', yamlFile(store({ provider: 'ftp', allowedVerbs: ['read'] }), access(ref))]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`DatasetStore 's': spec.provider 'ftp' is not one of s3, azureBlob, gcs`);
    expect(r.out).toBe('');
  });
});
