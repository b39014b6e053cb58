// Property fuzzing of the sidecar's two HTTP faces (http.ts) on real loopback sockets, with a
// fake key source whose keys carry planted secret values: whatever method, path, query, encoding
// and Authorization value a process in the pod sends, the sidecar answers with JSON and a stable
// code (or a probe's text), never a 5xx for bad input, never the auth token, never a secret key
// outside GET /v1/credentials, and never a presigned URL outside the grant. http.test.ts holds
// the examples.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { parseSidecarConfig } from '../config/sidecar.ts';
import { memoryLogger } from '../platform/logger.ts';
import type { FetchResult, KeySource } from './issuer-client.ts';
import { startSidecar } from './sidecar.ts';
import type { Sidecar } from './sidecar.ts';

const RUNS = 400;
const PLANTED = { secret: 'PLANTEDsecretKEY0123456789abcdefghijklmn', session: 'PLANTEDsessionTOKEN0123456789' };
const ACCESSES = { imagenet: ['read', 'list'], checkpoints: ['read', 'list', 'write'], closed: ['read', 'list'] } as const;

const key = (access: keyof typeof ACCESSES) => ({
  access,
  bucket: 'datasets',
  prefix: `${access}/`,
  verbs: [...ACCESSES[access]],
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  presign: access === 'closed' ? { enabled: false } : { enabled: true, maxExpirySeconds: 600 },
  credentials: {
    AccessKeyId: `ASIA${access.toUpperCase()}`,
    SecretAccessKey: `${PLANTED.secret}-${access}`,
    SessionToken: `${PLANTED.session}-${access}`,
    Expiration: new Date(Date.now() + 900_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  },
  expiresInSeconds: 900,
});

let fetches = 0;
const source: KeySource = {
  fetchKeys: async (accesses): Promise<FetchResult> => {
    fetches++;
    return { kind: 'ok', keys: (accesses ?? []).map((a) => key(a as keyof typeof ACCESSES)) };
  },
};

let dir: string;
let s: Sidecar;
const logger = memoryLogger();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'valet-sidecar-fuzz-'));
  s = await startSidecar(
    parseSidecarConfig([
      '--issuer-url=https://issuer.invalid',
      `--auth-token-file=${join(dir, 'token')}`,
      '--port=0',
      '--metrics-address=127.0.0.1:0',
      '--accesses=imagenet,checkpoints,closed',
    ]),
    {
      logger,
      registry: new Registry(),
      source,
      lister: async function* (req) {
        yield [{ key: `${req.prefix}a.bin`, size: 1 }, { key: `${req.prefix}../escape`, size: 1 }, { key: `${req.prefix}%2e%2e/x`, size: 1 }];
      },
    },
  );
});
afterAll(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ── generators ────────────────────────────────────────────────────────────────────────────────

const HOSTILE_KEY_PARTS = ['imagenet/', 'checkpoints/', 'closed/', 'coco/', 'imagenet-private/', '..', '.', '/', '//', '\\', '%2e', '%2E%2E', '%2f', '%252e', '%00', '%c0%ae', '%ff', '%', '%u002e', 'a.bin', ' ', '+', '\uff0e', '\uff0f', '\u2025', 'é', 'e\u0301', '\u200b', '\ud800', '?', '#', '&', '=', ';'];
/** Keys under a folder (granted or not), mostly of ordinary characters, with hostile parts mixed in. */
const hostileKey = fc
  .tuple(
    fc.constantFrom('imagenet/', 'checkpoints/', 'closed/', 'coco/', ''),
    fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom('a.bin', 'x', 'sub/', 'é', 'b c', '+', '~', "it's(1)") }, { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_KEY_PARTS) }), { minLength: 1, maxLength: 6 }),
  )
  .map(([p, a]) => p + a.join(''));

