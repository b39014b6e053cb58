// gcs-sign.ts held byte for byte to @google-cloud/storage's own V4 signer (File#getSignedUrl with
// version 'v4', and for HEAD the same File's URLSigner), same inputs, same clock (vitest's fake
// Date), with a service-account RSA key generated here. The library signs locally with the key it
// is given; a guard on fetch and on every socket connect shows it makes no network call.
//
// @google-cloud/storage cannot sign with HMAC keys (its V4 signer always writes GOOG4-RSA-SHA256 and
// hands the string to sign to google-auth-library's RSA/IAM `sign`). The GOOG4-HMAC form is held
// here to the RSA form (same canonical request and string to sign but for the algorithm and the
// credential id, which the library check above covers) and to the HMAC key chain written out from
// Google's documentation; the shared HMAC core is held to presign.ts (itself held to the AWS SDK)
// under the AMZ names, and to a real S3 server in test/gcs-hmac.lab.test.ts.
import { createHash, createHmac, generateKeyPairSync, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MockInstance } from 'vitest';
import { Storage } from '@google-cloud/storage';
import { amzDialect, canonicalV4, createGcsSigner, GOOG4, MAX_GCS_SIGN_SECONDS, signGcsUrl, signV4Url } from './sign.ts';
import type { GcsMethod, GcsSignRequest } from './sign.ts';
import { uriEncode } from '../../platform/uri.ts';
import { createPresigner } from '../../issuer/presign.ts';

const EMAIL = 'valet-signer@valet-test.iam.gserviceaccount.com';
const NOW = Date.UTC(2026, 0, 1, 12, 34, 56);

let pkcs8Pem: string;
let pkcs1Pem: string;
let publicKey: KeyObject;
let fetchSpy: MockInstance;
let connectSpy: MockInstance;

interface Case {
  name: string;
  bucket?: string;
  key: string;
  method: GcsMethod;
  expiresSeconds: number;
  now?: number;
  endpoint?: string;
  queryParams?: Record<string, string>;
  contentType?: string;
  /** Sign with the PKCS#1 ('BEGIN RSA PRIVATE KEY') form of the same key. */
  pkcs1?: boolean;
}

