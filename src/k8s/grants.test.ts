import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { ClusterDatasetStore, DatasetAccess, DatasetStore } from '../api/v1alpha1/index.ts';
import { FakeClock } from '../platform/clock.ts';
import { authorize } from '../issuer/authorize.ts';
import { readyAccess } from '../issuer/testdata/fixtures.ts';
import { GrantSourceOverCaches, InformerGrantSource } from './grants.ts';
import { SharedInformers } from './shared-informers.ts';
import { memoryListWatches } from './testdata/memory-list-watch.ts';

const nsStore: DatasetStore = {
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetStore',
  // A DatasetStore may name a Secret only in Valet's own namespace (ADR 0008).
  metadata: { name: 'lab', namespace: 'valet-system' },
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
      overlappingClaims: () => [],
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
      'valet-system/creds': { data: { accessKeyId: b64('AKID'), secretAccessKey: b64('s3cr3t') } },
      'valet-system/shared-creds': { data: { id: b64('AKID2'), key: b64('other') } },
    });
    expect(await g.storeCredentials(nsStore)).toEqual({ accessKeyId: 'AKID', secretAccessKey: 's3cr3t' });
    expect(await g.storeCredentials(clusterStore)).toEqual({ accessKeyId: 'AKID2', secretAccessKey: 'other' });
    await Promise.all([g.storeCredentials(nsStore), g.storeCredentials(nsStore)]);
    expect(reads).toEqual(['valet-system/creds', 'valet-system/shared-creds']);
    clock.advance(30_001);
    await g.storeCredentials(nsStore);
    expect(reads).toHaveLength(3);
    expect(await g.storeCredentials({ ...nsStore, spec: { ...nsStore.spec, auth: { mode: 'defaultChain' } } })).toBe('defaultChain');
  });

  it('fails with StoreCredentialsUnavailable, naming neither the Secret nor its content', async () => {
    const { g } = setup({ 'valet-system/creds': { data: { accessKeyId: b64('AKID'), other: b64('s3cr3t-value') } } });
    const lacks = (await g.storeCredentials(nsStore).then(() => undefined, (e: unknown) => e)) as Error & { code: string };
    expect(lacks).toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('lacks key "secretAccessKey"') });
    const missing = (await g.storeCredentials(clusterStore).then(() => undefined, (e: unknown) => e)) as Error & { code: string };
    expect(missing).toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('not found') });
    for (const e of [lacks, missing]) {
      expect(e.message).not.toMatch(/creds|s3cr3t|AKID/);
    }
  });

  it("never reads a Secret outside Valet's namespace, whatever the store names (ADR 0008)", async () => {
    const { g, reads } = setup({ 'team-a/creds': { data: { accessKeyId: b64('AKID'), secretAccessKey: b64('s3cr3t') } } });
    const tenantStore: DatasetStore = { ...nsStore, metadata: { name: 'old', namespace: 'team-a' } };
    const tenantCluster: ClusterDatasetStore = { ...clusterStore, spec: { ...clusterStore.spec, auth: { mode: 'secret', secretRef: { name: 'creds', namespace: 'team-a' } } } };
    const az: DatasetStore = { ...tenantStore, spec: { provider: 'azureBlob', azureBlob: { accountName: 'acct', container: 'data', auth: { mode: 'accountKey', secretRef: { name: 'creds' } } }, allowedPrefixes: ['a/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600 } };
    for (const p of [g.storeCredentials(tenantStore), g.storeCredentials(tenantCluster), g.signingKey(az)]) {
      const e = (await p.then(() => undefined, (err: unknown) => err)) as Error & { code: string };
      expect(e).toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('"valet-system"') });
      expect(e.message).not.toContain('creds');
    }
    expect(reads).toEqual([]);
    // Configured elsewhere, the same store is read there.
    const other = new GrantSourceOverCaches({ caches: { accesses: () => [], datasetStore: () => undefined, clusterStore: () => undefined, namespaceLabels: () => undefined, overlappingClaims: () => [] }, core: { readNamespacedSecret: () => Promise.reject(Object.assign(new Error('nf'), { code: 404 })) }, valetNamespace: 'team-a' });
    await expect(other.storeCredentials(tenantStore)).rejects.toMatchObject({ message: expect.stringContaining('not found') });
  });

  it("reads an azureBlob store's account key and a gcs store's service-account or HMAC key from their Secrets", async () => {
    const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sa = JSON.stringify({ type: 'service_account', client_email: 'signer@p.iam.gserviceaccount.com', private_key: pem });
    const { g, reads } = setup({
      'valet-system/az': { data: { accountKey: b64('YWNjb3VudC1rZXk=') } },
      'valet-system/gcs-sa': { data: { 'sa.json': b64(sa) } },
      'valet-system/hmac': { stringData: { accessId: 'GOOG1E', secret: 'hmac-secret' } },
    });
    const az: DatasetStore = { ...nsStore, spec: { provider: 'azureBlob', azureBlob: { accountName: 'acct', container: 'data', auth: { mode: 'accountKey', secretRef: { name: 'az' } } }, allowedPrefixes: ['a/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600 } };
    const gcsSa: ClusterDatasetStore = {
      ...clusterStore,
      spec: { provider: 'gcs', gcs: { bucket: 'b-1', auth: { mode: 'serviceAccountKey', secretRef: { name: 'gcs-sa', namespace: 'valet-system', serviceAccountKeyKey: 'sa.json' } } }, allowedPrefixes: ['a/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600, namespaceSelector: {} },
    };
    const gcsHmac: DatasetStore = { ...nsStore, spec: { provider: 'gcs', gcs: { bucket: 'b-1', auth: { mode: 'hmac', secretRef: { name: 'hmac' } } }, allowedPrefixes: ['a/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600 } };
    expect(await g.signingKey(az)).toEqual({ kind: 'azureAccountKey', accountKey: 'YWNjb3VudC1rZXk=' });
    expect(await g.signingKey(gcsSa)).toMatchObject({ kind: 'gcsServiceAccount', clientEmail: 'signer@p.iam.gserviceaccount.com' });
    expect(await g.signingKey(gcsHmac)).toEqual({ kind: 'gcsHmac', accessId: 'GOOG1E', secret: 'hmac-secret' });
    expect(reads).toEqual(['valet-system/az', 'valet-system/gcs-sa', 'valet-system/hmac']);
    // An s3 store has no signing key, and an azureBlob store no STS credentials.
    await expect(g.signingKey(nsStore)).rejects.toMatchObject({ code: 'StoreCredentialsUnavailable' });
    await expect(g.storeCredentials(az)).rejects.toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('azureBlob store') });
  });

  it('refuses a key that cannot sign (not JSON, no private key, not RSA, not base64) as the store\'s problem, without echoing it', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { g } = setup({
      'valet-system/bad': { data: { 'key.json': b64('not json: super-secret-material') } },
      'valet-system/half': { data: { 'key.json': b64('{"client_email":"x@y"}') } },
      'valet-system/ec': { data: { 'key.json': b64(JSON.stringify({ client_email: 'x@y', private_key: ec })) } },
      'valet-system/garbage': { data: { 'key.json': b64(JSON.stringify({ client_email: 'x@y', private_key: 'super-secret-garbage' })) } },
      'valet-system/az': { stringData: { accountKey: 'not base64! super-secret' } },
    });
    const store = (name: string): DatasetStore => ({ ...nsStore, spec: { provider: 'gcs', gcs: { bucket: 'b-1', auth: { mode: 'serviceAccountKey', secretRef: { name } } }, allowedPrefixes: ['a/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600 } });
    const bad = (await g.signingKey(store('bad')).then(() => undefined, (e: unknown) => e)) as Error & { code: string };
    expect(bad).toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('not a service-account JSON key') });
    expect(bad.message).not.toContain('super-secret-material');
    await expect(g.signingKey(store('half'))).rejects.toMatchObject({ message: expect.stringContaining('lacks client_email or private_key') });
    for (const name of ['ec', 'garbage']) {
      const e = (await g.signingKey(store(name)).then(() => undefined, (err: unknown) => err)) as Error & { code: string };
      expect(e).toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('not a readable RSA key') });
      expect(e.message).not.toContain('super-secret');
    }
    const az: DatasetStore = { ...nsStore, spec: { provider: 'azureBlob', azureBlob: { accountName: 'acct', container: 'data', auth: { mode: 'accountKey', secretRef: { name: 'az' } } }, allowedPrefixes: ['a/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600 } };
    const e = (await g.signingKey(az).then(() => undefined, (err: unknown) => err)) as Error & { code: string };
    expect(e).toMatchObject({ code: 'StoreCredentialsUnavailable', message: expect.stringContaining('not a base64 account key') });
    expect(e.message).not.toContain('super-secret');
  });
});

describe("the issuer's folder claims from the shared informers' ClaimIndex (ADR 0009)", () => {
  const teams = (name: string): ClusterDatasetStore => ({
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'ClusterDatasetStore',
    metadata: { name, generation: 1 },
    spec: { provider: 's3', bucket: name, region: 'us-east-1', roleArn: 'arn:aws:iam::000000000000:role/r', auth: { mode: 'defaultChain' }, allowedPrefixes: ['teams/', 'public/', '{namespace}/'], sharedPrefixes: ['public/'], allowedVerbs: ['read', 'list'], maxSessionDurationSeconds: 3600, namespaceSelector: {} },
  });
  const STORES = [teams('one'), teams('two')];
  const NAMESPACES = ['team-a', 'team-b', 'team-c', 'team-d'];
  // A small folder tree, so that claims nest, share parents and collide; `teams/a` is not a folder.
  const PREFIXES = ['teams/', 'teams/a/', 'teams/a/b/', 'teams/b/', 'teams/a', 'public/', 'public/x/', 'team-a/', 'team-b/x/', 'other/'];
  const TIMES = ['2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', '2026-01-02T00:00:00Z'];

  /** A deterministic random source (xorshift), so a failure names a world that can be replayed. */
  function rng(seed: number): (n: number) => number {
    let x = seed || 1;
    return (n) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
  }

  function world(seed: number) {
    const pick = rng(seed);
    const lws = memoryListWatches();
    const informers = new SharedInformers({ clients: { kubeConfig: undefined as never, core: {} as never, customObjects: {} as never }, makeListWatch: lws.make });
    const g = new InformerGrantSource({ clients: { kubeConfig: undefined as never, core: {} as never, customObjects: {} as never }, informers });
    for (const s of STORES) lws.of<ClusterDatasetStore>('clusterdatasetstores').put(s);
    for (const ns of NAMESPACES) lws.of<{ metadata: { name: string; labels: Record<string, string> } }>('namespaces').put({ metadata: { name: ns, labels: { team: ns } } });
    const accesses = lws.of<DatasetAccess>('datasetaccesses');
    const make = (i: number): DatasetAccess => {
      const s = STORES[pick(STORES.length)] as ClusterDatasetStore;
      const a = readyAccess(`acc-${i}`, { storeRef: { kind: 'ClusterDatasetStore', name: s.metadata.name }, prefix: PREFIXES[pick(PREFIXES.length)] as string }, { store: s });
      a.metadata = { ...a.metadata, namespace: NAMESPACES[pick(NAMESPACES.length)] as string, creationTimestamp: TIMES[pick(TIMES.length)] as string };
      return a;
    };
    return { g, informers, accesses, make, pick };
  }

  /** Each access's verdict for a pod of its namespace: from the index, and from every access (what the issuer did before). */
  function verdicts(w: ReturnType<typeof world>) {
    const out: { access: string; index: unknown; scan: unknown }[] = [];
    for (const a of w.informers.accesses.list()) {
      const p = { namespace: a.metadata.namespace ?? '', serviceAccount: 'trainer', podName: 'p', podUid: 'u', labels: {} };
      const run = (overlappingClaims: (s: string, prefix: string, ns: string) => readonly DatasetAccess[]) => {
        const r = authorize(p, w.g.accesses(p.namespace), (x) => w.g.store(x), [a.metadata.name], (ns) => w.g.namespaceLabels(ns), { valetNamespace: w.g.valetNamespace, overlappingClaims });
        return { ok: r.ok, refusals: r.refusals.filter((x) => x.access === `${p.namespace}/${a.metadata.name}`) };
      };
      out.push({ access: `${a.metadata.namespace}/${a.metadata.name}`, index: run((s, prefix, ns) => w.g.overlappingClaims(s, prefix, ns)), scan: run(() => w.informers.accesses.list()) });
    }
    return out;
  }

  it('gives every access the verdict a scan of every access gives, through creates, moves and deletes', () => {
    let granted = 0;
    let owned = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const w = world(seed);
      for (let i = 0; i < 60; i++) w.accesses.put(w.make(i));
      const check = (step: string) => {
        for (const v of verdicts(w)) {
          expect(v.index, `seed ${seed}, ${step}: ${v.access}`).toEqual(v.scan);
          if ((v.index as { ok: boolean }).ok) granted++;
          else if (JSON.stringify(v.index).includes('FolderClaimedByOtherNamespace')) owned++;
        }
      };
      check('created');
      // Claims move (another prefix or store, same name and namespace) and go away.
      for (let i = 0; i < 20; i++) {
        const moved = w.make(w.pick(60));
        const before = w.informers.accesses.list().find((x) => x.metadata.name === moved.metadata.name);
        if (before) moved.metadata = { ...moved.metadata, namespace: before.metadata.namespace, creationTimestamp: before.metadata.creationTimestamp };
        w.accesses.put(moved);
      }
      check('moved');
      for (const a of w.informers.accesses.list().filter((_, i) => i % 3 === 0)) w.accesses.remove(a);
      check('deleted');
    }
    // The worlds exercise both outcomes, or the comparison would prove little.
    expect(granted).toBeGreaterThan(50);
    expect(owned).toBeGreaterThan(50);
  });

  it('answers from the index: a key request lists no access outside the pod namespace', () => {
    const w = world(7);
    for (let i = 0; i < 60; i++) w.accesses.put(w.make(i));
    const a = w.informers.accesses.list().find((x) => x.spec.storeRef.kind === 'ClusterDatasetStore') as DatasetAccess;
    const ns = a.metadata.namespace ?? '';
    let listedAll = 0;
    const list = w.informers.accesses.list.bind(w.informers.accesses);
    w.informers.accesses.list = (namespace?: string) => (namespace === undefined && listedAll++, list(namespace));
    const p = { namespace: ns, serviceAccount: 'trainer', podName: 'p', podUid: 'u', labels: {} };
    const asked: number[] = [];
    authorize(p, w.g.accesses(ns), (x) => w.g.store(x), [a.metadata.name], (n) => w.g.namespaceLabels(n), { overlappingClaims: (s, prefix, n) => (asked.push(1), w.g.overlappingClaims(s, prefix, n)) });
    expect(asked).toHaveLength(1);
    expect(listedAll).toBe(0);
  });
});