/** How a client might put a string in a query: encoded, encoded twice, or raw (printable ASCII kept). */
/** encodeURIComponent that spells a lone surrogate as the (invalid) UTF-8 of a surrogate instead of throwing. */
const enc = (v: string) => encodeURIComponent(v.toWellFormed()).replaceAll('%EF%BF%BD', '%ED%A0%80');
const spell = (v: string, how: number) => {
  const raw = enc(v).replace(/%(2[EFef5]|5[Cc]|25)/g, (m) => (how === 2 ? decodeURIComponent(m) : m));
  return how === 1 ? encodeURIComponent(enc(v)) : how === 3 ? enc(v).replaceAll('%20', '+') : raw;
};
const PARAMS = ['key', 'key', 'access', 'method', 'expires', 'format', 'prefix', 'x', ''];
const paramValue = fc.oneof(
  hostileKey,
  fc.constantFrom('GET', 'PUT', 'HEAD', 'DELETE', 'get', 'imagenet', 'checkpoints', 'closed', 'nope', 'jsonl', 'urls', '0', '-1', '1e9', '99999999', '600', 'NaN', ''),
  fc.string({ maxLength: 12 }),
);
const query = fc
  .array(fc.tuple(fc.constantFrom(...PARAMS), paramValue, fc.integer({ min: 0, max: 3 })), { maxLength: 5 })
  .map((ps) => ps.map(([n, v, how]) => `${n}=${spell(v, how)}`).join('&'));
const route = fc.oneof(
  fc.constantFrom('/v1/credentials', '/v1/presign', '/v1/manifest', '/healthz', '/readyz', '/metrics', '/', '/v1', '/v1/', '/V1/credentials', '/v1/credentials/', '/v1//credentials'),
  fc.tuple(fc.constantFrom('/v1/credentials/', '/v1/presign/', '/v1/manifest/', '/v1/keys/'), fc.oneof(fc.constantFrom('imagenet', 'checkpoints', 'closed', 'coco', '..', '%2e%2e', '%', '%zz', 'imagenet/..', 'a%2fb'), fc.string({ maxLength: 8 }).map(enc))).map(([a, b]) => a + b),
  fc.string({ maxLength: 20 }).map((p) => `/${enc(p)}`),
);
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

// ── properties ────────────────────────────────────────────────────────────────────────────────

/** Codes the loopback server answers with (http.ts, presign.ts, keys.ts, policy KeyReason). */
const CODE = /^(Unauthorized|NotFound|MethodNotAllowed|BadQuery|BadMethod|BadExpires|BadFormat|KeyMissing|VerbNotGranted|PresignDisabled|NoSuchAccess|NoDefaultAccess|Key[A-Za-z]+|PrefixInvalid)$/;

function assertSafe(r: Reply, authorized: boolean, path: string, method: string): void {
  const where = `${method} ${path} → ${r.status} ${r.body.slice(0, 200)}`;
  const all = r.body + JSON.stringify(r.headers);
  expect(all, where).not.toContain(s.authToken);
  expect(r.status, where).toBeLessThan(500);
  if (!authorized && !/^\/(healthz|readyz)(\?|$)/.test(path)) expect(r.status, where).toBe(401);
  const isCredentials = r.status === 200 && /^\/v1\/credentials(\/|\?|$)/.test(path);
  if (!isCredentials) expect(all, where).not.toContain(PLANTED.secret);
  if (r.status !== 200) expect(all, where).not.toContain(PLANTED.session);
  if (r.status === 200 || method === 'HEAD') return;
  if (/^\/(healthz|readyz)(\?|$)/.test(path)) return;
  expect(r.headers['content-type'], where).toBe('application/json');
  const body = JSON.parse(r.body) as { error?: { code?: unknown; message?: unknown } };
  expect(String(body.error?.code), where).toMatch(CODE);
  expect(typeof body.error?.message, where).toBe('string');
}