const CASES: Case[] = [
  { name: 'plain GET', key: 'imagenet/a.bin', method: 'GET', expiresSeconds: 900 },
  { name: 'plain PUT', key: 'checkpoints/step-100.pt', method: 'PUT', expiresSeconds: 3600 },
  { name: 'plain HEAD', key: 'imagenet/a.bin', method: 'HEAD', expiresSeconds: 900 },
  { name: 'spaces in the key', key: 'imagenet/with space/and  two  spaces .bin', method: 'PUT', expiresSeconds: 600 },
  { name: 'Unicode key', key: 'données/日本語 file.txt', method: 'GET', expiresSeconds: 600 },
  { name: 'emoji and combining marks', key: 'imagenet/emoji-🙂/café-ñ.bin', method: 'HEAD', expiresSeconds: 600 },
  { name: 'deeply nested slashes', key: 'a/b/c/d/e/f/g/h/0001.tar', method: 'GET', expiresSeconds: 60 },
  { name: "'?&=+#%' in the key", key: 'weird/q?a&b=c+d#e%f%20g.bin', method: 'GET', expiresSeconds: 300 },
  { name: "!'()*$@,;:~ in the key", key: "punct/!'()*$@,;:~.bin", method: 'PUT', expiresSeconds: 300 },
  { name: 'trailing slash (a "folder" object)', key: 'imagenet/trailing/', method: 'PUT', expiresSeconds: 300 },
  {
    name: 'extra query parameters (response-content-disposition, generation)',
    key: 'reports/summary 2026.pdf',
    method: 'GET',
    expiresSeconds: 900,
    queryParams: { 'response-content-disposition': 'attachment; filename="summary 2026.pdf"', generation: '1767270896000000' },
  },
  {
    name: 'extra parameters in non-sorted order, one upper-case, one integer-like, one Unicode',
    key: 'imagenet/a.bin',
    method: 'GET',
    expiresSeconds: 900,
    queryParams: { 'response-content-type': 'text/plain; charset=utf-8', 'X-Goog-Meta-Foo': 'bar', '7': 'seven', soufflé: '=%-_.~/&' },
  },
  { name: 'custom host with a port (apiEndpoint)', key: 'imagenet/a b.bin', method: 'GET', expiresSeconds: 900, endpoint: 'https://storage.example.internal:8443' },
  { name: 'custom host, HEAD with parameters', key: 'données/x.bin', method: 'HEAD', expiresSeconds: 900, endpoint: 'https://storage.example.internal:8443', queryParams: { generation: '42' } },
  { name: 'custom http host on loopback, PUT with content-type', key: 'up/load 1.bin', method: 'PUT', expiresSeconds: 120, endpoint: 'http://127.0.0.1:9000', contentType: 'application/octet-stream' },
  { name: 'PUT with a content-type that has parameters', key: 'up/page.html', method: 'PUT', expiresSeconds: 120, contentType: 'text/html; charset=utf-8' },
  { name: 'shortest lifetime: 1 s', key: 'imagenet/a.bin', method: 'GET', expiresSeconds: 1 },
  { name: 'longest lifetime: 604800 s (7 days)', key: 'imagenet/a.bin', method: 'PUT', expiresSeconds: 604_800 },
  { name: 'signing time with milliseconds, just before midnight UTC', key: 'imagenet/a.bin', method: 'GET', expiresSeconds: 7200, now: Date.UTC(2026, 1, 28, 23, 59, 59, 999) },
  { name: 'bucket with dots, underscores and hyphens', bucket: 'my.data_sets-01', key: 'x/y.bin', method: 'GET', expiresSeconds: 900 },
  { name: 'PKCS#1 PEM of the same key', key: 'imagenet/a.bin', method: 'HEAD', expiresSeconds: 900, pkcs1: true },
];

function ours(c: Case): string {
  return signGcsUrl({
    credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: c.pkcs1 ? pkcs1Pem : pkcs8Pem },
    bucket: c.bucket ?? 'valet-datasets',
    key: c.key,
    method: c.method,
    expiresSeconds: c.expiresSeconds,
    now: c.now ?? NOW,
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    ...(c.queryParams ? { queryParams: c.queryParams } : {}),
    ...(c.contentType ? { contentType: c.contentType } : {}),
  });
}

/** The official library's URL for the same inputs, at the same (fake) time. */
async function official(c: Case): Promise<string> {
  const now = c.now ?? NOW;
  vi.setSystemTime(now);
  const storage = new Storage({
    projectId: 'valet-test',
    credentials: { client_email: EMAIL, private_key: c.pkcs1 ? pkcs1Pem : pkcs8Pem },
    ...(c.endpoint ? { apiEndpoint: c.endpoint } : {}),
  });
  const file = storage.bucket(c.bucket ?? 'valet-datasets').file(c.key);
  const common = {
    version: 'v4' as const,
    expires: now + c.expiresSeconds * 1000,
    ...(c.queryParams ? { queryParams: c.queryParams } : {}),
    ...(c.contentType ? { contentType: c.contentType } : {}),
  };
  if (c.method !== 'HEAD') {
    const [url] = await file.getSignedUrl({ ...common, action: c.method === 'GET' ? 'read' : 'write' });
    return url;
  }
  // File#getSignedUrl has actions read/write/delete/resumable (GET/PUT/DELETE/POST) and none for
  // HEAD. The V4 signer behind it (File#signer, a URLSigner, created by the first call) takes the
  // HTTP method itself, so HEAD goes through the library's own canonical request and signing; only
  // the action-to-method table is bypassed. The first call's URL is discarded.
  await file.getSignedUrl({ ...common, action: 'read' });
  if (!file.signer) throw new Error('@google-cloud/storage no longer keeps File#signer: find another way to sign HEAD');
  return file.signer.getSignedUrl({ ...common, method: 'HEAD' as 'GET' });
}

