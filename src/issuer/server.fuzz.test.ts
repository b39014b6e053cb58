// Property fuzzing of the issuer's HTTP face (server.ts) on a real loopback socket, with small
// fakes behind it whose values are planted secrets: the issuer's long-term store key, the keys STS
// mints, and the one bearer token the fake authenticator accepts. Whatever method, path, headers
// and body arrive, the answer is JSON with a code from docs/errors.md, never a 5xx for bad input,
// never the issuer's key or a bearer token, and a refused request never reached STS. POST /v1/sign
// and /v1/list are fuzzed the same way against an azureBlob and a gcs access whose signing keys are
// planted secrets too: a refusal carries no signed URL, and a 200 signs exactly the keys asked for.
// server.test.ts and sign.test.ts hold the examples.
import { ISSUER_ERRORS } from '../api/issuer/v1/index.ts';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetStore } from '../api/v1alpha1/index.ts';
import { ValetError } from '../platform/errors.ts';
import { memoryLogger } from '../platform/logger.ts';
import type { Authenticator, GrantSource } from './ports.ts';
import { ISSUER_DEFAULTS, createIssuerApp, startIssuerServer } from './server.ts';
import type { IssuerServer } from './server.ts';
import type { AssumeRoleParams, AssumedKey, Sts } from './sts.ts';
import { grantSource, pod, readyAccess } from './testdata/fixtures.ts';

const RUNS = 400;
const SIGN_RUNS = 400;
const GOOD = 'eyJhbGciOiJSUzI1NiJ9.PLANTEDbearerTOKEN.c2lnbmF0dXJl';
const PLANTED = {
  issuerSecret: 'PLANTEDissuerLONGtermSECRET',
  minted: 'PLANTEDmintedSECRET',
  session: 'PLANTEDmintedSESSION',
  // An Azure account key must be base64 (64 bytes); this one decodes to a recognisable text.
  accountKey: Buffer.from('PLANTEDazureACCOUNTkey'.padEnd(64, '.')).toString('base64'),
  gcsSecret: 'PLANTEDgcsHMACsecret',
};

const stsCalls: AssumeRoleParams[] = [];
const sts: Sts = {
  assumeRole: async (p): Promise<AssumedKey> => {
    stsCalls.push(p);
    return { accessKeyId: `ASIA${stsCalls.length}`, secretAccessKey: `${PLANTED.minted}${stsCalls.length}`, sessionToken: `${PLANTED.session}${stsCalls.length}`, expiration: new Date(Date.now() + p.durationSeconds * 1000) };
  },
};
const authenticator: Authenticator = {
  authenticate: async (bearer) => {
    if (bearer === GOOD) return pod();
    // What src/k8s/identity.ts throws for a refused token; its message names the token on purpose.
    throw new ValetError('Unauthenticated', `token ${bearer.slice(0, 40)} refused`, 401);
  },
};

