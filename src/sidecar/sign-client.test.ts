// createRemoteSigner (sign-client.ts) with a fake transport and fake files: what it sends to the
// issuer's POST /v1/sign and /v1/list, and how it sorts the answers into results and RemoteSignErrors.
import { describe, expect, it } from 'vitest';
import type { IssuerClientOptions, TransportRequest, TransportResponse } from './issuer-client.ts';
import { RemoteSignError, createRemoteSigner } from './sign-client.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

type Answer = TransportResponse | Error;

function signer(answers: Answer[], files: Record<string, string> = { '/token': 'tok-1\n', '/ca.crt': PEM }, over: Partial<IssuerClientOptions> = {}) {
  const seen: TransportRequest[] = [];
  const s = createRemoteSigner({
    url: 'https://issuer.valet-system.svc:8443/',
    caFile: '/ca.crt',
    tokenFile: '/token',
    timeoutMs: 1234,
    readText: async (p) => {
      const v = files[p];
      if (v === undefined) throw new Error(`ENOENT: no such file ${p}`);
      return v;
    },
    transport: async (req) => {
      seen.push(req);
      const a = answers.shift();
      if (!a) throw new Error('no answer scripted');
      if (a instanceof Error) throw a;
      return a;
    },
    ...over,
  });
  return { s, seen, files };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): TransportResponse => ({ status, headers, body: JSON.stringify(body) });

const SIGNED = {
  access: 'blobs',
  provider: 'azureBlob',
  method: 'GET',
  expiresAt: '2026-01-01T00:10:00Z',
  expiresInSeconds: 600,
  urls: [
    { key: 'imagenet/a', url: 'http://127.0.0.1:10000/devstoreaccount1/datasets/imagenet/a?sig=1' },
    { key: 'imagenet/b', url: 'http://127.0.0.1:10000/devstoreaccount1/datasets/imagenet/b?sig=2' },
  ],
};

/** The RemoteSignError `p` rejects with. */
async function failure(p: Promise<unknown>): Promise<RemoteSignError> {
  const err = await p.then(
    () => {
      throw new Error('expected a RemoteSignError, the call succeeded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RemoteSignError);
  return err as RemoteSignError;
}

describe('createRemoteSigner: requests', () => {
  it('POSTs /v1/sign with the token (trimmed, re-read each call) as Bearer, the CA, the deadline and the body', async () => {
    const { s, seen, files } = signer([json(200, SIGNED), json(200, SIGNED)]);
    const signal = new AbortController().signal;
    const out = await s.sign('blobs', 'GET', ['imagenet/a', 'imagenet/b'], 600, signal);
    expect(out).toEqual({ urls: SIGNED.urls, expiresAt: '2026-01-01T00:10:00Z', expiresInSeconds: 600 });
    expect(seen[0]).toMatchObject({ url: 'https://issuer.valet-system.svc:8443/v1/sign', ca: PEM, timeoutMs: 1234 });
    expect(seen[0]?.signal).toBe(signal);
    expect(seen[0]?.headers).toEqual({ authorization: 'Bearer tok-1', accept: 'application/json', 'content-type': 'application/json' });
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ access: 'blobs', method: 'GET', keys: ['imagenet/a', 'imagenet/b'], expiresSeconds: 600 });
    // The kubelet rotates the token: the next call reads the file again.
    files['/token'] = '  tok-2 ';
    await s.sign('blobs', 'GET', ['imagenet/a', 'imagenet/b'], 600);
    expect(seen[1]?.headers.authorization).toBe('Bearer tok-2');
  });

  it('POSTs /v1/list with the prefix, and the continuation token only when there is one', async () => {
    const { s, seen } = signer([json(200, { objects: [] }), json(200, { objects: [] }), json(200, { objects: [] })]);
    await s.list('blobs', 'imagenet/', undefined);
    await s.list('blobs', 'imagenet/train/', 'page-2');
    await s.list('blobs', 'imagenet/', '');
    expect(seen.map((r) => r.url)).toEqual(Array(3).fill('https://issuer.valet-system.svc:8443/v1/list'));
    expect(seen.map((r) => JSON.parse(r.body))).toEqual([
      { access: 'blobs', prefix: 'imagenet/' },
      { access: 'blobs', prefix: 'imagenet/train/', continuationToken: 'page-2' },
      { access: 'blobs', prefix: 'imagenet/' },
    ]);
    expect(seen[0]?.headers.authorization).toBe('Bearer tok-1');
    expect(seen[0]?.ca).toBe(PEM);
  });

  it('sends no CA without a CA file', async () => {
    const { s, seen } = signer([json(200, SIGNED)], { '/token': 't' }, { caFile: undefined });
    await s.sign('blobs', 'GET', ['imagenet/a', 'imagenet/b'], 60);
    expect(seen[0]?.ca).toBeUndefined();
  });

  it('answers 503 TokenUnavailable when the token or CA file cannot be read, without calling the issuer', async () => {
    for (const files of [{ '/ca.crt': 'PEM' }, { '/token': 't' }] as Record<string, string>[]) {
      const { s, seen } = signer([json(200, SIGNED)], files);
      const e = await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60));
      expect([e.status, e.code]).toEqual([503, 'TokenUnavailable']);
      expect(seen).toEqual([]);
    }
  });
});

