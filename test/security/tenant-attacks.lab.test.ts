// Local process, for speed: refusals outside the grant in real pods are in test/node/training-job.lab.test.ts.
// Attacks by tenants and by processes inside a pod, each with the refusal it must get, against the
// lab (real controller, real issuer over TLS with TokenReview, `valet sidecar` as a process, MinIO):
// - a tenant's DatasetAccess naming a ClusterDatasetStore whose namespaceSelector leaves the
//   tenant's namespace out, or a DatasetStore of another namespace: the controller says why, the
//   issuer refuses, and STS is never called;
// - the same with a forged Ready status (what a principal allowed to write datasetaccesses/status
//   could do), checked against the issuer's own authorization;
// - a process in the pod without the authorization file asking the sidecar for keys;
// - odd encodings in presigned keys, taken to the real store: every accepted key opens exactly the
//   object it names, inside the folder.
// Token replay after the pod was recreated with the same name (PodUidMismatch), deleted pods,
// other namespaces and audiences are held by test/issuer.lab.test.ts; list and presign escapes by
// test/issuer.lab.test.ts and test/sidecar.lab.test.ts.
import { PROVIDER_REGISTRY } from '../../src/providers/index.ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { AnyDatasetStore, ClusterDatasetStore, DatasetAccess, DatasetStore } from '../../src/api/v1alpha1/index.ts';
import { authorize } from '../../src/issuer/authorize.ts';
import { GrantSourceOverCaches } from '../../src/k8s/grants.ts';
import { renderGrant } from '../../src/policy/index.ts';
import { cleanEnv, SEED_OBJECTS, type RunResult } from '../lab/index.ts';
import { LAB_VALET_NAMESPACE } from '../lab/valet.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { G, leaks, metric, startWorld, stopAndListLeftovers } from '../lab/world.ts';
import type { SidecarProcess, World } from '../lab/world.ts';

const root = join(import.meta.dirname, '..', '..');
let w: World;
let sidecar: SidecarProcess;
let token: string;

const storeSpec = (lab: World['lab'], prefixes: string[]) => ({
  provider: 's3',
  bucket: lab.s3.bucket,
  region: lab.s3.region,
  endpoint: lab.s3.endpoint,
  stsEndpoint: lab.s3.endpoint,
  roleArn: lab.s3.roleArn,
  auth: { mode: 'secret', secretRef: { name: 'minio-issuer', namespace: LAB_VALET_NAMESPACE } },
  allowedPrefixes: prefixes,
  allowedVerbs: ['read', 'list', 'write', 'delete'],
  maxSessionDurationSeconds: 3600,
});

