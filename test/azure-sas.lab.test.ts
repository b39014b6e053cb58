// Per-blob service SAS against a real Azurite: a pod holding only URLs from signBlobSas reaches
// exactly the blob and the verbs each URL names, and the issuer's own listing stays inside the
// prefix. Every refusal asserted here is Azurite's answer (status and error code), not ours.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnonymousCredential, BlobClient, BlockBlobClient, ContainerClient, isRestError } from '@azure/storage-blob';
import { AzureBlobError, listBlobPage, signBlobSas, type AzureAccount } from '../src/providers/azure-blob/sas.ts';
import { seedAzurite } from './lab/azurite.ts';
import { SEED_OBJECTS, type AzureLab } from './lab/index.ts';
import { useLabLogs } from './lab/vitest.ts';
import { startWorld, type World } from './lab/world.ts';

let w: World;
let azure: AzureLab;
let account: AzureAccount;

const BINARY = randomBytes(64 * 1024 + 7);
/** Added to the lab's seed (SEED_OBJECTS, the same as in the S3 bucket). */
const EXTRA: Record<string, string | Buffer> = {
  'imagenet/with space/shard 0.bin': 'a name with spaces',
  'imagenet/unicodé/日本語/ファイル 🙂.bin': 'a name in Unicode',
  'imagenet/odd#name?x=1&y=%20;.bin': 'a name with URL syntax in it',
  "imagenet/punct!'()*+,@$~.bin": 'a name with punctuation',
  'imagenet/binary.bin': BINARY,
  'imagenet-private/secret.txt': 'private: never readable with an imagenet key',
  'other/x.txt': 'outside every prefix',
};
const ALL: Record<string, string | Buffer> = { ...SEED_OBJECTS, ...EXTRA };
const IMAGENET = Object.keys(ALL).filter((n) => n.startsWith('imagenet/'));

const bytes = (v: string | Buffer) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v);

beforeAll(async () => {
  // Azurite alone: no Kubernetes, no MinIO, no operator (signBlobSas is the unit under test).
  w = await startWorld({ lab: { kube: false, minio: false, azurite: true } });
  if (!w.lab.azure) throw new Error('startWorld({ lab: { azurite: true } }) returned no azure');
  azure = w.lab.azure;
  account = { accountName: azure.accountName, accountKey: azure.accountKey, endpoint: azure.endpoint };
  await seedAzurite(azure, azure.container, EXTRA);
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

/** A SAS URL valid from a minute ago for an hour (Azurite runs on this machine's clock). */
function sas(blob: string, permissions: string, times: { startsOn?: Date; expiresOn?: Date } = {}): string {
  const now = Date.now();
  return signBlobSas({
    account,
    container: azure.container,
    blob,
    permissions,
    startsOn: times.startsOn ?? new Date(now - 60_000),
    expiresOn: times.expiresOn ?? new Date(now + 3_600_000),
  }).url;
}

/** A pod's client: the URL alone, no credential. */
const blobAt = (url: string) => new BlobClient(url, new AnonymousCredential());
const blockBlobAt = (url: string) => new BlockBlobClient(url, new AnonymousCredential());

/** Azurite's refusal: the HTTP status and its error code. Fails if Azurite accepted. */
async function refusal(op: Promise<unknown>): Promise<{ status: number | undefined; code: string | undefined }> {
  try {
    await op;
  } catch (err) {
    // A refused HEAD (getProperties, and downloadToBuffer's first request) has no body: its code is in x-ms-error-code.
    if (isRestError(err)) return { status: err.statusCode, code: err.code ?? err.response?.headers.get('x-ms-error-code') };
    throw err;
  }
  throw new Error('Azurite accepted a request it should have refused');
}

/** The same URL with one SAS parameter changed. */
function withParam(url: string, name: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.toString();
}

describe('reading with a read SAS', () => {
  it('downloads the exact bytes of every blob under the prefix, odd names included', async () => {
    for (const name of IMAGENET) {
      const got = await blobAt(sas(name, 'r')).downloadToBuffer();
      expect(got.equals(bytes(ALL[name] ?? '')), name).toBe(true);
    }
  });

  it('works as a plain HTTP GET too (what HTTP data loaders do)', async () => {
    for (const name of ['imagenet/unicodé/日本語/ファイル 🙂.bin', 'imagenet/odd#name?x=1&y=%20;.bin', 'imagenet/binary.bin']) {
      const res = await fetch(sas(name, 'r'));
      expect(res.status, name).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes(ALL[name] ?? '')), name).toBe(true);
    }
  });

  it('does not open another blob when its path is swapped in under the same query', async () => {
    const url = new URL(sas('imagenet/a.bin', 'r'));
    for (const other of ['imagenet/b.bin', 'imagenet-private/secret.txt', 'imagenet-private/a.bin', 'other/x.txt']) {
      const swapped = new URL(url);
      swapped.pathname = url.pathname.replace(/imagenet\/a\.bin$/, other);
      expect(swapped.pathname.endsWith(other)).toBe(true);
      // Azurite answers a signature that does not match the resource with 403 AuthorizationFailure
      // (Azure itself says AuthenticationFailed).
      expect(await refusal(blobAt(swapped.toString()).downloadToBuffer()), other).toEqual({ status: 403, code: 'AuthorizationFailure' });
      const res = await fetch(swapped);
      expect(res.status).toBe(403);
      expect(res.headers.get('x-ms-error-code')).toBe('AuthorizationFailure');
    }
  });
});

