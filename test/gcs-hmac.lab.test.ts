// The HMAC core of src/providers/gcs/sign.ts against a real S3 server. GCS's XML API and S3 share
// SigV4-style HMAC query signing and differ only in names (GOOG4-HMAC-SHA256, X-Goog-*,
// auto/storage/goog4_request vs AWS4-HMAC-SHA256, X-Amz-*, <region>/s3/aws4_request), and the
// signer builds both from one core parameterised by a dialect. No GCS server is at hand, so the
// lab's MinIO checks the AMZ dialect: it accepts what the core signs and refuses every alteration.
// The GOOG4 names are held to the official library and to this core in src/providers/gcs/sign.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amzDialect, signV4Url } from '../src/providers/gcs/sign.ts';
import type { GcsMethod, GcsSignRequest } from '../src/providers/gcs/sign.ts';
import { createPresigner } from '../src/issuer/presign.ts';
import { SEED_OBJECTS, type Lab } from './lab/index.ts';
import { useLabLogs } from './lab/vitest.ts';
import { startWorld, type World } from './lab/world.ts';

let w: World;
let lab: Lab;

beforeAll(async () => {
  // MinIO alone: no Kubernetes, no operator (the signer is the unit under test).
  w = await startWorld({ lab: { kube: false } });
  lab = w.lab;
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

function req(key: string, method: GcsMethod, over: Partial<GcsSignRequest> = {}): GcsSignRequest {
  return {
    credentials: { kind: 'hmac', accessId: lab.s3.root.accessKeyId, secret: lab.s3.root.secretAccessKey },
    bucket: lab.s3.bucket,
    key,
    method,
    expiresSeconds: 300,
    now: Date.now(),
    endpoint: lab.s3.endpoint,
    ...over,
  };
}

const sign = (r: GcsSignRequest): string => signV4Url(r, amzDialect(lab.s3.region));

async function send(url: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** The URL with its signature replaced. */
function withSignature(url: string, signature: string): string {
  return url.replace(/X-Amz-Signature=[0-9a-f]{64}/, `X-Amz-Signature=${signature}`);
}

function signatureOf(url: string): string {
  const m = /X-Amz-Signature=([0-9a-f]{64})/.exec(url);
  if (!m?.[1]) throw new Error('no signature in the URL');
  return m[1];
}

describe('the AMZ dialect of the V4 HMAC signer against MinIO', () => {
  const seeded = 'imagenet/a.bin';

  it('signs a GET that returns the seeded object', async () => {
    const res = await send(sign(req(seeded, 'GET')));
    expect(res.status).toBe(200);
    expect(res.body).toBe(SEED_OBJECTS[seeded]);
  });

  it('signs a HEAD that answers 200 with the object length', async () => {
    const res = await fetch(sign(req(seeded, 'HEAD')), { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(SEED_OBJECTS[seeded] ?? '')));
  });

  it('is refused with one hex digit of the signature changed', async () => {
    const url = sign(req(seeded, 'GET'));
    const sig = signatureOf(url);
    const flipped = `${sig.slice(0, 10)}${sig[10] === '0' ? '1' : '0'}${sig.slice(11)}`;
    expect(flipped).not.toBe(sig);
    const res = await send(withSignature(url, flipped));
    expect(res.status).toBe(403);
    expect(res.body).toContain('SignatureDoesNotMatch');
  });

  it("is refused for another key carrying the first URL's signature", async () => {
    const now = Date.now();
    const first = sign(req(seeded, 'GET', { now }));
    const other = sign(req('imagenet/b.bin', 'GET', { now }));
    expect((await send(other)).status).toBe(200);
    const res = await send(withSignature(other, signatureOf(first)));
    expect(res.status).toBe(403);
    expect(res.body).toContain('SignatureDoesNotMatch');
  });

  it('signs PUTs that upload objects (awkward keys included) which then read back', async () => {
    for (const key of ['gcs-sign/upload.bin', 'gcs-sign/données/日本語 file ?&=+#%.txt', "gcs-sign/deep/er/!'()*$@,;:~.bin"]) {
      const body = `uploaded through a signed PUT: ${key}`;
      const put = await send(sign(req(key, 'PUT')), { method: 'PUT', body });
      expect(put.status, `${key}: ${put.body}`).toBe(200);
      const got = await send(sign(req(key, 'GET')));
      expect(got.status).toBe(200);
      expect(got.body).toBe(body);
    }
  });

  it('signs a PUT with a content-type that the upload must send', async () => {
    const key = 'gcs-sign/typed.json';
    const url = sign(req(key, 'PUT', { contentType: 'application/json' }));
    expect((await send(url, { method: 'PUT', body: '{}', headers: { 'content-type': 'text/plain' } })).status).toBe(403);
    expect((await send(url, { method: 'PUT', body: '{"ok":true}', headers: { 'content-type': 'application/json' } })).status).toBe(200);
    const head = await fetch(sign(req(key, 'HEAD')), { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    expect(head.headers.get('content-type')).toBe('application/json');
  });

  it('is refused once expired (signed 10 minutes ago for 60 seconds)', async () => {
    const res = await send(sign(req(seeded, 'GET', { now: Date.now() - 10 * 60_000, expiresSeconds: 60 })));
    expect(res.status).toBe(403);
    expect(res.body).toContain('expired');
  });

  it('equals presign.ts byte for byte given the two parameters the AWS SDK adds', async () => {
    const presigner = createPresigner();
    const now = Date.now();
    const X_ID: Record<GcsMethod, string | undefined> = { GET: 'GetObject', PUT: 'PutObject', HEAD: undefined };
    for (const method of ['GET', 'PUT', 'HEAD'] as const) {
      for (const key of [seeded, 'gcs-sign/données/日本語 file ?&=+#%.txt']) {
        const xid = X_ID[method];
        const ours = sign(req(key, method, { now, queryParams: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', ...(xid ? { 'x-id': xid } : {}) } }));
        const theirs = presigner.presign({
          credentials: lab.s3.root,
          target: { bucket: lab.s3.bucket, region: lab.s3.region, endpoint: lab.s3.endpoint },
          key,
          method,
          expiresSeconds: 300,
          now,
        });
        expect(ours, `${method} ${key}`).toBe(theirs);
      }
    }
    // And the equal URL works.
    const got = await send(sign(req(seeded, 'GET', { now, queryParams: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', 'x-id': 'GetObject' } })));
    expect(got.status).toBe(200);
  });
});
