// Local process, for speed; azureBlob and gcs have no node-backed suite yet (s3 has: test/node/training-job.lab.test.ts).
// The azureBlob and gcs providers end to end: stores whose signing keys sit in Secrets,
// DatasetAccess objects made Ready by the real controller, the real issuer (Valet's operator,
// started by the world kit as `valet operator` starts it) and a real sidecar (in-process), and a
// pod token from the real TokenRequest API.
// - azureBlob on the lab's Azurite, with @azure/storage-blob clients given only the URLs the
//   sidecar hands out. Every refusal "by Azurite" is Azurite's own answer to a request our SAS did
//   not open; refusals by Valet are asserted separately, by code.
// - gcs: no GCS server runs here, so each URL the issuer signs is compared byte for byte with what
//   @google-cloud/storage signs for the same inputs at the same instant (ADR 0006 says what that
//   does and does not prove).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Storage } from '@google-cloud/storage';
import { BlobClient, BlockBlobClient, ContainerClient, isRestError } from '@azure/storage-blob';
import { Registry } from 'prom-client';
import { parseSidecarConfig } from '../src/config/sidecar.ts';
import { createLogger } from '../src/platform/logger.ts';
import { startSidecar } from '../src/sidecar/index.ts';
import { signGcsUrl } from '../src/providers/gcs/sign.ts';
import type { Sidecar } from '../src/sidecar/index.ts';
import { seedAzurite } from './lab/azurite.ts';
import { SEED_OBJECTS, type AzureLab } from './lab/index.ts';
import { useLabLogs } from './lab/vitest.ts';
import { G, LAB_VALET_NAMESPACE, startWorld, waitFor, type World } from './lab/world.ts';

const NS = 'azure';
const EXTRA: Record<string, string> = {
  'imagenet/with space/shard é.bin': 'a name with a space and an accent',
  'checkpoints/seed.txt': 'an existing checkpoint',
};
const IMAGENET = Object.keys({ ...SEED_OBJECTS, ...EXTRA })
  .filter((k) => k.startsWith('imagenet/'))
  .sort();

let w: World;
let azure: AzureLab;
let sidecar: Sidecar;
let token: string;

const GCS_HOST = 'https://storage.example.internal:8443';
const GCS_EMAIL = 'valet-signer@valet-test.iam.gserviceaccount.com';
const GCS_HMAC = { accessId: 'GOOG1EVALETTESTHMACKEY', secret: 'bGFiLWhtYWMtc2VjcmV0LW5vdC1yZWFsLTAxMjM0NTY3' };
let gcsPem: string;

/** A ClusterDatasetStore that selects NS; its signing key sits in Valet's namespace (ADR 0008). */
async function createStore(name: string, spec: Record<string, unknown>): Promise<void> {
  await w.clients.customObjects.createClusterCustomObject({
    ...G,
    plural: 'clusterdatasetstores',
    body: { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name }, spec: { allowedPrefixes: ['imagenet/', 'checkpoints/'], maxSessionDurationSeconds: 3600, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } }, ...spec } },
  });
}

/** An access in NS for service account trainer, on the store `store`. */
const createAccess = (name: string, spec: Record<string, unknown>, store = 'blob') => w.createAccess(name, { storeRef: { kind: 'ClusterDatasetStore', name: store }, ...spec });