describe('writing and deleting', () => {
  it('refuses a write with a read-only SAS, on a new blob and over an existing one', async () => {
    for (const name of ['imagenet/new-with-r.bin', 'imagenet/a.bin']) {
      expect(await refusal(blockBlobAt(sas(name, 'r')).upload('x', 1)), name).toEqual({ status: 403, code: 'AuthorizationPermissionMismatch' });
    }
    expect(await refusal(blobAt(sas('imagenet/new-with-r.bin', 'r')).getProperties())).toMatchObject({ status: 404 });
    expect((await blobAt(sas('imagenet/a.bin', 'r')).downloadToBuffer()).toString()).toBe(SEED_OBJECTS['imagenet/a.bin']);
  });

  it('writes with "cw" and the blob reads back', async () => {
    const name = 'imagenet/checkpoints/step 100.ckpt';
    const body = randomBytes(4096);
    await blockBlobAt(sas(name, 'cw')).upload(body, body.length);
    expect((await blobAt(sas(name, 'r')).downloadToBuffer()).equals(body)).toBe(true);
    // ...and "cw" overwrites.
    await blockBlobAt(sas(name, 'cw')).upload('second', 6);
    expect((await blobAt(sas(name, 'r')).downloadToBuffer()).toString()).toBe('second');
    // The write SAS does not read.
    expect(await refusal(blobAt(sas(name, 'cw')).downloadToBuffer())).toEqual({ status: 403, code: 'AuthorizationPermissionMismatch' });
  });

  it('creates but does not overwrite with "c" alone', async () => {
    const name = 'imagenet/checkpoints/write-once.ckpt';
    await blockBlobAt(sas(name, 'c')).upload('first', 5);
    expect(await refusal(blockBlobAt(sas(name, 'c')).upload('again', 5))).toEqual({ status: 403, code: 'AuthorizationPermissionMismatch' });
    expect((await blobAt(sas(name, 'r')).downloadToBuffer()).toString()).toBe('first');
  });

  it('refuses a delete with "r" and deletes with "d"', async () => {
    const name = 'imagenet/to delete.bin';
    await seedAzurite(azure, azure.container, { [name]: 'doomed' });
    expect(await refusal(blobAt(sas(name, 'r')).delete())).toEqual({ status: 403, code: 'AuthorizationPermissionMismatch' });
    expect(await refusal(blobAt(sas(name, 'cw')).delete())).toEqual({ status: 403, code: 'AuthorizationPermissionMismatch' });
    expect((await blobAt(sas(name, 'r')).downloadToBuffer()).toString()).toBe('doomed');
    await blobAt(sas(name, 'd')).delete();
    expect(await refusal(blobAt(sas(name, 'r')).getProperties())).toMatchObject({ status: 404 });
  });
});

