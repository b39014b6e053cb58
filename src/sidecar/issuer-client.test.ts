import type { IssuedKey } from '../api/issuer/v1/index.ts';
import { describe, expect, it } from 'vitest';
import { createIssuerClient, parseKeysBody } from './issuer-client.ts';
import type { TransportRequest, TransportResponse, WireKey } from './issuer-client.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

// The wire shape the sidecar reads is the one the issuer writes, in both directions.
const _toWire = (k: IssuedKey): WireKey => k;
const _toIssued = (k: WireKey): IssuedKey => k;

const KEY: WireKey = {
  access: 'imagenet',
  bucket: 'datasets',
  prefix: 'imagenet/',
  verbs: ['read', 'list'],
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9000',
  presign: { enabled: true, maxExpirySeconds: 600 },
  credentials: { AccessKeyId: 'ASIA1', SecretAccessKey: 's', SessionToken: 't', Expiration: '2026-01-01T00:15:00Z' },
  expiresInSeconds: 900,
};

function client(answers: TransportResponse[], files: Record<string, string>) {
  const seen: TransportRequest[] = [];
  const c = createIssuerClient({
    url: 'https://issuer:8443/',
    caFile: '/ca.crt',
    tokenFile: '/token',
    timeoutMs: 1000,
    readText: async (p) => {
      const v = files[p];
      if (v === undefined) throw new Error(`ENOENT: ${p}`);
      return v;
    },
    transport: async (req) => {
      seen.push(req);
      const a = answers.shift();
      if (!a) throw new Error('connect ECONNREFUSED');
      return a;
    },
  });
  return { c, seen };
}

describe('the issuer client', () => {
  it('re-reads the token on every call and sends the accesses asked for', async () => {
    const files: Record<string, string> = { '/token': 'first\n', '/ca.crt': PEM };
    const { c, seen } = client([{ status: 200, headers: {}, body: JSON.stringify({ keys: [KEY] }) }, { status: 200, headers: {}, body: JSON.stringify({ keys: [KEY] }) }], files);
    expect(await c.fetchKeys(['imagenet'])).toEqual({ kind: 'ok', keys: [KEY] });
    files['/token'] = 'second';
    await c.fetchKeys(undefined);
    expect(seen.map((r) => r.headers.authorization)).toEqual(['Bearer first', 'Bearer second']);
    expect(seen[0]).toMatchObject({ url: 'https://issuer:8443/v1/keys', body: '{"accesses":["imagenet"]}', ca: PEM });
    expect(seen[1]?.body).toBe('');
  });

  it('sorts answers into refusals and transient failures', async () => {
    const { c } = client(
      [
        { status: 401, headers: {}, body: '{"error":{"code":"Unauthenticated","message":"authentication failed"}}' },
        { status: 403, headers: {}, body: '{"error":{"code":"NoGrant","message":"no","reasons":[{"access":"a/b","reason":"NotFound","message":"x"}]}}' },
        { status: 429, headers: { 'retry-after': '3' }, body: '{"error":{"code":"RateLimited","message":"later"}}' },
        { status: 502, headers: {}, body: '<html>bad gateway</html>' },
        { status: 200, headers: {}, body: '{"keys":[{"access":"x"}]}' },
      ],
      { '/token': 't', '/ca.crt': PEM },
    );
    expect(await c.fetchKeys(undefined)).toMatchObject({ kind: 'refused', status: 401, code: 'Unauthenticated' });
    expect(await c.fetchKeys(undefined)).toMatchObject({ kind: 'refused', status: 403, code: 'NoGrant', reasons: [{ reason: 'NotFound' }] });
    expect(await c.fetchKeys(undefined)).toMatchObject({ kind: 'transient', status: 429, code: 'RateLimited', retryAfterMs: 3000 });
    expect(await c.fetchKeys(undefined)).toMatchObject({ kind: 'transient', status: 502, code: 'HTTP502' });
    expect(await c.fetchKeys(undefined)).toMatchObject({ kind: 'transient', code: 'BadResponse' });
    expect(await c.fetchKeys(undefined)).toMatchObject({ kind: 'transient', code: 'IssuerUnreachable' });
  });

  it('treats a missing or empty token file as transient (the kubelet has not written it yet)', async () => {
    expect(await client([], {}).c.fetchKeys(undefined)).toMatchObject({ kind: 'transient', code: 'TokenUnavailable' });
    expect(await client([], { '/token': ' \n' }).c.fetchKeys(undefined)).toMatchObject({ kind: 'transient', code: 'TokenUnavailable' });
  });

  it('checks the shape of every key', () => {
    expect(parseKeysBody(JSON.stringify({ keys: [KEY] })).ok).toBe(true);
    expect(parseKeysBody(JSON.stringify({ keys: [{ ...KEY, verbs: ['admin'] }] })).ok).toBe(false);
    expect(parseKeysBody(JSON.stringify({ keys: [{ ...KEY, credentials: { ...KEY.credentials, SessionToken: '' } }] })).ok).toBe(false);
    expect(parseKeysBody('nope').ok).toBe(false);
  });
});