type AccessObject = { status?: { sessionPolicy?: string } };
const readAccess = async (name: string) => (await w.clients.customObjects.getNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', name })) as AccessObject;

interface Got {
  status: number;
  body: string;
  json: () => Record<string, unknown> & { error?: { code: string; message: string } };
}

async function local(path: string): Promise<Got> {
  const res = await fetch(`http://127.0.0.1:${sidecar.port}${path}`, { headers: { authorization: sidecar.authToken } });
  const body = await res.text();
  return { status: res.status, body, json: () => JSON.parse(body) as ReturnType<Got['json']> };
}

async function toIssuer(path: string, body: unknown): Promise<Got> {
  const res = await w.call('POST', path, { token, body: JSON.stringify(body) });
  return { status: res.status, body: res.body, json: () => JSON.parse(res.body) as ReturnType<Got['json']> };
}

/** A URL the sidecar signs for `key` (through the issuer). */
async function sas(access: string, key: string, method = 'GET', expires?: number): Promise<{ url: string; sas: string; containerUrl: string }> {
  const r = await local(`/v1/sas/${access}?key=${encodeURIComponent(key)}&method=${method}${expires ? `&expires=${expires}` : ''}`);
  expect(r.status, r.body).toBe(200);
  return r.json() as unknown as { url: string; sas: string; containerUrl: string };
}

/** Azure's answer to a request, as status and error code (the header: a HEAD has no body). */
async function azureRefusal(p: Promise<unknown>): Promise<{ status: number; code: string | undefined }> {
  try {
    await p;
  } catch (err) {
    if (!isRestError(err)) throw err;
    const code = err.code ?? err.response?.headers.get('x-ms-error-code') ?? undefined;
    return { status: err.statusCode ?? 0, code };
  }
  throw new Error('Azurite accepted a request it should have refused');
}

beforeAll(async () => {
  // The world: the lab with Azurite (no MinIO), the CRDs, NS with service account trainer, and the
  // operator; the stores are this suite's own.
  w = await startWorld({ lab: { minio: false, azurite: true }, ns: NS, store: false });
  if (!w.lab.azure) throw new Error('startWorld({ lab: { azurite: true } }) returned no azure');
  azure = w.lab.azure;
  await seedAzurite(azure, azure.container, EXTRA);
  await w.lab.core.createNamespacedSecret({ namespace: LAB_VALET_NAMESPACE, body: { metadata: { name: 'azurite-key' }, stringData: { accountKey: azure.accountKey } } });
  await createStore('blob', {
    provider: 'azureBlob',
    azureBlob: { accountName: azure.accountName, container: azure.container, endpoint: azure.endpoint, auth: { mode: 'accountKey', secretRef: { name: 'azurite-key', namespace: LAB_VALET_NAMESPACE } } },
    allowedVerbs: ['read', 'list', 'write', 'delete'],
  });
  await createAccess('imagenet', { prefix: 'imagenet/', verbs: ['read', 'list'], presign: { maxExpirySeconds: 600 } });
  await createAccess('checkpoints', { prefix: 'checkpoints/', verbs: ['read', 'list', 'write', 'delete'] });
  await createAccess('readonly', { prefix: 'imagenet/', verbs: ['read'] });

  // gcs: one store signing with a service-account JSON key, one with an HMAC key.
  gcsPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const saJson = JSON.stringify({ type: 'service_account', client_email: GCS_EMAIL, private_key: gcsPem });
  await w.lab.core.createNamespacedSecret({ namespace: LAB_VALET_NAMESPACE, body: { metadata: { name: 'gcs-sa' }, stringData: { 'key.json': saJson } } });
  await w.lab.core.createNamespacedSecret({ namespace: LAB_VALET_NAMESPACE, body: { metadata: { name: 'gcs-hmac' }, stringData: GCS_HMAC } });
  await createStore('gcs', { provider: 'gcs', gcs: { bucket: 'valet-datasets', endpoint: GCS_HOST, auth: { mode: 'serviceAccountKey', secretRef: { name: 'gcs-sa', namespace: LAB_VALET_NAMESPACE } } }, allowedVerbs: ['read', 'write'] });
  await createStore('gcs-hmac', { provider: 'gcs', gcs: { bucket: 'valet-datasets', auth: { mode: 'hmac', secretRef: { name: 'gcs-hmac', namespace: LAB_VALET_NAMESPACE } } }, allowedVerbs: ['read'] });
  await createAccess('gcs-read', { prefix: 'imagenet/', verbs: ['read'], presign: { maxExpirySeconds: 600 } }, 'gcs');
  await createAccess('gcs-write', { prefix: 'checkpoints/', verbs: ['read', 'write'] }, 'gcs');
  await createAccess('gcs-hmac', { prefix: 'imagenet/', verbs: ['read'] }, 'gcs-hmac');
  for (const name of ['imagenet', 'checkpoints', 'readonly', 'gcs-read', 'gcs-write', 'gcs-hmac']) await w.waitReady(name);

  token = (await w.podToken('trainer-0')).token;
  writeFileSync(join(w.dir, 'token'), token);
  sidecar = await startSidecar(
    parseSidecarConfig([`--issuer-url=${w.issuer.url}`, `--issuer-ca-file=${w.issuer.caFile}`, `--token-file=${join(w.dir, 'token')}`, `--auth-token-file=${join(w.dir, 'auth-token')}`, '--port=0', '--metrics-address=127.0.0.1:0', '--accesses=imagenet,checkpoints,readonly,gcs-read,gcs-write,gcs-hmac']),
    { logger: createLogger({ level: 'debug', write: (l) => w.logLines.push(l), bindings: { sidecar: 'main' } }), registry: new Registry() },
  );
});

afterAll(async () => {
  await sidecar?.close();
  await w?.stop();
});
useLabLogs(() => w);

describe('the controller on an azureBlob store', () => {
  it('makes the access Ready and writes the per-blob SAS scope to status', async () => {
    const a = await readAccess('imagenet');
    expect(JSON.parse(a.status?.sessionPolicy ?? '{}')).toEqual({
      provider: 'azureBlob',
      resource: 'blob',
      account: azure.accountName,
      container: azure.container,
      prefix: 'imagenet/',
      permissions: 'r',
      list: true,
      protocol: 'https,http',
    });
    expect(JSON.parse((await readAccess('checkpoints')).status?.sessionPolicy ?? '{}')).toMatchObject({ permissions: 'rcwd', list: true });
  });

  it('refuses a prefix outside the store and says why', async () => {
    await createAccess('outside', { prefix: 'imagenet-private/', verbs: ['read'] });
    expect((await w.waitReady('outside', 'False')).reason).toBe('PrefixNotAllowed');
  });
});

describe('a pod with an azureBlob access', () => {
  it('gets credential-less grants from /v1/keys, and the sidecar is ready on them', async () => {
    const r = await toIssuer('/v1/keys', { accesses: ['imagenet'] });
    expect(r.status, r.body).toBe(200);
    const [key] = (r.json() as unknown as { keys: Record<string, unknown>[] }).keys;
    expect(key).toMatchObject({ provider: 'azureBlob', access: 'imagenet', bucket: azure.container, prefix: 'imagenet/', endpoint: azure.endpoint, presign: { enabled: true, maxExpirySeconds: 600 } });
    expect(key).not.toHaveProperty('credentials');
    expect(sidecar.cache.ready()).toBe(true);
    const c = await local('/v1/credentials/imagenet');
    expect(c.status).toBe(409);
    expect(c.json().error?.code).toBe('WrongProvider');
  });

  it('reads every blob inside the prefix with @azure/storage-blob and the SAS the sidecar hands out', async () => {
    const all: Record<string, string> = { ...SEED_OBJECTS, ...EXTRA };
    for (const key of IMAGENET) {
      const s = await sas('imagenet', key);
      expect(s.url.startsWith(`${s.containerUrl}/`)).toBe(true);
      const got = await new BlobClient(s.url).downloadToBuffer();
      expect(got.toString('utf8'), key).toBe(all[key]);
      // The same token with the container URL, as an SDK user would assemble it.
      const viaContainer = new ContainerClient(`${s.containerUrl}?${s.sas}`).getBlobClient(key);
      expect((await viaContainer.downloadToBuffer()).toString('utf8')).toBe(all[key]);
    }
  });

  it('lists inside the prefix through the sidecar, and nothing outside it', async () => {
    const r = await local('/v1/list/imagenet');
    expect(r.status, r.body).toBe(200);
    const keys = (r.json().objects as { key: string; size: number }[]).map((o) => o.key).sort();
    expect(keys).toEqual(IMAGENET);
    const sub = await local(`/v1/list/imagenet?prefix=${encodeURIComponent('imagenet/train/')}`);
    expect((sub.json().objects as { key: string }[]).map((o) => o.key)).toEqual(['imagenet/train/0000.tar']);
    for (const prefix of ['imagenet-private/', 'coco/', 'imagenet/../coco/']) {
      const out = await local(`/v1/list/imagenet?prefix=${encodeURIComponent(prefix)}`);
      expect(out.status, prefix).toBe(403);
      expect(out.json().error?.code, prefix).toBe('ObjectOutsideGrant');
    }
    const noList = await local('/v1/list/readonly');
    expect(noList.status).toBe(403);
    expect(noList.json().error?.code).toBe('VerbNotGranted');
  });

  it('is refused by Azurite when it lists the container, or reads outside the prefix, with any SAS it holds', async () => {
    const s = await sas('imagenet', 'imagenet/a.bin');
    const listing = await azureRefusal(new ContainerClient(`${s.containerUrl}?${s.sas}`).listBlobsFlat().next());
    expect(listing.status).toBe(403);
    for (const other of ['imagenet-private/a.bin', 'coco/a.bin', 'imagenet/b.bin']) {
      const moved = await azureRefusal(new ContainerClient(`${s.containerUrl}?${s.sas}`).getBlobClient(other).downloadToBuffer());
      expect(moved.status, other).toBe(403);
    }
  });

  it('gets no SAS for a blob outside the prefix, from the sidecar or from the issuer', async () => {
    for (const key of ['imagenet-private/a.bin', 'coco/a.bin', 'imagenet/../coco/a.bin', '/imagenet/a.bin', 'imagenet/']) {
      const r = await local(`/v1/sas/imagenet?key=${encodeURIComponent(key)}`);
      expect([400, 403], `${key}: ${r.body}`).toContain(r.status);
      expect(r.body).not.toContain('sig=');
    }
    // The issuer checks again, and one bad key refuses the whole batch.
    const batch = await toIssuer('/v1/sign', { access: 'imagenet', method: 'GET', keys: ['imagenet/a.bin', 'imagenet-private/a.bin'] });
    expect(batch.status).toBe(403);
    expect(batch.json().error?.code).toBe('ObjectOutsideGrant');
    expect(batch.body).not.toContain('sig=');
  });

  it('cannot write with a read-only access: the sidecar refuses PUT, and Azurite refuses an upload on a read SAS', async () => {
    const put = await local(`/v1/sas/imagenet?key=${encodeURIComponent('imagenet/new.bin')}&method=PUT`);
    expect(put.status).toBe(403);
    expect(put.json().error?.code).toBe('VerbNotGranted');
    const viaIssuer = await toIssuer('/v1/sign', { access: 'imagenet', method: 'PUT', keys: ['imagenet/new.bin'] });
    expect(viaIssuer.json().error?.code).toBe('VerbNotGranted');
    const read = await sas('imagenet', 'imagenet/new.bin');
    const refused = await azureRefusal(new BlockBlobClient(read.url).upload('x', 1));
    expect(refused.status).toBe(403);
    expect(refused.code).toBe('AuthorizationPermissionMismatch');
  });

  it('writes, reads back and deletes with a write/delete access, each URL opening only its own verb', async () => {
    const key = 'checkpoints/step-100/model.pt';
    const w = await sas('checkpoints', key, 'PUT');
    expect(new URL(w.url).searchParams.get('sp')).toBe('cw');
    await new BlockBlobClient(w.url).upload('weights', 7);
    const r = await sas('checkpoints', key);
    expect((await new BlobClient(r.url).downloadToBuffer()).toString()).toBe('weights');
    expect((await azureRefusal(new BlobClient(r.url).delete())).status).toBe(403);
    const d = await sas('checkpoints', key, 'DELETE');
    expect(new URL(d.url).searchParams.get('sp')).toBe('d');
    await new BlobClient(d.url).delete();
    expect((await azureRefusal(new BlobClient(r.url).downloadToBuffer())).status).toBe(404);
  });

  it('is refused by Azurite once the SAS expires, or when it is tampered with', async () => {
    const s = await sas('imagenet', 'imagenet/a.bin', 'GET', 1);
    const se = Date.parse(new URL(s.url).searchParams.get('se') ?? '');
    expect(se - Date.now()).toBeLessThanOrEqual(1000);
    // Tampered: the expiry pushed out, or read turned into read-write, with the signature unchanged.
    for (const [param, value] of [
      ['se', '2099-01-01T00:00:00Z'],
      ['sp', 'rw'],
    ] as const) {
      const u = new URL(s.url);
      u.searchParams.set(param, value);
      expect((await azureRefusal(new BlobClient(u.toString()).downloadToBuffer())).status, param).toBe(403);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, se - Date.now()) + 1100));
    expect((await azureRefusal(new BlobClient(s.url).downloadToBuffer())).status).toBe(403);
  });

  it('caps the lifetime of a URL at the access maximum', async () => {
    const r = await local(`/v1/sas/imagenet?key=${encodeURIComponent('imagenet/a.bin')}&expires=86400`);
    const se = Date.parse(new URL(String(r.json().url)).searchParams.get('se') ?? '');
    expect(se - Date.now()).toBeLessThanOrEqual(600_000);
    expect(se - Date.now()).toBeGreaterThan(590_000);
  });

  it('streams a manifest of working signed URLs for every blob under the prefix', async () => {
    const r = await local('/v1/manifest/imagenet');
    expect(r.status, r.body).toBe(200);
    const entries = r.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; url: string; size: number });
    expect(entries.map((e) => e.key).sort()).toEqual(IMAGENET);
    const sample = entries.find((e) => e.key === 'imagenet/with space/shard é.bin');
    expect((await new BlobClient(sample?.url ?? '').downloadToBuffer()).toString()).toBe(EXTRA['imagenet/with space/shard é.bin']);
  });

  it('loses the grant when the access is deleted: the issuer refuses at once, the sidecar drops it on refresh', async () => {
    await w.clients.customObjects.deleteNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', name: 'readonly' });
    await waitFor('issuer refuses readonly', async () => (await toIssuer('/v1/sign', { access: 'readonly', method: 'GET', keys: ['imagenet/a.bin'] })).status === 403);
    await sidecar.cache.refreshAll();
    const r = await local(`/v1/sas/readonly?key=${encodeURIComponent('imagenet/a.bin')}`);
    expect(r.status).toBe(503);
    expect(r.json().error?.code).toBe('KeyRefused');
  });

  it('counts signed URLs by provider, and never logs the account key or a signature', async () => {
    const text = await w.operatorMetrics();
    expect(text).toMatch(/valet_issuer_urls_signed_total\{provider="azureBlob",store="ClusterDatasetStore\/blob",method="GET"\} [1-9]/);
    const all = w.logLines.join('\n');
    expect(all).toContain('urls signed');
    // The audit line names the objects it signed for (issue #16), never their URLs.
    const signed = w.logLines.map((l) => JSON.parse(l) as { msg?: string; objectKeys?: string[] }).filter((l) => l.msg === 'urls signed');
    expect(signed.some((l) => l.objectKeys?.includes('imagenet/a.bin'))).toBe(true);
    expect(all).not.toContain(azure.accountKey);
    expect(all).not.toMatch(/sig=/);
  });
});