describe('time and tampering', () => {
  it('refuses an expired SAS and one that is not valid yet', async () => {
    const now = Date.now();
    const expired = sas('imagenet/a.bin', 'r', { startsOn: new Date(now - 2 * 3_600_000), expiresOn: new Date(now - 3_600_000) });
    expect(await refusal(blobAt(expired).downloadToBuffer())).toEqual({ status: 403, code: 'AuthorizationFailure' });
    const early = sas('imagenet/a.bin', 'r', { startsOn: new Date(now + 3_600_000), expiresOn: new Date(now + 2 * 3_600_000) });
    expect(await refusal(blobAt(early).downloadToBuffer())).toEqual({ status: 403, code: 'AuthorizationFailure' });
  });

  it('refuses a SAS whose signature, expiry or permissions were changed', async () => {
    const url = sas('imagenet/a.bin', 'r');
    const params = new URL(url).searchParams;
    const sig = params.get('sig') ?? '';
    const flipped = (sig[5] === 'A' ? 'B' : 'A');
    const tampered = {
      'one character of sig': withParam(url, 'sig', `${sig.slice(0, 5)}${flipped}${sig.slice(6)}`),
      'se a day later': withParam(url, 'se', new Date(Date.parse(params.get('se') ?? '') + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z')),
      'st an hour earlier': withParam(url, 'st', new Date(Date.parse(params.get('st') ?? '') - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z')),
      'sp r to rw': withParam(url, 'sp', 'rw'),
      'sp r to racwd': withParam(url, 'sp', 'racwd'),
      'sr b to c': withParam(url, 'sr', 'c'),
    };
    for (const [what, t] of Object.entries(tampered)) {
      expect(t, what).not.toBe(url);
      expect(await refusal(blobAt(t).downloadToBuffer()), what).toEqual({ status: 403, code: 'AuthorizationFailure' });
    }
    // The widened permissions do not write either.
    expect(await refusal(blockBlobAt(tampered['sp r to rw']).upload('x', 1))).toEqual({ status: 403, code: 'AuthorizationFailure' });
    expect(await refusal(blobAt(tampered['sp r to racwd']).delete())).toEqual({ status: 403, code: 'AuthorizationFailure' });
    expect((await blobAt(url).downloadToBuffer()).toString()).toBe(SEED_OBJECTS['imagenet/a.bin']);
  });
});

describe('listing', () => {
  it('a blob SAS on the container URL cannot list, whatever its permissions', async () => {
    for (const permissions of ['r', 'racwd']) {
      const query = new URL(sas('imagenet/a.bin', permissions)).search;
      const container = new ContainerClient(`${azure.endpoint}/${azure.container}${query}`, new AnonymousCredential());
      expect(await refusal(container.listBlobsFlat({ prefix: 'imagenet/' }).byPage().next()), permissions).toEqual({ status: 403, code: 'AuthorizationFailure' });
      expect(await refusal(container.listBlobsFlat().byPage().next()), permissions).toEqual({ status: 403, code: 'AuthorizationFailure' });
    }
  });

  it('listBlobPage lists exactly the blobs under imagenet/, not imagenet-private/', async () => {
    const page = await listBlobPage(account, azure.container, 'imagenet/', {});
    expect(page.continuationToken).toBeUndefined();
    const names = page.blobs.map((b) => b.name);
    // Other tests in this file add blobs under imagenet/checkpoints/; the seeded ones are all there.
    expect(names.filter((n) => !n.startsWith('imagenet/checkpoints/')).sort()).toEqual([...IMAGENET].sort());
    for (const b of page.blobs) {
      expect(b.name.startsWith('imagenet/')).toBe(true);
      const seeded = ALL[b.name];
      if (seeded !== undefined) expect(b.size, b.name).toBe(bytes(seeded).length);
      expect(Number.isNaN(Date.parse(b.lastModified))).toBe(false);
      expect(b.etag).toMatch(/\S/);
    }
    const priv = await listBlobPage(account, azure.container, 'imagenet-private/', {});
    expect(priv.blobs.map((b) => b.name).sort()).toEqual(['imagenet-private/a.bin', 'imagenet-private/secret.txt']);
  });

  it('pages with maxResults and a continuation token', async () => {
    const all = (await listBlobPage(account, azure.container, 'imagenet/', {})).blobs.map((b) => b.name);
    expect(all.length).toBeGreaterThan(4);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await listBlobPage(account, azure.container, 'imagenet/', { maxResults: 2, continuationToken: token });
      pages++;
      expect(page.blobs.length).toBeLessThanOrEqual(2);
      if (pages === 1) expect(page.continuationToken).toMatch(/\S/);
      seen.push(...page.blobs.map((b) => b.name));
      token = page.continuationToken;
    } while (token && pages < 100);
    expect(token).toBeUndefined();
    expect(pages).toBe(Math.ceil(all.length / 2));
    expect(seen).toEqual(all);
  });

  it('reports a refused or failed listing with Azure\'s status and code, and no secret', async () => {
    const missing = await listBlobPage(account, 'no-such-container', 'imagenet/', {}).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(AzureBlobError);
    expect(missing).toMatchObject({ azureStatus: 404, azureCode: 'ContainerNotFound', code: 'AzureStorageError' });
    expect((missing as Error).message).toBe('listing devstoreaccount1/no-such-container under "imagenet/": Azure answered 404 ContainerNotFound');

    const wrongKey = Buffer.from(randomBytes(64)).toString('base64');
    const refused = await listBlobPage({ ...account, accountKey: wrongKey }, azure.container, 'imagenet/', {}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AzureBlobError);
    expect(refused).toMatchObject({ azureStatus: 403 });
    for (const err of [missing, refused]) {
      const text = `${(err as Error).message} ${JSON.stringify(err)}`;
      expect(text).not.toContain(wrongKey.slice(0, 12));
      expect(text).not.toContain(azure.accountKey.slice(0, 12));
      expect(text).not.toMatch(/SharedKey|sig=/);
    }
  });

  it('stops when its signal is aborted', async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('stopped by the test'));
    await expect(listBlobPage(account, azure.container, 'imagenet/', { signal: ctl.signal })).rejects.toThrow('stopped by the test');
  });
});