/** The stores POST /v1/sign signs for: Azurite-style azureBlob, and gcs with an HMAC key. */
function signingStore(name: string, spec: Pick<DatasetStore['spec'], 'provider' | 'azureBlob' | 'gcs'>): DatasetStore {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetStore',
    metadata: { name, namespace: 'team-a', generation: 1, uid: `${name}-uid` },
    spec: { ...spec, allowedPrefixes: ['imagenet/'], allowedVerbs: ['read', 'write', 'delete'], maxSessionDurationSeconds: 3600 },
  };
}
const AZ = signingStore('az', { provider: 'azureBlob', azureBlob: { accountName: 'devstoreaccount1', container: 'datasets', endpoint: 'http://127.0.0.1:10000/devstoreaccount1', auth: { mode: 'accountKey', secretRef: { name: 'k' } } } });
const GCS = signingStore('gh', { provider: 'gcs', gcs: { bucket: 'valet-datasets', auth: { mode: 'hmac', secretRef: { name: 'k' } } } });
// No access here grants list: listing would call the storage service, which this suite does not run.
const signAccesses = [
  readyAccess('blobs', { storeRef: { kind: 'DatasetStore', name: 'az' }, verbs: ['read', 'write', 'delete'] }, { store: AZ }),
  readyAccess('gcsdata', { storeRef: { kind: 'DatasetStore', name: 'gh' }, verbs: ['read', 'write'] }, { store: GCS }),
];
const s3Grants = grantSource([readyAccess('imagenet'), readyAccess('coco', { prefix: 'coco/' }, { ready: false, reason: 'PrefixNotAllowed' })], undefined, { accessKeyId: 'AKIDISSUER', secretAccessKey: PLANTED.issuerSecret });
const grants: GrantSource = {
  // The signing stores keep their keys in team-a; placement (ADR 0008) is held by authorize.test.ts.
  valetNamespace: 'team-a',
  accesses: (ns) => [...s3Grants.accesses(ns), ...signAccesses.filter((a) => a.metadata.namespace === ns)],
  // Namespaced stores only: no folder claims to weigh (ADR 0009).
  overlappingClaims: () => [],
  store: (a) => [AZ, GCS].find((s) => s.metadata.name === a.spec.storeRef.name) ?? s3Grants.store(a),
  storeCredentials: (s) => s3Grants.storeCredentials(s),
  signingKey: async (s) => (s.spec.provider === 'azureBlob' ? { kind: 'azureAccountKey', accountKey: PLANTED.accountKey } : { kind: 'gcsHmac', accessId: 'GOOG1EFUZZ', secret: PLANTED.gcsSecret }),
  namespaceLabels: (ns) => s3Grants.namespaceLabels(ns),
};

let server: IssuerServer;
const logger = memoryLogger();

beforeAll(async () => {
  const app = createIssuerApp({ authenticator, grants, sts, logger });
  server = await startIssuerServer({ app, tls: undefined, host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await server.close();
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may answer (413, 415) and close before reading a body: that is not a failure.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

// ── generators ────────────────────────────────────────────────────────────────────────────────

const NAMES = ['imagenet', 'coco', 'missing', '', 'IMAGENET', '../imagenet', 'team-a/imagenet', 'a'.repeat(254), 'imagenet\u0000', 'imagenet ', '__proto__', 'constructor'];
const bodyValue = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(['imagenet'], ['coco'], ['missing'], ['imagenet', 'coco'], ['imagenet', 'imagenet']).map((accesses) => ({ accesses })) },
  { weight: 3, arbitrary: fc.record({ accesses: fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }), { maxLength: 3 }) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ accesses: fc.oneof(fc.constant(Array.from({ length: 65 }, (_, i) => `a${i}`)), fc.jsonValue({ maxDepth: 2 })) }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('accesses', '__proto__', 'constructor', 'prototype', 'keys', 'x'), fc.jsonValue({ maxDepth: 2 })) },
);
const rawBody = fc.oneof(
  { weight: 4, arbitrary: bodyValue.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom('{"accesses":["imagenet"]', '{"accesses":["imagenet"]}garbage', '\ufeff{"accesses":["imagenet"]}', '{"accesses":["imagenet"],"accesses":["coco"]}', '[["imagenet"]]', '"imagenet"', 'null', '1e999', '{"__proto__":{"accesses":["coco"]}}').map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.integer({ min: 16 * 1024 - 20, max: 20 * 1024 }).map((n) => Buffer.from(JSON.stringify({ accesses: ['x'.repeat(n)] }))) },
);
const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constant(`Bearer ${GOOD}`) },
  { weight: 1, arbitrary: fc.constantFrom(`Bearer ${GOOD}`, `bearer ${GOOD}`, `Bearer  ${GOOD} `, `Bearer ${GOOD}x`, `Bearer ${GOOD} extra`, GOOD, `Basic ${Buffer.from(`x:${GOOD}`).toString('base64')}`, 'Bearer', 'Bearer ', `Bearer ${'a'.repeat(15 * 1024)}`, `Bearer ${'a'.repeat(16 * 1024 + 1)}`, '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s)).map((s) => `Bearer ${s}`) },
);
const contentType = fc.option(
  fc.oneof({ weight: 3, arbitrary: fc.constant('application/json') }, 
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/json; charset=bogus', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json', 'application/json, text/plain')),
  { nil: undefined },
);
const contentEncoding = fc.option(fc.constantFrom('identity', 'gzip', 'deflate', 'br', 'bogus', 'gzip, gzip'), { nil: undefined, freq: 8 });
const PATHS = ['/v1/keys', '/v1/keys/', '/v1/keys?x=1', '/V1/KEYS', '/v1//keys', '/v1/keys/../keys', '/v1/%6beys', '/healthz', '/readyz', '/metrics', '/', '/v1', '/v2/keys', '/v1/keys%00', '/%2e%2e/v1/keys'];
const METHODS = ['POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
/** Mostly POST /v1/keys, so the fuzzing reaches the body and the grants, not only the router. */
const target = fc.oneof({ weight: 3, arbitrary: fc.constant(['POST', '/v1/keys'] as const) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...METHODS), fc.constantFrom(...PATHS)) });