/** The instant a V4 URL was signed (its X-Goog-Date, 20261127T213943Z), in ms. */
function signedAt(url: string): number {
  const d = new URL(url).searchParams.get('X-Goog-Date') ?? '';
  return Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
}

/** @google-cloud/storage's URL for the same inputs, at the instant the issuer signed (X-Goog-Date). */
async function officialGcsUrl(url: string, key: string, action: 'read' | 'write', expiresSeconds: number): Promise<string> {
  const at = signedAt(url);
  vi.useFakeTimers({ toFake: ['Date'], now: at });
  try {
    const storage = new Storage({ projectId: 'valet-test', credentials: { client_email: GCS_EMAIL, private_key: gcsPem }, apiEndpoint: GCS_HOST });
    const [signed] = await storage.bucket('valet-datasets').file(key).getSignedUrl({ version: 'v4', action, expires: at + expiresSeconds * 1000 });
    return signed;
  } finally {
    vi.useRealTimers();
  }
}

describe('a pod with a gcs access', () => {
  it('has the signed-URL scope in status', async () => {
    expect(JSON.parse((await readAccess('gcs-write')).status?.sessionPolicy ?? '{}')).toEqual({
      provider: 'gcs',
      bucket: 'valet-datasets',
      prefix: 'checkpoints/',
      methods: ['GET', 'HEAD', 'PUT'],
      algorithm: 'GOOG4-RSA-SHA256',
      host: 'storage.example.internal:8443',
    });
    expect(JSON.parse((await readAccess('gcs-hmac')).status?.sessionPolicy ?? '{}')).toMatchObject({ algorithm: 'GOOG4-HMAC-SHA256', host: 'storage.googleapis.com', methods: ['GET', 'HEAD'] });
  });

  it('gets V4 URLs through the sidecar that equal @google-cloud/storage\'s own, byte for byte', async () => {
    const cases: [string, string, 'GET' | 'PUT', number][] = [
      ['gcs-read', 'imagenet/a.bin', 'GET', 600],
      ['gcs-read', 'imagenet/with space/shard é.bin', 'GET', 300],
      ['gcs-write', 'checkpoints/step 1/model?.pt', 'PUT', 900],
    ];
    for (const [access, key, method, expires] of cases) {
      const r = await local(`/v1/presign?access=${access}&key=${encodeURIComponent(key)}&method=${method}&expires=${expires}`);
      expect(r.status, r.body).toBe(200);
      const url = String(r.json().url);
      expect(url.startsWith(`${GCS_HOST}/valet-datasets/`)).toBe(true);
      // The sidecar may shorten the lifetime (never past the grant); the library signs the same one.
      const lifetime = Number(new URL(url).searchParams.get('X-Goog-Expires'));
      expect(lifetime).toBeLessThanOrEqual(expires);
      expect(lifetime).toBeGreaterThan(expires - 120);
      expect(url).toBe(await officialGcsUrl(url, key, method === 'GET' ? 'read' : 'write', lifetime));
    }
  });

  it('signs with the HMAC key in the GOOG4-HMAC form', async () => {
    const r = await local(`/v1/presign?access=gcs-hmac&key=${encodeURIComponent('imagenet/a.bin')}&expires=120`);
    expect(r.status, r.body).toBe(200);
    const url = String(r.json().url);
    const q = new URL(url).searchParams;
    expect(q.get('X-Goog-Algorithm')).toBe('GOOG4-HMAC-SHA256');
    expect(q.get('X-Goog-Credential')?.startsWith(`${GCS_HMAC.accessId}/`)).toBe(true);
    const at = signedAt(url);
    expect(url).toBe(signGcsUrl({ credentials: { kind: 'hmac', ...GCS_HMAC }, bucket: 'valet-datasets', key: 'imagenet/a.bin', method: 'GET', expiresSeconds: 120, now: at }));
  });

  it('is refused outside its grant: other prefixes, writes on a read access, listing, and the Azure-only routes', async () => {
    const outside = await local(`/v1/presign?access=gcs-read&key=${encodeURIComponent('imagenet-private/a.bin')}`);
    expect(outside.status).toBe(403);
    const write = await toIssuer('/v1/sign', { access: 'gcs-read', method: 'PUT', keys: ['imagenet/x.bin'] });
    expect(write.json().error?.code).toBe('VerbNotGranted');
    const del = await toIssuer('/v1/sign', { access: 'gcs-write', method: 'DELETE', keys: ['checkpoints/x.bin'] });
    expect(del.json().error?.code).toBe('VerbNotGranted');
    const list = await toIssuer('/v1/list', { access: 'gcs-read' });
    expect(list.status).toBe(409);
    expect(list.json().error?.code).toBe('WrongProvider');
    expect((await local('/v1/sas/gcs-read?key=imagenet/a.bin')).json().error?.code).toBe('WrongProvider');
    expect((await local('/v1/credentials/gcs-read')).json().error?.code).toBe('WrongProvider');
    const s3Route = await toIssuer('/v1/sign', { access: 'gcs-read', method: 'GET', keys: ['imagenet/a.bin'] });
    expect(s3Route.status).toBe(200);
    expect(w.logLines.join('\n')).not.toContain('PRIVATE KEY');
    expect(w.logLines.join('\n')).not.toContain(GCS_HMAC.secret);
  });
});
