// Property fuzzing of the issuer's HTTP face (server.ts) on a real loopback socket, with small
// fakes behind it whose values are planted secrets: the issuer's long-term store key, the keys STS
// mints, and the one bearer token the fake authenticator accepts. Whatever method, path, headers
// and body arrive, the answer is JSON with a code from docs/errors.md, never a 5xx for bad input,
// never the issuer's key or a bearer token, and a refused request never reached STS.
// server.test.ts holds the examples.
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValetError } from '../platform/errors.ts';
import { memoryLogger } from '../platform/logger.ts';
import { ISSUER_ERRORS } from './errors.ts';
import type { Authenticator } from './ports.ts';
import { createIssuerApp, startIssuerServer } from './server.ts';
import type { IssuerServer } from './server.ts';
import type { AssumeRoleParams, AssumedKey, Sts } from './sts.ts';
import { grantSource, pod, readyAccess } from './testdata/fixtures.ts';

const RUNS = 400;
const GOOD = 'eyJhbGciOiJSUzI1NiJ9.PLANTEDbearerTOKEN.c2lnbmF0dXJl';
const PLANTED = { issuerSecret: 'PLANTEDissuerLONGtermSECRET', minted: 'PLANTEDmintedSECRET', session: 'PLANTEDmintedSESSION' };

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

let server: IssuerServer;
const logger = memoryLogger();

beforeAll(async () => {
  const app = createIssuerApp({
    authenticator,
    grants: grantSource([readyAccess('imagenet'), readyAccess('coco', { prefix: 'coco/' }, { ready: false, reason: 'PrefixNotAllowed' })], undefined, { accessKeyId: 'AKIDISSUER', secretAccessKey: PLANTED.issuerSecret }),
    sts,
    logger,
  });
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
      { numRuns: RUNS },
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
    for (const needle of [PLANTED.issuerSecret, PLANTED.minted, PLANTED.session, 'PLANTEDbearerTOKEN']) expect(text).not.toContain(needle);
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