beforeAll(() => {
  const { privateKey, publicKey: pub } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  pkcs8Pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  pkcs1Pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  publicKey = pub;
  // No network: fetch and every TCP connect (http, https, undici and node-fetch all end there) fail
  // loudly and are counted; the last test asserts neither was called.
  fetchSpy = vi.spyOn(globalThis, 'fetch').mockImplementation(() => Promise.reject(new Error('network call during a signing test')));
  connectSpy = vi.spyOn(Socket.prototype, 'connect').mockImplementation(() => {
    throw new Error('network call during a signing test');
  });
  // `credentials: { client_email, private_key }` is the one way the library signs with no network:
  // given a JWT `authClient` instead, it asks the GCE metadata server for the signer's email (two
  // connects, caught by the guard above). google-auth-library warns that the option is deprecated
  // on every Storage; that one line is dropped, every other warning still shows.
  const warn = console.warn.bind(console);
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('The `credentials` option is deprecated.')) return;
    warn(...args);
  });
  // The library reads STORAGE_EMULATOR_HOST as a custom endpoint; make sure it is absent.
  vi.stubEnv('STORAGE_EMULATOR_HOST', undefined);
  vi.useFakeTimers({ toFake: ['Date'] });
});

afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('GCS V4 signed URLs without the SDK', () => {
  it(`has at least 12 cases covering GET, PUT and HEAD`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(12);
    expect(new Set(CASES.map((c) => c.method))).toEqual(new Set(['GET', 'PUT', 'HEAD']));
  });

  for (const c of CASES) {
    it(`equals @google-cloud/storage byte for byte: ${c.name}`, async () => {
      const sdk = await official(c);
      expect(ours(c)).toBe(sdk);
    });
  }

  it('signs what the public key verifies, over the string to sign the URL describes', () => {
    const req: GcsSignRequest = { credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: pkcs8Pem }, bucket: 'b-1', key: 'k', method: 'GET', expiresSeconds: 60, now: NOW };
    const url = new URL(signGcsUrl(req));
    const sig = url.searchParams.get('X-Goog-Signature') ?? '';
    expect(sig).toMatch(/^[0-9a-f]{512}$/);
    expect(verify('sha256', Buffer.from(canonicalV4(req, GOOG4).stringToSign), publicKey, Buffer.from(sig, 'hex'))).toBe(true);
  });

  it('signs HEAD with the canonical request of GET but for the method', () => {
    for (const c of CASES) {
      const req = (method: GcsMethod): GcsSignRequest => ({
        credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: pkcs8Pem },
        bucket: c.bucket ?? 'valet-datasets',
        key: c.key,
        method,
        expiresSeconds: c.expiresSeconds,
        now: c.now ?? NOW,
        ...(c.endpoint ? { endpoint: c.endpoint } : {}),
        ...(c.queryParams ? { queryParams: c.queryParams } : {}),
      });
      const get = canonicalV4(req('GET'), GOOG4).canonicalRequest;
      const head = canonicalV4(req('HEAD'), GOOG4).canonicalRequest;
      expect(head.startsWith('HEAD\n')).toBe(true);
      expect(head.slice('HEAD'.length)).toBe(get.slice('GET'.length));
    }
  });

  it('refuses lifetimes V4 cannot express, naming the value, where the library refuses too', async () => {
    const req = { credentials: { kind: 'serviceAccount' as const, clientEmail: EMAIL, privateKeyPem: pkcs8Pem }, bucket: 'b-1', key: 'k', method: 'GET' as const, now: NOW };
    for (const expiresSeconds of [0, 604_801, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => signGcsUrl({ ...req, expiresSeconds })).toThrow(RangeError);
      expect(() => signGcsUrl({ ...req, expiresSeconds })).toThrow(`got ${String(expiresSeconds)}`);
    }
    expect(MAX_GCS_SIGN_SECONDS).toBe(604_800);
    // The library's own bound is the same: 604800 passes (table above), 604801 is refused.
    await expect(official({ name: 'over', key: 'k', method: 'GET', expiresSeconds: 604_801 })).rejects.toThrow(/seven days/);
  });

  it('keeps secrets, keys and endpoints out of every error message', () => {
    const secret = 'SECRET-hmac-value-that-must-not-leak';
    const base: GcsSignRequest = { credentials: { kind: 'hmac', accessId: 'GOOG1EXAMPLE', secret }, bucket: 'b-1', key: 'k', method: 'GET', expiresSeconds: 60, now: NOW };
    const badPem = `-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL${'A'.repeat(64)}\n-----END PRIVATE KEY-----\n`;
    const { privateKey: ec } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const failures: (() => unknown)[] = [
      () => signGcsUrl({ ...base, credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: badPem } }),
      () => signGcsUrl({ ...base, credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: ec.export({ type: 'pkcs8', format: 'pem' }).toString() } }),
      () => signGcsUrl({ ...base, endpoint: `https://user:${secret}@storage.example.internal` }),
      () => signGcsUrl({ ...base, endpoint: 'https://storage.example.internal/base/path' }),
      () => signGcsUrl({ ...base, key: 'a/../b' }),
      () => signGcsUrl({ ...base, key: '' }),
      () => signGcsUrl({ ...base, key: 'lone\ud800surrogate' }),
      () => signGcsUrl({ ...base, bucket: 'Not_A/Bucket' }),
      () => signGcsUrl({ ...base, queryParams: { 'x-goog-signature': 'forged' } }),
      () => signGcsUrl({ ...base, queryParams: { 'X-Goog-Credential': 'other' } }),
      () => signGcsUrl({ ...base, contentType: 'text/plain\r\nx-evil: 1' }),
      () => signGcsUrl({ ...base, credentials: { kind: 'hmac', accessId: 'GOOG1EXAMPLE', secret, sessionToken: secret } }),
      () => signV4Url({ ...base, credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: pkcs8Pem } }, amzDialect('us-east-1')),
      () => signGcsUrl({ ...base, method: 'DELETE' as GcsMethod }),
    ];
    for (const f of failures) {
      let message = '';
      try {
        f();
      } catch (err) {
        message = String((err as Error).message) + String((err as Error).stack);
      }
      expect(message, f.toString()).not.toBe('');
      for (const s of [secret, 'SECRETKEYMATERIAL', 'BEGIN', 'storage.example.internal']) expect(message).not.toContain(s);
    }
  });
});