describe('the loopback server, fuzzed', () => {
  it('answers any method, path, query and Authorization value with JSON and a stable code, no 5xx, no secret out of place', async () => {
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...METHODS),
        route,
        query,
        fc.oneof(fc.constant('token'), fc.constant('none'), fc.constant('bearer'), fc.constant('padded'), fc.string({ maxLength: 50 }).filter((x) => /^[\x21-\x7e]*$/.test(x))),
        fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
        async (method, path, q, auth, body) => {
          const full = q ? `${path}?${q}` : path;
          const headers: Record<string, string> = {};
          if (auth === 'token') headers.authorization = s.authToken;
          else if (auth === 'bearer') headers.authorization = `Bearer ${s.authToken}`;
          else if (auth === 'padded') headers.authorization = `${s.authToken}x`;
          else if (auth !== 'none') headers.authorization = auth;
          const r = await send(s.port, method, full, headers, method === 'GET' || method === 'HEAD' ? undefined : body);
          assertSafe(r, auth === 'token', full, method);
          statuses.add(r.status);
        },
      ),
      {
        numRuns: RUNS,
        // One known case per kind of answer, run before the random ones, so reaching every kind
        // does not depend on the seed.
        examples: [
          ['GET', '/v1/credentials', '', 'token', undefined],
          ['GET', '/v1/presign', 'access=imagenet&key=..%2Fx&method=GET', 'token', undefined],
          ['GET', '/v1/credentials', '', 'none', undefined],
          ['GET', '/v1/nowhere', '', 'token', undefined],
          ['DELETE', '/v1/credentials', '', 'token', undefined],
        ],
      },
    );
    // The fuzzing reached every kind of answer, not only the 401 in front.
    for (const st of [200, 400, 401, 404, 405]) expect(statuses).toContain(st);
  });

  it('signs only URLs inside the grant: the signed path, decoded, is the validated key under its folder', async () => {
    let signed = 0;
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('imagenet', 'checkpoints'), hostileKey, fc.integer({ min: 0, max: 3 }), fc.constantFrom('GET', 'PUT', 'HEAD'), async (access, k, how, m) => {
        const path = `/v1/presign?access=${access}&method=${m}&key=${spell(k, how)}`;
        const r = await send(s.port, 'GET', path, { authorization: s.authToken });
        assertSafe(r, true, path, 'GET');
        statuses.add(r.status);
        if (r.status !== 200) return;
        signed++;
        const out = JSON.parse(r.body) as { url: string; key: string; method: string; expiresAt: string };
        const raw = out.url.slice(out.url.indexOf('/', 'http://'.length), out.url.indexOf('?'));
        // No client or proxy normalises the path into something else...
        expect(new URL(out.url).pathname).toBe(raw);
        // ...and decoded, it is the checked key, inside the granted folder, with no dot segment.
        const decoded = decodeURIComponent(raw);
        expect(decoded).toBe(`/datasets/${out.key}`);
        expect(out.key.startsWith(`${access}/`)).toBe(true);
        expect(decoded.split('/').some((x) => x === '.' || x === '..')).toBe(false);
        expect(m === 'PUT' ? ACCESSES[access].includes('write' as never) : true).toBe(true);
        expect(Number(new URL(out.url).searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(600);
        expect(out.url).not.toContain(PLANTED.secret);
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: some hostile spellings are legitimate keys and do get signed (about 1 in 15;
    // the bound leaves room for the randomness of each run).
    expect(signed).toBeGreaterThanOrEqual(RUNS / 100);
    for (const st of [200, 400, 403]) expect(statuses).toContain(st);
  });

  it('never serves a manifest entry outside the folder, whatever the store lists', async () => {
    const r = await send(s.port, 'GET', '/v1/manifest/imagenet', { authorization: s.authToken });
    expect(r.status).toBe(200);
    const keys = r.body.trim().split('\n').map((l) => (JSON.parse(l) as { key: string }).key);
    expect(keys).toEqual(['imagenet/a.bin']);
  });

  it('answers anything on the metrics port without a key, a URL or the auth token', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...METHODS), route, query, async (method, path, q) => {
        const full = q ? `${path}?${q}` : path;
        const r = await send(s.metricsPort, method, full, { authorization: s.authToken });
        const all = r.body + JSON.stringify(r.headers);
        expect(r.status).toBeLessThan(500);
        for (const needle of [s.authToken, PLANTED.secret, PLANTED.session, 'X-Amz-Signature']) expect(all, `${method} ${full}`).not.toContain(needle);
      }),
      { numRuns: 150 },
    );
  });

  it('fetched keys only on schedule: no request made the sidecar call the issuer', () => {
    // One fetch per access at start; the fuzzed requests above must not have caused any.
    expect(fetches).toBe(3);
  });

  it('logged none of the planted secrets', () => {
    const text = JSON.stringify(logger.lines);
    for (const needle of [s.authToken, PLANTED.secret, PLANTED.session]) expect(text).not.toContain(needle);
  });
});