describe('createRemoteSigner: answers', () => {
  it("keeps a refusal's status and code (4xx) and the issuer's message", async () => {
    const { s } = signer([
      json(403, { error: { code: 'ObjectOutsideGrant', message: 'keys[1]: object key "coco/x" is outside the granted prefix' } }),
      json(401, { error: { code: 'Unauthenticated', message: 'authentication failed' } }),
      json(409, { error: { code: 'WrongProvider', message: 'on an s3 store' } }),
      json(400, { error: { code: 'BadRequest', message: '"keys" must hold strings' } }),
    ]);
    const outside = await failure(s.sign('blobs', 'GET', ['imagenet/a', 'coco/x'], 60));
    expect(outside).toMatchObject({ status: 403, code: 'ObjectOutsideGrant', message: 'keys[1]: object key "coco/x" is outside the granted prefix' });
    expect(await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60))).toMatchObject({ status: 401, code: 'Unauthenticated' });
    expect(await failure(s.list('s3data', 'imagenet/', undefined))).toMatchObject({ status: 409, code: 'WrongProvider' });
    expect(await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60))).toMatchObject({ status: 400, code: 'BadRequest' });
  });

  it('keeps 503, and turns any other failure of the issuer into 502', async () => {
    const { s } = signer([
      json(503, { error: { code: 'StoreCredentialsUnavailable', message: 'the issuer cannot read the credentials of the store' } }, { 'retry-after': '10' }),
      json(500, { error: { code: 'Internal', message: 'internal error' } }),
      json(502, { error: { code: 'StoreListFailed', message: 'listing the store failed' } }),
      json(504, { error: { code: 'Timeout', message: 'late' } }),
      json(500, {}),
    ]);
    expect(await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60))).toMatchObject({ status: 503, code: 'StoreCredentialsUnavailable' });
    expect(await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60))).toMatchObject({ status: 502, code: 'Internal' });
    expect(await failure(s.list('blobs', 'imagenet/', undefined))).toMatchObject({ status: 502, code: 'StoreListFailed' });
    expect(await failure(s.list('blobs', 'imagenet/', undefined))).toMatchObject({ status: 502, code: 'Timeout' });
    // No error object: the status stands in for the code.
    expect(await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60))).toMatchObject({ status: 502, code: 'HTTP500', message: 'the issuer answered 500' });
  });

  it('cuts an over-long code and message from the issuer', async () => {
    const { s } = signer([json(403, { error: { code: 'C'.repeat(200), message: 'm'.repeat(2000) } })]);
    const e = await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60));
    expect(e.code).toHaveLength(64);
    expect(e.message).toHaveLength(500);
  });

  it('answers 502 BadResponse for a body that is not JSON, whatever the status', async () => {
    const { s } = signer([
      { status: 200, headers: {}, body: 'ok' },
      { status: 403, headers: {}, body: '<html>Forbidden by proxy</html>' },
      { status: 502, headers: {}, body: '' },
    ]);
    for (const p of [s.sign('blobs', 'GET', ['imagenet/a'], 60), s.sign('blobs', 'GET', ['imagenet/a'], 60), s.list('blobs', 'imagenet/', undefined)]) {
      expect(await failure(p)).toMatchObject({ status: 502, code: 'BadResponse' });
    }
  });

  it('answers 503 IssuerUnreachable when the transport fails', async () => {
    const { s } = signer([new Error('connect ECONNREFUSED 10.0.0.1:8443'), new Error('no answer from the issuer within 1234 ms')]);
    const e = await failure(s.sign('blobs', 'GET', ['imagenet/a'], 60));
    expect(e).toMatchObject({ status: 503, code: 'IssuerUnreachable' });
    expect(e.message).toContain('ECONNREFUSED');
    expect(await failure(s.list('blobs', 'imagenet/', undefined))).toMatchObject({ status: 503, code: 'IssuerUnreachable' });
  });
});