// ── /v1/sign and /v1/list ─────────────────────────────────────────────────────────────────────

/** blobs and gcsdata sign; imagenet is s3 (409); coco is not Ready; the rest do not exist or are malformed. */
const accessName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('blobs', 'gcsdata') },
  { weight: 2, arbitrary: fc.constant('imagenet') },
  { weight: 2, arbitrary: fc.constantFrom('coco', 'missing', '', 'BLOBS', 'blobs/', 'a'.repeat(254), '__proto__', 7) },
);
const objectKey = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 12 }).map((s) => `imagenet/${s}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).map((s) => `imagenet/${s}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('coco/a', 'imagenetx/a', '../imagenet/a', 'imagenet/../coco/a', 'imagenet/./a', 'imagenet/%2e%2e/a', '/imagenet/a', 'imagenet/', 'imagenet//a', 'imagenet/a\\b', 'imagenet/\u0000', 'imagenet/\ud800', 'imagenet/\uff0e\uff0e/a', 'imagenet/e\u0301', `imagenet/${'y'.repeat(1100)}`, ''),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'get', '', 1, null, ['GET']) });
const expiresSeconds = fc.oneof(fc.integer({ min: -5, max: 700_000 }), fc.constantFrom(0, 1, 1.5, 604_800, 604_801, '60', null, 1e300));
const signFields = { access: accessName, method, keys: fc.oneof({ weight: 6, arbitrary: fc.array(objectKey, { maxLength: 4 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }), expiresSeconds };
/** Keys every signer accepts, so well-formed bodies reach signing often. */
const plainKey = fc.tuple(fc.constantFrom('imagenet/', 'imagenet/train/'), fc.string({ unit: fc.constantFrom(...'abz09-_ ()=!~é日'), minLength: 1, maxLength: 10 })).map(([p, s]) => p + s);
const signValue = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      { access: fc.constantFrom('blobs', 'gcsdata', 'imagenet'), method: fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE'), keys: fc.array(plainKey, { minLength: 1, maxLength: 4 }), expiresSeconds: fc.integer({ min: 1, max: 604_800 }) },
      { requiredKeys: ['access', 'method', 'keys'] },
    ),
  },
  { weight: 3, arbitrary: fc.record(signFields, { requiredKeys: ['access', 'method', 'keys'] }) },
  { weight: 1, arbitrary: fc.record(signFields, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ ...signFields, prefix: fc.string({ maxLength: 5 }) }, { requiredKeys: ['access', 'method', 'keys', 'prefix'] }) },
  { weight: 1, arbitrary: fc.constantFrom(1000, 1001).map((n) => ({ access: 'blobs', method: 'GET', keys: Array.from({ length: n }, (_, i) => `imagenet/${i}`) })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);
const listFields = {
  access: accessName,
  prefix: fc.oneof(fc.constantFrom('imagenet/', 'imagenet/train/', 'coco/', 'imagenet', '', '../', 'imagenet/../coco/'), fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
  continuationToken: fc.oneof(fc.string({ maxLength: 8 }), fc.constant('t'.repeat(2049)), fc.jsonValue({ maxDepth: 1 })),
  maxResults: fc.oneof(fc.integer({ min: -1, max: 5002 }), fc.constantFrom(0, 1, 5000, 5001, 2.5, '10', null)),
};
const listValue = fc.oneof(
  { weight: 6, arbitrary: fc.record(listFields, { requiredKeys: ['access'] }) },
  { weight: 1, arbitrary: fc.record({ ...listFields, keys: fc.constant(['imagenet/a']) }, { requiredKeys: ['access', 'keys'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);
const signRawBody = (value: fc.Arbitrary<unknown>, limit: number) =>
  fc.oneof(
    { weight: 10, arbitrary: value.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constantFrom('{"access":"blobs","method":"GET","keys":["imagenet/a"]', '{"access":"blobs","method":"GET","keys":["imagenet/a"]}x', '{"access":"blobs","access":"imagenet","method":"GET","keys":["imagenet/a"]}', '{"__proto__":{"access":"blobs"}}', 'null', '1e999').map((s) => Buffer.from(s)) },
    { weight: 2, arbitrary: fc.integer({ min: limit - 20, max: limit + 1024 }).map((n) => Buffer.from(JSON.stringify({ access: 'blobs', method: 'GET', keys: ['imagenet/' + 'x'.repeat(n)] }))) },
  );
const SIGN_PATHS = ['/v1/sign', '/v1/list', '/v1/sign/', '/V1/LIST', '/v1/sign?access=blobs', '/v1/signs', '/v2/sign'];
/** Mostly no Content-Encoding here, so more bodies reach the signer than the body parser's refusals. */
const signContentEncoding = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: contentEncoding });
/** Mostly POST to the two routes, each with its own body shapes and size limit. */
const signRequest = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constant('POST'), fc.constant('/v1/sign'), fc.option(signRawBody(signValue, ISSUER_DEFAULTS.signBodyLimitBytes), { nil: undefined, freq: 8 })) },
  { weight: 3, arbitrary: fc.tuple(fc.constant('POST'), fc.constant('/v1/list'), fc.option(signRawBody(listValue, ISSUER_DEFAULTS.bodyLimitBytes), { nil: undefined, freq: 8 })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...METHODS), fc.constantFrom(...SIGN_PATHS), fc.option(rawBody, { nil: undefined, freq: 3 })) },
);