describe('parseKeysBody: azureBlob and gcs grants', () => {
  // What the issuer sends for an access on an azureBlob or gcs store (issue.ts toSignedGrantKey):
  // no credentials, the issuer signs each URL.
  const GRANT: WireKey = {
    provider: 'azureBlob',
    access: 'blobs',
    bucket: 'datasets',
    prefix: 'imagenet/',
    verbs: ['read', 'list'],
    endpoint: 'http://127.0.0.1:10000/devstoreaccount1',
    presign: { enabled: true, maxExpirySeconds: 900 },
    expiresInSeconds: 900,
    expiration: '2026-01-01T00:15:00Z',
  };
  const parse = (k: unknown) => parseKeysBody(JSON.stringify({ keys: [KEY, k] }));

  it('accepts an azureBlob or gcs grant without credentials, next to an s3 key', () => {
    expect(parse(GRANT)).toEqual({ ok: true, keys: [KEY, GRANT] });
    const gcs = { ...GRANT, provider: 'gcs', access: 'gcsdata', bucket: 'valet-datasets', endpoint: 'https://storage.googleapis.com', verbs: ['read', 'write'] };
    expect(parse(gcs)).toEqual({ ok: true, keys: [KEY, gcs] });
    // presign is optional on the wire.
    const { presign: _presign, ...bare } = GRANT;
    expect(parse(bare).ok).toBe(true);
  });

  it('refuses a grant that carries credentials: the issuer never hands out its signing key', () => {
    for (const credentials of [KEY.credentials, {}, null, 'key']) {
      const r = parse({ ...GRANT, credentials });
      expect(r.ok, JSON.stringify(credentials)).toBe(false);
      expect(r).toMatchObject({ message: "key 1 in the issuer's answer does not have the documented shape" });
    }
    expect(parse({ ...GRANT, provider: 'gcs', credentials: KEY.credentials }).ok).toBe(false);
  });

  it('refuses a grant without an endpoint or an expiration, or with empty ones', () => {
    for (const field of ['endpoint', 'expiration'] as const) {
      const { [field]: _dropped, ...without } = GRANT;
      expect(parse(without).ok, `${field} missing`).toBe(false);
      expect(parse({ ...GRANT, [field]: '' }).ok, `${field} empty`).toBe(false);
      expect(parse({ ...GRANT, [field]: 5 }).ok, `${field} a number`).toBe(false);
    }
  });

  it('refuses the fields every key needs, also on a grant', () => {
    for (const over of [{ access: '' }, { bucket: undefined }, { prefix: 3 }, { verbs: ['read', 'admin'] }, { verbs: 'read' }, { expiresInSeconds: -1 }, { expiresInSeconds: '900' }, { presign: { enabled: 'yes' } }]) {
      expect(parse({ ...GRANT, ...over }).ok, JSON.stringify(over)).toBe(false);
    }
  });

  it("refuses a provider it does not know, with or without credentials", () => {
    expect(parse({ ...GRANT, provider: 'ftp' }).ok).toBe(false);
    expect(parse({ ...KEY, provider: 'ftp' }).ok).toBe(false);
    expect(parse({ ...GRANT, provider: 'AzureBlob' }).ok).toBe(false);
    // An s3 key may say so, or (older issuers) say nothing.
    expect(parse({ ...KEY, provider: 's3' }).ok).toBe(true);
  });
});