describe('the HMAC form (GOOG4-HMAC-SHA256)', () => {
  const ACCESS_ID = 'GOOG1EEXAMPLEACCESSID+/=';
  const SECRET = 'bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ';

  const reqFor = (c: Case, credentials: GcsSignRequest['credentials']): GcsSignRequest => ({
    credentials,
    bucket: c.bucket ?? 'valet-datasets',
    key: c.key,
    method: c.method,
    expiresSeconds: c.expiresSeconds,
    now: c.now ?? NOW,
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    ...(c.queryParams ? { queryParams: c.queryParams } : {}),
    ...(c.contentType ? { contentType: c.contentType } : {}),
  });

  it('shares the RSA form canonical request and string to sign, but for the algorithm and the credential id', () => {
    for (const c of CASES) {
      const rsa = canonicalV4(reqFor(c, { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: pkcs8Pem }), GOOG4);
      const hmac = canonicalV4(reqFor(c, { kind: 'hmac', accessId: ACCESS_ID, secret: SECRET }), GOOG4);
      expect(rsa.algorithm).toBe('GOOG4-RSA-SHA256');
      expect(hmac.algorithm).toBe('GOOG4-HMAC-SHA256');
      const expected = rsa.canonicalRequest
        .replace('X-Goog-Algorithm=GOOG4-RSA-SHA256', 'X-Goog-Algorithm=GOOG4-HMAC-SHA256')
        .replace(`X-Goog-Credential=${uriEncode(EMAIL)}%2F`, `X-Goog-Credential=${uriEncode(ACCESS_ID)}%2F`);
      expect(hmac.canonicalRequest, c.name).toBe(expected);
      const [, date, scope] = rsa.stringToSign.split('\n');
      expect(hmac.stringToSign).toBe(`GOOG4-HMAC-SHA256\n${date}\n${scope}\n${createHash('sha256').update(expected).digest('hex')}`);
    }
  });

  it("signs with the documented key chain: HMAC('GOOG4' + secret, date), then region 'auto', 'storage', 'goog4_request'", () => {
    for (const c of CASES) {
      const req = reqFor(c, { kind: 'hmac', accessId: ACCESS_ID, secret: SECRET });
      const k = canonicalV4(req, GOOG4);
      const h = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
      const date = new Date(c.now ?? NOW).toISOString().slice(0, 10).replaceAll('-', '');
      const signingKey = h(h(h(h(`GOOG4${SECRET}`, date), 'auto'), 'storage'), 'goog4_request');
      const signature = createHmac('sha256', signingKey).update(k.stringToSign).digest('hex');
      const url = signGcsUrl(req);
      expect(url.endsWith(`&X-Goog-Signature=${signature}`), c.name).toBe(true);
      expect(url).toBe(k.url(signature));
      // The URL differs from the RSA one only in the algorithm, the credential id and the signature.
      const rsa = ours(c);
      const strip = (u: string) =>
        u
          .replace(/X-Goog-Algorithm=GOOG4-(RSA|HMAC)-SHA256&/, 'X-Goog-Algorithm=ALG&')
          .replace(`X-Goog-Credential=${uriEncode(EMAIL)}%2F`, 'X-Goog-Credential=ID%2F')
          .replace(`X-Goog-Credential=${uriEncode(ACCESS_ID)}%2F`, 'X-Goog-Credential=ID%2F')
          .replace(/&X-Goog-Signature=[0-9a-f]+$/, '');
      expect(strip(url)).toContain('X-Goog-Algorithm=ALG&X-Goog-Credential=ID%2F');
      expect(strip(url)).toBe(strip(rsa));
    }
  });

  it('equals presign.ts (held to @aws-sdk/s3-request-presigner) byte for byte in the AMZ dialect', () => {
    const presigner = createPresigner();
    const amz = amzDialect('us-east-1');
    const endpoint = 'http://127.0.0.1:9000';
    const X_ID: Record<GcsMethod, string | undefined> = { GET: 'GetObject', PUT: 'PutObject', HEAD: undefined };
    for (const sessionToken of [undefined, 'IQoJb3JpZ2luX2Vj/EXAMPLE+token=/with==']) {
      const credentials = { kind: 'hmac' as const, accessId: 'AKIDEXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', ...(sessionToken ? { sessionToken } : {}) };
      for (const c of CASES.filter((x) => !x.queryParams && !x.contentType)) {
        for (const method of ['GET', 'PUT', 'HEAD'] as const) {
          const now = c.now ?? NOW;
          const xid = X_ID[method];
          // The two parameters the AWS SDK (and so presign.ts) adds to every S3 presigned URL.
          const queryParams: Record<string, string> = { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', ...(xid ? { 'x-id': xid } : {}) };
          const mine = signV4Url({ credentials, bucket: 'datasets', key: c.key, method, expiresSeconds: c.expiresSeconds, now, endpoint, queryParams }, amz);
          const theirs = presigner.presign({
            credentials: { accessKeyId: credentials.accessId, secretAccessKey: credentials.secret, ...(sessionToken ? { sessionToken } : {}) },
            target: { bucket: 'datasets', region: 'us-east-1', endpoint },
            key: c.key,
            method,
            expiresSeconds: c.expiresSeconds,
            now,
          });
          expect(mine, `${method} ${c.key}`).toBe(theirs);
        }
      }
    }
  });

  it('signs the port in the AMZ dialect (S3 checks the Host sent) and not in GOOG4 (as the Google libraries do)', () => {
    const req: GcsSignRequest = { credentials: { kind: 'hmac', accessId: ACCESS_ID, secret: SECRET }, bucket: 'b-1', key: 'k', method: 'GET', expiresSeconds: 60, now: NOW, endpoint: 'https://storage.example.internal:8443' };
    expect(canonicalV4(req, GOOG4).canonicalRequest).toContain('\nhost:storage.example.internal\n');
    expect(canonicalV4(req, amzDialect('auto')).canonicalRequest).toContain('\nhost:storage.example.internal:8443\n');
    // A default port is no port at all.
    expect(canonicalV4({ ...req, endpoint: 'https://storage.example.internal:443' }, amzDialect('auto')).canonicalRequest).toContain('\nhost:storage.example.internal\n');
  });
});

describe('createGcsSigner (cached keys)', () => {
  it('signs exactly what signV4Url signs, across dates, dialects, rotated secrets and keys, and a full cache', () => {
    const signer = createGcsSigner({ maxCachedKeys: 2 });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const otherPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const credentials: GcsSignRequest['credentials'][] = [
      { kind: 'hmac', accessId: 'GOOG1A', secret: 'first-secret' },
      { kind: 'hmac', accessId: 'GOOG1A', secret: 'rotated-secret' },
      { kind: 'hmac', accessId: 'GOOG1B', secret: 'first-secret' },
      { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: pkcs8Pem },
      { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: otherPem },
      { kind: 'serviceAccount', clientEmail: `other-${EMAIL}`, privateKeyPem: pkcs1Pem },
    ];
    for (const day of [0, 0, 1, 2, 0]) {
      for (const c of credentials) {
        for (const dialect of [GOOG4, amzDialect('us-east-1'), amzDialect('auto')]) {
          if (c.kind === 'serviceAccount' && dialect !== GOOG4) continue;
          const req: GcsSignRequest = { credentials: c, bucket: 'b-1', key: 'données/a b.bin', method: 'PUT', expiresSeconds: 600, now: NOW + day * 86_400_000 };
          expect(signer.sign(req, dialect)).toBe(signV4Url(req, dialect));
        }
      }
    }
    const req: GcsSignRequest = { credentials: credentials[3]!, bucket: 'b-1', key: 'k', method: 'GET', expiresSeconds: 60, now: NOW };
    expect(signer.sign(req)).toBe(signGcsUrl(req));
  });
});

describe('signAsync (RSA off the event loop)', () => {
  it('signs the same bytes as sign, for RSA and HMAC', async () => {
    const signer = createGcsSigner();
    const rsa: GcsSignRequest = { credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: pkcs8Pem }, bucket: 'b-1', key: 'a/b c.bin', method: 'GET', expiresSeconds: 60, now: NOW };
    const hmac: GcsSignRequest = { credentials: { kind: 'hmac', accessId: 'GOOG1EXAMPLE', secret: 'c2VjcmV0' }, bucket: 'b-1', key: 'k', method: 'PUT', expiresSeconds: 60, now: NOW };
    expect(await signer.signAsync(rsa)).toBe(signer.sign(rsa));
    expect(await signer.signAsync(hmac)).toBe(signer.sign(hmac));
    await expect(signer.signAsync({ ...rsa, credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: 'garbage' } })).rejects.toThrow();
  });

  it('lets the event loop turn while a batch of RSA signatures is computed (ordering, not time)', async () => {
    const signer = createGcsSigner();
    const req = (i: number): GcsSignRequest => ({ credentials: { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: pkcs8Pem }, bucket: 'b-1', key: `k/${i}`, method: 'GET', expiresSeconds: 60, now: NOW });
    let done = 0;
    let doneWhenLoopTurned = -1;
    const batch = Array.from({ length: 64 }, (_, i) => signer.signAsync(req(i)).then(() => done++));
    setImmediate(() => (doneWhenLoopTurned = done));
    await Promise.all(batch);
    // Synchronous signing would have finished all 64 before the loop reached the check phase.
    expect(doneWhenLoopTurned).toBeGreaterThanOrEqual(0);
    expect(doneWhenLoopTurned).toBeLessThan(64);
  });
});

describe('the official library in these tests', () => {
  it('made no network call: it signed locally with the key it was given', () => {
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(connectSpy).not.toHaveBeenCalled();
  });
});