describe('createRemoteSigner: the shape of a 200', () => {
  const KEYS = ['imagenet/a', 'imagenet/b'];

  it('refuses a /v1/sign answer whose URLs do not match the keys asked, one for one and in order', async () => {
    const [a, b] = SIGNED.urls;
    const bodies: unknown[] = [
      { ...SIGNED, urls: [a] },
      { ...SIGNED, urls: [a, b, b] },
      { ...SIGNED, urls: [b, a] },
      { ...SIGNED, urls: [a, { ...b, key: 'imagenet/c' }] },
      { ...SIGNED, urls: [a, { key: 'imagenet/b' }] },
      { ...SIGNED, urls: [a, { key: 'imagenet/b', url: 7 }] },
      { ...SIGNED, urls: [a, null] },
      { ...SIGNED, urls: { 0: a, 1: b, length: 2 } },
      { ...SIGNED, urls: undefined },
      { ...SIGNED, expiresAt: undefined },
      { ...SIGNED, expiresAt: 1767225600 },
      null,
      [],
    ];
    const { s } = signer(bodies.map((b) => json(200, b)));
    for (const body of bodies) {
      const e = await failure(s.sign('blobs', 'GET', KEYS, 600));
      expect([e.status, e.code], JSON.stringify(body)).toEqual([502, 'BadResponse']);
    }
  });

  it("takes expiresInSeconds from the answer, or the lifetime asked when the answer has none", async () => {
    const { s } = signer([json(200, { ...SIGNED, expiresInSeconds: 300 }), json(200, { ...SIGNED, expiresInSeconds: undefined })]);
    expect((await s.sign('blobs', 'GET', KEYS, 600)).expiresInSeconds).toBe(300);
    expect((await s.sign('blobs', 'GET', KEYS, 450)).expiresInSeconds).toBe(450);
  });

  it('returns a /v1/list page: objects, and a continuation token only when non-empty', async () => {
    const objects = [
      { key: 'imagenet/a', size: 3, lastModified: '2026-01-01T00:00:00.000Z', etag: '"0x1"' },
      { key: 'imagenet/b', size: 0 },
    ];
    const { s } = signer([json(200, { access: 'blobs', prefix: 'imagenet/', objects, continuationToken: 'next' }), json(200, { objects, continuationToken: '' }), json(200, { objects: [] })]);
    expect(await s.list('blobs', 'imagenet/', undefined)).toEqual({ objects, continuationToken: 'next' });
    expect(await s.list('blobs', 'imagenet/', 'next')).toEqual({ objects });
    expect(await s.list('blobs', 'imagenet/', undefined)).toEqual({ objects: [] });
  });

  it('refuses a /v1/list answer without the documented shape', async () => {
    const bodies: unknown[] = [
      {},
      { objects: 'imagenet/a' },
      { objects: [{ key: 'imagenet/a' }] },
      { objects: [{ key: 'imagenet/a', size: '3' }] },
      { objects: [{ size: 3 }] },
      { objects: [{ key: 5, size: 3 }] },
      { objects: [null] },
      { objects: [{ key: 'imagenet/a', size: 1 }, 'imagenet/b'] },
      null,
      [],
    ];
    const { s } = signer(bodies.map((b) => json(200, b)));
    for (const body of bodies) {
      const e = await failure(s.list('blobs', 'imagenet/', undefined));
      expect([e.status, e.code], JSON.stringify(body)).toEqual([502, 'BadResponse']);
    }
  });
});