describe('POST /v1/sign and /v1/list, fuzzed', () => {
  it('answer any request with a documented code, no 5xx, no planted secret, and signed URLs only in a 200 for the keys asked', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(signRequest, authorization, contentType, signContentEncoding, async ([method, path, body], auth, type, encoding) => {
        const headers: Record<string, string> = {};
        if (auth) headers.authorization = auth;
        if (type) headers['content-type'] = type;
        if (encoding) headers['content-encoding'] = encoding;
        const payload = body && encoding === 'gzip' ? gzipSync(body) : body;
        const before = stsCalls.length;
        const r = await send(method, path, headers, method === 'GET' || method === 'HEAD' ? undefined : payload);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const where = `${method} ${path} ${JSON.stringify(headers).slice(0, 160)} ${payload?.subarray(0, 120).toString('utf8') ?? ''} → ${r.status} ${r.body.slice(0, 200)}`;
        const all = r.body + JSON.stringify(r.headers);
        expect(r.status, where).toBeLessThan(500);
        for (const secret of [PLANTED.issuerSecret, PLANTED.accountKey, PLANTED.gcsSecret, 'PLANTEDbearerTOKEN']) expect(all, where).not.toContain(secret);
        // Signing and listing never mint an STS key.
        expect(stsCalls.length, where).toBe(before);
        if (r.status === 431) return;
        expect(r.headers['cache-control'], where).toBe('no-store');
        if (method === 'HEAD') return;
        expect(r.headers['content-type'], where).toMatch(/^application\/json/);
        const json = JSON.parse(r.body) as { error?: { code: string }; access?: string; expiresInSeconds?: number; urls?: { key: string; url: string }[] };
        if (r.status === 200) {
          expect(method).toBe('POST');
          expect(auth).toMatch(new RegExp(`^bearer +${GOOD.replaceAll('.', '\\.')} *$`, 'i'));
          // Only signing can succeed here (no access grants list): each key asked, in order, for at
          // most the access's session (900 s), each URL's path naming that key in the container or bucket.
          const asked = JSON.parse(body?.toString('utf8') ?? 'null') as { access: string; keys: string[]; expiresSeconds?: number };
          expect(path, where).toMatch(/^\/v1\/sign/i);
          expect(['blobs', 'gcsdata'], where).toContain(json.access);
          expect(json.access, where).toBe(asked.access);
          expect(json.expiresInSeconds, where).toBe(Math.min(asked.expiresSeconds ?? 900, 900));
          expect(json.urls?.map((u) => u.key), where).toEqual(asked.keys);
          for (const u of json.urls ?? []) {
            const url = new URL(u.url);
            expect(url.origin + decodeURIComponent(url.pathname), where).toBe(`${json.access === 'blobs' ? 'http://127.0.0.1:10000/devstoreaccount1/datasets' : 'https://storage.googleapis.com/valet-datasets'}/${u.key}`);
            expect(url.searchParams.has(json.access === 'blobs' ? 'sig' : 'X-Goog-Signature'), where).toBe(true);
          }
        } else {
          const code = json.error?.code ?? '';
          expect(Object.hasOwn(ISSUER_ERRORS, code), where).toBe(true);
          expect(ISSUER_ERRORS[code as keyof typeof ISSUER_ERRORS].status, where).toBe(r.status);
          expect(r.body, where).not.toMatch(/sig=|X-Goog-Signature/);
        }
      }),
      {
        numRuns: SIGN_RUNS,
        // Known requests for the rarer answers run first, so every status below is reached whatever the seed.
        examples: [
          [['POST', '/v1/sign', Buffer.from('{"access":"blobs","method":"GET","keys":["imagenet/a"]}')], `Bearer ${GOOD}`, 'application/json', undefined],
          [['POST', '/v1/list', Buffer.from('{"access":"gcsdata"}')], `Bearer ${GOOD}`, 'application/json', undefined],
          [['POST', '/v1/sign', Buffer.from('{"access":"blobs","method":"GET","keys":["coco/a"]}')], `Bearer ${GOOD}`, 'application/json', undefined],
          [['POST', '/v1/list', Buffer.from(JSON.stringify({ access: 'blobs', prefix: 'x'.repeat(17 * 1024) }))], `Bearer ${GOOD}`, 'application/json', undefined],
        ],
      },
    );
    process.stdout.write(`sign/list fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}\n`);
    for (const st of [200, 400, 401, 403, 404, 405, 409, 413, 415]) expect(statuses.has(st), `status ${st} reached`).toBe(true);
  });
});