beforeAll(async () => {
  w = await startWorld({
    ns: 'team-a',
    accesses: {
      imagenet: { prefix: 'imagenet/', verbs: ['read', 'list'], presign: { enabled: true, maxExpirySeconds: 600 } },
      checkpoints: { prefix: 'checkpoints/', verbs: ['read', 'list', 'write'], presign: { enabled: true, maxExpirySeconds: 600 } },
    },
  });
  // Another team, with its own store, and a cluster store only that team may use.
  await w.lab.core.createNamespace({ body: { metadata: { name: 'team-b', labels: { team: 'team-b' } } } });
  await w.clients.customObjects.createNamespacedCustomObject({ ...G, namespace: 'team-b', plural: 'datasetstores', body: { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetStore', metadata: { name: 'private', namespace: 'team-b' }, spec: { ...storeSpec(w.lab, ['coco/', 'imagenet/']), auth: { mode: 'defaultChain' } } } });
  const shared = storeSpec(w.lab, ['coco/', 'imagenet/']);
  await w.clients.customObjects.createClusterCustomObject({
    ...G,
    plural: 'clusterdatasetstores',
    body: { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 'team-b-only' }, spec: { ...shared, namespaceSelector: { matchLabels: { team: 'team-b' } } } },
  });
  await w.createAccess('not-selected', { storeRef: { kind: 'ClusterDatasetStore', name: 'team-b-only' }, prefix: 'coco/' });
  await w.createAccess('other-ns-store', { storeRef: { kind: 'DatasetStore', name: 'private' }, prefix: 'coco/' });
  token = (await w.podToken('trainer-0')).token;
  sidecar = await w.spawnSidecar('trainer-1', ['--accesses=imagenet,checkpoints', '--default-access=imagenet']);
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

describe("a tenant's access naming a store its namespace may not use", () => {
  it('a ClusterDatasetStore whose namespaceSelector leaves the namespace out: NamespaceNotSelected, and the issuer refuses without calling STS', async () => {
    const ready = await w.waitFor('NamespaceNotSelected', async () => {
      const r = await w.readyOf('not-selected');
      return r?.reason === 'NamespaceNotSelected' ? r : undefined;
    });
    expect(ready.status).toBe('False');
    const before = w.stsCalls.length;
    const r = await w.call('POST', '/v1/keys', { token, body: JSON.stringify({ accesses: ['not-selected'] }) });
    expect(r.status).toBe(403);
    expect(r.json().error?.code).toBe('AccessNotReady');
    expect(r.json().error?.reasons?.[0]).toEqual({ access: 'team-a/not-selected', reason: 'NotReady', message: 'not Ready: NamespaceNotSelected' });
    // Asking for everything the pod may have gets the grants it has, and never this one.
    const all = await w.call('POST', '/v1/keys', { token });
    expect(all.status).toBe(200);
    expect((all.json().keys ?? []).map((k) => k.access).sort()).toEqual(['checkpoints', 'imagenet']);
    expect(w.stsCalls.slice(before).map((c) => c.roleSessionName)).toHaveLength(2);
    expect(w.stsCalls.slice(before).every((c) => !c.policy.includes('coco'))).toBe(true);
  });

  it("a DatasetStore of another namespace: StoreNotFound (stores resolve only in the access's namespace), and the issuer refuses without calling STS", async () => {
    await w.waitFor('StoreNotFound', async () => (await w.readyOf('other-ns-store'))?.reason === 'StoreNotFound');
    const before = w.stsCalls.length;
    const r = await w.call('POST', '/v1/keys', { token, body: JSON.stringify({ accesses: ['other-ns-store'] }) });
    expect(r.status).toBe(403);
    expect(r.json().error?.reasons?.[0]).toEqual({ access: 'team-a/other-ns-store', reason: 'NotReady', message: 'not Ready: StoreNotFound' });
    // Naming it with its namespace is not a name at all.
    const qualified = await w.call('POST', '/v1/keys', { token, body: JSON.stringify({ accesses: ['team-b/private'] }) });
    expect(qualified.status).toBe(400);
    expect(w.stsCalls.length).toBe(before);
  });
});

describe('a forged Ready status (written by a principal allowed to update datasetaccesses/status)', () => {
  // Pure: the issuer's authorize() over the same caches the informers fill, with a status that
  // claims Ready and carries the exact policy the issuer would render.
  const pod = { namespace: 'team-a', serviceAccount: 'trainer', podName: 'trainer-0', podUid: 'uid', labels: {} };
  const spec = { provider: 's3', bucket: 'datasets', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/valet', auth: { mode: 'defaultChain' }, allowedPrefixes: ['coco/'], allowedVerbs: ['read', 'list'], maxSessionDurationSeconds: 3600 } as DatasetStore['spec'];
  const teamBStore: DatasetStore = { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetStore', metadata: { name: 'private', namespace: 'team-b' }, spec };
  const clusterStore: ClusterDatasetStore = { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 'team-b-only' }, spec: { ...(spec as Omit<DatasetStore['spec'], 'azureBlob' | 'gcs'>), auth: { mode: 'defaultChain' }, namespaceSelector: { matchLabels: { team: 'team-b' } } } };
  const forged = (storeRef: DatasetAccess['spec']['storeRef'], store: AnyDatasetStore): DatasetAccess => {
    const a: DatasetAccess = {
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetAccess',
      metadata: { name: 'forged', namespace: 'team-a', generation: 1 },
      spec: { storeRef, prefix: 'coco/', verbs: ['read', 'list'], subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900 },
    };
    const rendered = renderGrant(store, a, PROVIDER_REGISTRY);
    if (!rendered.ok) throw new Error('the policy does not render');
    a.status = { observedGeneration: 1, store: `${store.kind}/${store.metadata.name}`, sessionPolicy: rendered.policy, conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    return a;
  };
  const grantsOver = (access: DatasetAccess) =>
    new GrantSourceOverCaches({
      caches: { accesses: (ns) => (ns === 'team-a' ? [access] : []), datasetStore: (ns, name) => (ns === 'team-b' && name === 'private' ? teamBStore : undefined), clusterStore: (name) => (name === 'team-b-only' ? clusterStore : undefined), namespaceLabels: (ns) => ({ team: ns }), overlappingClaims: () => [] },
      core: { readNamespacedSecret: () => Promise.reject(new Error('never read')) },
    });

  it('for a DatasetStore of another namespace: still refused, the issuer finds no such store in the namespace', () => {
    const access = forged({ kind: 'DatasetStore', name: 'private' }, teamBStore);
    const g = grantsOver(access);
    const auth = authorize(pod, g.accesses('team-a'), (a) => g.store(a), ['forged']);
    expect(auth.ok).toBe(false);
    expect(auth.refusals[0]).toMatchObject({ access: 'team-a/forged', reason: 'StoreNotFound' });
  });

  // Whoever can write datasetaccesses/status could forge Ready; the issuer checks the cluster
  // store's namespaceSelector against the namespace's labels itself.
  it('for a ClusterDatasetStore that does not select the namespace: refused by the issuer itself', () => {
    const access = forged({ kind: 'ClusterDatasetStore', name: 'team-b-only' }, clusterStore);
    const g = grantsOver(access);
    const auth = authorize(pod, g.accesses('team-a'), (a) => g.store(a), ['forged'], (ns) => g.namespaceLabels(ns));
    expect(auth.ok).toBe(false);
    expect(auth.refusals[0]).toMatchObject({ access: 'team-a/forged', reason: 'NamespaceNotSelected' });
    // The same forged access in the namespace the store does select is granted: the check is the selector.
    const selected = authorize({ ...pod, namespace: 'team-b' }, [{ ...access, metadata: { ...access.metadata, namespace: 'team-b' } }], (a) => g.store(a), ['forged'], (ns) => g.namespaceLabels(ns));
    expect(selected.ok).toBe(true);
  });
});

describe('a process in the pod without the authorization file', () => {
  const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  const uri = () => `http://127.0.0.1:${sidecar.port}/v1/credentials`;

  it('gets 401 and no key, whether it uses boto3, the JS SDK, plain HTTP, or guesses the value', async () => {
    const before = metric((await sidecar.get('/metrics', { metrics: true })).body, 'valet_sidecar_requests_total', 'status="401"');
    const env = cleanEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: uri(), AWS_REGION: w.lab.s3.region, AWS_ENDPOINT_URL_S3: w.lab.s3.endpoint });
    const boto = await w.lab.python('import boto3, sys\ntry:\n    boto3.client("s3").get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")\n    print("GOT A KEY")\nexcept Exception as e:\n    print("refused", type(e).__name__)', env, [w.lab.s3.bucket]);
    expect(boto.stdout.trim(), boto.stderr).toMatch(/^refused /);
    const js = await run(process.execPath, ['--input-type=module', '-e', `import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3'; try { await new S3Client({ forcePathStyle: true }).send(new GetObjectCommand({ Bucket: '${w.lab.s3.bucket}', Key: 'imagenet/a.bin' })); console.log('GOT A KEY'); } catch (e) { console.log('refused', e.name); }`], env);
    expect(js.stdout.trim(), js.stderr).toMatch(/^refused /);
    const plain = await run(process.execPath, ['-e', `fetch(${JSON.stringify(uri())}).then(async (r) => console.log(r.status, await r.text()))`], cleanEnv());
    expect(plain.stdout).toMatch(/^401 \{"error":\{"code":"Unauthorized"/);
    const guess = await w.lab.python('import boto3, sys\ntry:\n    boto3.client("s3").get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")\n    print("GOT A KEY")\nexcept Exception as e:\n    print("refused", type(e).__name__)', { ...env, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'guessed-value' }, [w.lab.s3.bucket]);
    expect(guess.stdout.trim()).toMatch(/^refused /);
    for (const out of [boto.stdout, js.stdout, plain.stdout, guess.stdout]) expect(out).not.toMatch(/AccessKeyId|GOT A KEY/);
    const after = metric((await sidecar.get('/metrics', { metrics: true })).body, 'valet_sidecar_requests_total', 'status="401"');
    process.stdout.write(`without the authorization file: boto3 ${boto.stdout.trim()}, JS SDK ${js.stdout.trim()}, plain HTTP 401, guessed value ${guess.stdout.trim()}; sidecar counted ${after - before} 401s\n`);
    expect(after - before).toBeGreaterThanOrEqual(4);
    // The same processes, given the file, get keys: the file is the whole difference.
    const withFile = await w.lab.python('import boto3, sys; print(boto3.client("s3").get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")["Body"].read().decode())', { ...env, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: sidecar.authTokenFile }, [w.lab.s3.bucket]);
    expect(withFile.stdout.trim(), withFile.stderr).toBe(SEED_OBJECTS['imagenet/a.bin']);
  });
});

describe('odd encodings in presigned keys, taken to the real store', () => {
  const ODD = ['checkpoints/a+b.bin', 'checkpoints/a b.bin', 'checkpoints/trailing space ', 'checkpoints/caf\u00e9.bin', 'checkpoints/日本/x.bin', "checkpoints/it's(1)!*.bin", 'checkpoints/100%.bin', 'checkpoints/%u002e%u002e/x', 'checkpoints/a\u2215..\u2215b', 'checkpoints/q?x=1#frag', 'checkpoints/semi;colon', 'checkpoints/~tilde'];

  it('every accepted key is stored under exactly its own name, inside the folder', async () => {
    for (const key of ODD) {
      const p = await sidecar.get(`/v1/presign?access=checkpoints&method=PUT&key=${encodeURIComponent(key)}`);
      expect(p.status, `${key}: ${p.body}`).toBe(200);
      const put = await fetch((JSON.parse(p.body) as { url: string }).url, { method: 'PUT', body: `body of ${key}` });
      expect(put.status, `${key}: ${await put.text()}`).toBe(200);
      const g = await sidecar.get(`/v1/presign?access=checkpoints&key=${encodeURIComponent(key)}`);
      expect(await (await fetch((JSON.parse(g.body) as { url: string }).url)).text()).toBe(`body of ${key}`);
    }
    const s3 = new S3Client({ region: w.lab.s3.region, endpoint: w.lab.s3.endpoint, forcePathStyle: true, credentials: w.lab.s3.root });
    try {
      const all = await s3.send(new ListObjectsV2Command({ Bucket: w.lab.s3.bucket }));
      const keys = (all.Contents ?? []).map((o) => o.Key ?? '');
      const created = keys.filter((k) => !(k in SEED_OBJECTS));
      expect(created.sort()).toEqual([...ODD].sort());
    } finally {
      s3.destroy();
    }
  });

  it('a dot segment padded with a space is refused before signing (a store that trims segments would read ..)', async () => {
    const p = await sidecar.get(`/v1/presign?access=imagenet&key=${encodeURIComponent('imagenet/.. /coco/a.bin')}`);
    expect(p.status).toBe(400);
    expect(p.body).not.toContain('X-Amz-Signature');
    expect(JSON.parse(p.body)).toMatchObject({ error: { code: 'KeyTraversal' } });
  });
});

describe('a pod granted by two accesses that names no default', () => {
  it('gets both keys, and the real issuer puts a NoDefaultAccess Warning Event on the pod; with the annotation, none', async () => {
    const plain = await w.podToken('two-grants');
    const r = await w.call('POST', '/v1/keys', { token: plain.token });
    expect(r.status).toBe(200);
    expect(r.json().keys?.map((k) => k.access).sort()).toEqual(['checkpoints', 'imagenet']);
    const events = await w.waitFor('the NoDefaultAccess Event', async () => {
      const list = await w.lab.core.listNamespacedEvent({ namespace: 'team-a', fieldSelector: 'involvedObject.name=two-grants' });
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(events.map((e) => [e.type, e.reason, e.involvedObject.uid])).toEqual([['Warning', 'NoDefaultAccess', plain.uid]]);
    expect(events[0]?.message).toContain('(checkpoints, imagenet) and names no default');

    await w.lab.core.createNamespacedPod({ namespace: 'team-a', body: { metadata: { name: 'named-default', annotations: { 'valet.dev/default-access': 'imagenet' } }, spec: { serviceAccountName: 'trainer', containers: [{ name: 'app', image: 'example.invalid/app:1' }] } } });
    const pod = await w.lab.core.readNamespacedPod({ namespace: 'team-a', name: 'named-default' });
    const token = await w.lab.token('team-a', 'trainer', { boundPod: { name: 'named-default', uid: pod.metadata?.uid ?? '' } });
    w.secrets.add(token);
    expect((await w.call('POST', '/v1/keys', { token })).status).toBe(200);
    // The Event for the first pod arrived above; this one is given the same chance, then counted.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await w.lab.core.listNamespacedEvent({ namespace: 'team-a', fieldSelector: 'involvedObject.name=named-default' })).items).toEqual([]);
  });
});

describe("a store whose long-term key sits in a tenant's namespace (ADR 0008)", () => {
  it("an old DatasetStore with a secretRef, or a ClusterDatasetStore naming a tenant's Secret: CredentialsOutsideValetNamespace saying what to change, and no key", async () => {
    // The old way: the issuer's key in a Secret in the tenant's namespace, where any pod can mount it.
    await w.lab.core.createNamespacedSecret({ namespace: 'team-a', body: { metadata: { name: 'old-issuer-key' }, stringData: { accessKeyId: w.lab.s3.issuer.accessKeyId, secretAccessKey: w.lab.s3.issuer.secretAccessKey } } });
    const tenantRef = { name: 'old-issuer-key' };
    await w.clients.customObjects.createNamespacedCustomObject({ ...G, namespace: 'team-a', plural: 'datasetstores', body: { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetStore', metadata: { name: 'old-style', namespace: 'team-a' }, spec: { ...storeSpec(w.lab, ['coco/']), auth: { mode: 'secret', secretRef: tenantRef } } } });
    await w.clients.customObjects.createClusterCustomObject({
      ...G,
      plural: 'clusterdatasetstores',
      body: { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 'tenant-secret' }, spec: { ...storeSpec(w.lab, ['coco/']), auth: { mode: 'secret', secretRef: { ...tenantRef, namespace: 'team-a' } }, namespaceSelector: { matchLabels: { team: 'team-a' } } } },
    });
    await w.createAccess('old-store', { storeRef: { kind: 'DatasetStore', name: 'old-style' }, prefix: 'coco/' });
    await w.createAccess('tenant-secret', { storeRef: { kind: 'ClusterDatasetStore', name: 'tenant-secret' }, prefix: 'coco/' });
    const before = w.stsCalls.length;
    for (const [name, fix] of [['old-store', 'ClusterDatasetStore'], ['tenant-secret', 'namespace']] as const) {
      await w.waitFor(`${name} reconciled`, async () => (await w.readyOf(name)) !== undefined);
      const a = (await w.clients.customObjects.getNamespacedCustomObject({ ...G, namespace: 'team-a', plural: 'datasetaccesses', name })) as DatasetAccess;
      const ready = a.status?.conditions?.find((c) => c.type === 'Ready');
      expect(ready, name).toMatchObject({ status: 'False', reason: 'CredentialsOutsideValetNamespace' });
      expect(ready?.message, name).toContain(`Valet's namespace "${LAB_VALET_NAMESPACE}"`);
      expect(ready?.message, name).toContain(fix);
      expect(ready?.message, `${name}: the Secret's name stays out of the status`).not.toContain('old-issuer-key');
      expect(a.status?.sessionPolicy, name).toBeUndefined();
      const reply = await w.call('POST', '/v1/keys', { token, body: JSON.stringify({ accesses: [name] }) });
      expect(reply.status, name).toBe(403);
      expect(reply.json().error?.reasons?.[0], name).toMatchObject({ access: `team-a/${name}`, reason: 'NotReady', message: 'not Ready: CredentialsOutsideValetNamespace' });
      expect(reply.body, name).not.toContain('old-issuer-key');
    }
    expect(w.stsCalls.length).toBe(before);
    const events = await w.lab.core.listNamespacedEvent({ namespace: 'team-a' });
    expect(events.items.filter((e) => e.message?.includes('CredentialsOutsideValetNamespace') || e.reason === 'NotReady').length).toBeGreaterThan(0);
    expect(events.items.map((e) => e.message ?? '').filter((m) => m.includes('old-issuer-key'))).toEqual([]);
  });

  it('even with a forged Ready status, the issuer refuses it and never reads a Secret outside its namespace', async () => {
    const store = (await w.clients.customObjects.getNamespacedCustomObject({ ...G, namespace: 'team-a', plural: 'datasetstores', name: 'old-style' })) as DatasetStore;
    const a: DatasetAccess = {
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetAccess',
      metadata: { name: 'forged-old', namespace: 'team-a', generation: 1 },
      spec: { storeRef: { kind: 'DatasetStore', name: 'old-style' }, prefix: 'coco/', verbs: ['read', 'list'], subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900 },
    };
    const rendered = renderGrant(store, a, PROVIDER_REGISTRY);
    if (!rendered.ok) throw new Error('the policy does not render');
    a.status = { observedGeneration: 1, store: 'DatasetStore/old-style', sessionPolicy: rendered.policy, conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    const reads: string[] = [];
    const g = new GrantSourceOverCaches({
      caches: { accesses: () => [a], datasetStore: () => store, clusterStore: () => undefined, namespaceLabels: () => ({ team: 'team-a' }), overlappingClaims: () => [] },
      core: { readNamespacedSecret: (p: { namespace: string; name: string }) => (reads.push(`${p.namespace}/${p.name}`), w.lab.core.readNamespacedSecret(p)) },
      valetNamespace: LAB_VALET_NAMESPACE,
    });
    const pod = { namespace: 'team-a', serviceAccount: 'trainer', podName: 'trainer-0', podUid: 'uid', labels: {} };
    const auth = authorize(pod, g.accesses('team-a'), (x) => g.store(x), ['forged-old'], (ns) => g.namespaceLabels(ns), { valetNamespace: g.valetNamespace });
    expect(auth.ok).toBe(false);
    expect(auth.refusals[0]).toMatchObject({ access: 'team-a/forged-old', reason: 'StoreForbids' });
    expect(auth.ok ? undefined : auth.error.code).toBe('StoreForbidsGrant');
    // And the credential read itself refuses, before any API call, whoever asks.
    await expect(g.storeCredentials(store)).rejects.toMatchObject({ code: 'StoreCredentialsUnavailable' });
    expect(reads).toEqual([]);
  });
});

// Last: it stops the controller for the rest of the suite.
describe('a store narrowed while the controller is down (the access keeps its Ready status)', () => {
  it('the issuer checks the store spec itself: StoreForbidsGrant for the verb, prefix or duration the store no longer allows, and no STS call', async () => {
    const selectTeamA = { namespaceSelector: { matchLabels: { team: 'team-a' } } };
    await w.clients.customObjects.createClusterCustomObject({
      ...G,
      plural: 'clusterdatasetstores',
      body: { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 'narrowing' }, spec: { ...storeSpec(w.lab, ['imagenet/', 'coco/']), ...selectTeamA } },
    });
    await w.createAccess('narrowed', { storeRef: { kind: 'ClusterDatasetStore', name: 'narrowing' }, prefix: 'coco/', verbs: ['read', 'write'], sessionDurationSeconds: 1800 });
    await w.waitFor('narrowed Ready', async () => (await w.readyOf('narrowed'))?.status === 'True');
    const first = await w.call('POST', '/v1/keys', { token, body: JSON.stringify({ accesses: ['narrowed'] }) });
    expect(first.status).toBe(200);

    await w.stopController();
    const steps: [string, Record<string, unknown>, string][] = [
      ['verbs', { allowedVerbs: ['read', 'list'] }, 'VerbNotAllowed'],
      ['prefixes', { allowedVerbs: ['read', 'write'], allowedPrefixes: ['imagenet/'] }, 'PrefixNotAllowed'],
      ['duration', { allowedPrefixes: ['coco/'], maxSessionDurationSeconds: 900 }, 'DurationTooLong'],
    ];
    for (const [what, patch, reason] of steps) {
      await w.clients.customObjects.patchClusterCustomObject({ ...G, plural: 'clusterdatasetstores', name: 'narrowing', body: [{ op: 'replace', path: '/spec', value: { ...storeSpec(w.lab, ['coco/']), ...selectTeamA, allowedVerbs: ['read', 'write'], ...patch } }] });
      const before = w.stsCalls.length;
      // Wait only for the issuer's cache to see the store; the verdict is asserted after.
      const reply = await w.waitFor(`the issuer sees the narrowed ${what}`, async () => {
        const r = await w.call('POST', '/v1/keys', { token, body: JSON.stringify({ accesses: ['narrowed'] }) });
        return r.status !== 200 && r;
      });
      expect(reply.status, what).toBe(403);
      expect(reply.json().error?.code, what).toBe('StoreForbidsGrant');
      expect(reply.json().error?.reasons?.[0], what).toMatchObject({ access: 'team-a/narrowed', reason: 'StoreForbids' });
      expect(reply.json().error?.reasons?.[0]?.message, what).toContain(reason);
      expect(w.stsCalls.length, what).toBe(before);
      // The status still says Ready: only the issuer's own check refused.
      expect(await w.readyOf('narrowed'), what).toEqual({ status: 'True', reason: 'Valid' });
    }
  });
});

describe('nothing lost, nothing leaked', () => {
  it('no secret in any log line of the suite', () => {
    w.secrets.add(sidecar.authToken());
    const texts = [...w.logLines, ...sidecar.lines].map((line) => ({ where: 'log', line }));
    expect(leaks(w.secrets, texts)).toEqual([]);
  });

  it('stops every process and removes every folder this suite made', async () => {
    const world = w;
    w = undefined as unknown as World;
    expect(await stopAndListLeftovers(world)).toEqual([]);
    expect(sidecar.child.exitCode !== null || sidecar.child.signalCode !== null).toBe(true);
  });
});