// ── properties ────────────────────────────────────────────────────────────────────────────────

describe('the issuer HTTP app, fuzzed', () => {
  it('answers any request with a documented code, no 5xx, no secret of the issuer or a caller, and no STS call unless it issues a key', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(target, authorization, contentType, contentEncoding, fc.option(rawBody, { nil: undefined, freq: 5 }), async ([method, path], auth, type, encoding, body) => {
        const headers: Record<string, string> = {};
        if (auth) headers.authorization = auth;
        if (type) headers['content-type'] = type;
        if (encoding) headers['content-encoding'] = encoding;
        const payload = body && encoding === 'gzip' ? gzipSync(body) : body;
        const before = stsCalls.length;
        const r = await send(method, path, headers, method === 'GET' || method === 'HEAD' ? undefined : payload);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const where = `${method} ${path} ${JSON.stringify(headers).slice(0, 160)} ${payload?.subarray(0, 80).toString('utf8') ?? ''} → ${r.status} ${r.body.slice(0, 200)}`;
        const all = r.body + JSON.stringify(r.headers);
        expect(r.status, where).toBeLessThan(500);
        expect(all, where).not.toContain(PLANTED.issuerSecret);
        expect(all, where).not.toContain('PLANTEDbearerTOKEN');
        if (r.status !== 200) {
          expect(stsCalls.length, where).toBe(before);
          expect(all, where).not.toContain(PLANTED.minted);
          expect(all, where).not.toContain(PLANTED.session);
        }
        // Headers over Node's 16 KiB limit are refused by the HTTP parser before the app runs.
        if (r.status === 431) return;
        expect(r.headers['cache-control'], where).toBe('no-store');
        if (method === 'HEAD' || (r.status === 200 && /^\/(healthz|readyz)/.test(path))) return;
        expect(r.headers['content-type'], where).toMatch(/^application\/json/);
        const json = JSON.parse(r.body) as { error?: { code: string; message: string }; keys?: unknown[] };
        if (r.status === 200) {
          expect(method).toBe('POST');
          expect(auth).toMatch(new RegExp(`^bearer +${GOOD.replaceAll('.', '\\.')} *$`, 'i'));
          expect(json.keys?.length).toBeGreaterThan(0);
        } else {
          const code = json.error?.code ?? '';
          expect(Object.hasOwn(ISSUER_ERRORS, code), where).toBe(true);
          expect(ISSUER_ERRORS[code as keyof typeof ISSUER_ERRORS].status, where).toBe(r.status);
        }
      }),
      {
        numRuns: RUNS,
        // Known requests for the rarer answers run first, so every status below is reached whatever the seed.
        examples: [
          [['POST', '/v1/keys'], `Bearer ${GOOD}`, 'application/json', undefined, Buffer.from('{"accesses":["missing"]}')],
          [['POST', '/v1/keys'], `Bearer ${GOOD}`, 'application/json', undefined, Buffer.from('{"accesses":["imagenet"]}')],
          [['POST', '/v1/keys'], `Bearer ${GOOD}`, 'text/plain', undefined, Buffer.from('x')],
          [['POST', '/v1/keys'], `Bearer ${GOOD}`, 'application/json', undefined, Buffer.from(JSON.stringify({ accesses: ['x'.repeat(17 * 1024)] }))],
        ],
      },
    );
    process.stdout.write(`issuer fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}\n`);
    for (const st of [200, 400, 401, 403, 404, 405, 413, 415]) expect(statuses.has(st), `status ${st} reached`).toBe(true);
  });

  it('refuses a compressed body that inflates past the limit (a zip bomb) with 413, without minting', async () => {
    const before = stsCalls.length;
    const bomb = gzipSync(Buffer.from(JSON.stringify({ accesses: ['a'], pad: ' '.repeat(50 * 1024 * 1024) })));
    expect(bomb.length).toBeLessThan(100 * 1024);
    const r = await send('POST', '/v1/keys', { authorization: `Bearer ${GOOD}`, 'content-type': 'application/json', 'content-encoding': 'gzip' }, bomb);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'PayloadTooLarge' } });
    expect(stsCalls.length).toBe(before);
  });

  it('logged no planted secret and no error', () => {
    const text = JSON.stringify(logger.lines);
    for (const needle of [PLANTED.issuerSecret, PLANTED.minted, PLANTED.session, PLANTED.accountKey, PLANTED.gcsSecret, 'PLANTEDbearerTOKEN']) expect(text).not.toContain(needle);
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});

