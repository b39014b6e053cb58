// Local process, for speed: the same sidecar and issuer run in pods in test/node/training-job.lab.test.ts.
// Bad input, counted: a table of malformed and hostile requests to the three network faces of
// Valet, each sent to the real component in the lab (the issuer over TLS with real TokenReview,
// `valet sidecar` as its own process against that issuer, the webhook's HTTP handler), each
// expected to get a clear refusal (status and stable code), and none leaving partial state: no
// STS call, no Secret, ConfigMap, Event or Pod created, no key fetched, no URL signed. The CRD
// table in test/api.lab.test.ts (invalid stores and accesses) and the presign escapes in
// test/sidecar.lab.test.ts count toward the same total; docs/security.md lists them.
import { request as httpRequest, createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { WEBHOOK_DEFAULTS } from '../../src/config/webhook.ts';
import { createWebhookMetrics } from '../../src/metrics/webhook.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createWebhookHandler } from '../../src/webhook/server.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { leaks, metric, startWorld, stopAndListLeftovers } from '../lab/world.ts';
import type { SidecarProcess, World } from '../lab/world.ts';

let w: World;
let sidecar: SidecarProcess;
let webhook: Server;
let webhookPort: number;
let good: string;
let otherAudience: string;
const webhookLines: string[] = [];

beforeAll(async () => {
  w = await startWorld({
    ns: 'hostile',
    accesses: {
      imagenet: { prefix: 'imagenet/', verbs: ['read', 'list'], presign: { enabled: true, maxExpirySeconds: 600 } },
      checkpoints: { prefix: 'checkpoints/', verbs: ['write'] },
    },
  });
  good = (await w.podToken('caller-0')).token;
  const pod = await w.lab.core.readNamespacedPod({ name: 'caller-0', namespace: w.ns });
  otherAudience = await w.lab.token(w.ns, 'trainer', { audience: 'sts.amazonaws.com', boundPod: { name: 'caller-0', uid: pod.metadata?.uid ?? '' } });
  w.secrets.add(otherAudience);
  sidecar = await w.spawnSidecar('sidecar-0', ['--accesses=imagenet']);
  const settings = { ...WEBHOOK_DEFAULTS.injection, image: 'valet:test', issuerUrl: w.issuer.url };
  webhook = createServer(
    createWebhookHandler({ settings, lookup: { accesses: () => [], store: () => undefined }, logger: createLogger({ level: 'debug', write: (l) => webhookLines.push(l) }), metrics: createWebhookMetrics(new Registry()), maxBodyBytes: 256 * 1024 }),
  );
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', () => r()));
  webhookPort = (webhook.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => (webhook ? webhook.close(() => r()) : r()));
  await w?.stop();
});
useLabLogs(() => w);

// ── how each face is called ───────────────────────────────────────────────────────────────────

interface Outcome {
  status: number;
  /** The stable code from the JSON body, or what the HTTP layer answered. */
  code: string;
  body: string;
}

const codeOf = (body: string): string => {
  try {
    const j = JSON.parse(body) as { error?: { code?: string }; response?: { allowed?: boolean; patch?: string } };
    if (j.error?.code) return j.error.code;
    if (j.response) return j.response.allowed ? (j.response.patch ? 'Patched' : 'AllowedUnchanged') : 'Refused';
  } catch {
    // not JSON
  }
  return '(no JSON)';
};

async function issuer(method: string, path: string, o: Parameters<World['call']>[2] = {}): Promise<Outcome> {
  const r = await w.call(method, path, o);
  return { status: r.status, code: codeOf(r.body), body: r.body };
}

function plain(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: codeOf(text), body: text }));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? resolve({ status: 0, code: `closed (${err.code})`, body: '' }) : reject(err)));
    req.end(body);
  });
}

/** Raw bytes on a socket: for requests no HTTP client will send. Resolves with the status line's code. */
function raw(port: number, bytes: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('error', () => undefined);
    s.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      resolve({ status, code: status ? codeOf(body) : 'closed', body });
    });
    s.write(bytes);
    setTimeout(() => s.end(), 200);
  });
}

const car = (method: string, path: string, o: { auth?: string | null; headers?: Record<string, string>; body?: Buffer | string } = {}) =>
  plain(sidecar.port, method, path, { ...(o.auth === null ? {} : { authorization: o.auth ?? sidecar.authToken() }), ...o.headers }, o.body);
const hook = (method: string, path: string, body?: Buffer | string, contentType = 'application/json') => plain(webhookPort, method, path, contentType ? { 'content-type': contentType } : {}, body);
const review = (over: Record<string, unknown> = {}, request: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'hostile', object: { metadata: { labels: { 'valet.dev/inject': 'true' } }, spec: { containers: [{ name: 'app' }] } }, ...request }, ...over });
const keysBody = (v: unknown) => ({ token: good, body: JSON.stringify(v) });
const BIG_HEADER = { 'x-pad': 'a'.repeat(20 * 1024) };

/** [face, what is wrong, the call, expected status, expected code] */
type Row = [string, string, () => Promise<Outcome>, number, string | RegExp];

const ROWS: Row[] = [
  // The issuer: POST /v1/keys over TLS, real TokenReview behind it.
  ['issuer', 'no Authorization header', () => issuer('POST', '/v1/keys'), 401, 'Unauthenticated'],
  ['issuer', 'Basic credentials instead of a bearer token', () => issuer('POST', '/v1/keys', { authorization: 'Basic dXNlcjpwYXNz' }), 401, 'Unauthenticated'],
  ['issuer', 'a bearer token that is not a JWT', () => issuer('POST', '/v1/keys', { token: 'garbage.garbage.garbage' }), 401, 'Unauthenticated'],
  ['issuer', 'a pod token for another audience (sts.amazonaws.com)', () => issuer('POST', '/v1/keys', { token: otherAudience }), 401, 'Unauthenticated'],
  ['issuer', 'a pod token with its payload altered (signature no longer matches)', () => issuer('POST', '/v1/keys', { token: tamper(good) }), 401, 'Unauthenticated'],
  ['issuer', 'a pod token with its signature cut off', () => issuer('POST', '/v1/keys', { token: good.split('.').slice(0, 2).join('.') + '.' }), 401, 'Unauthenticated'],
  ['issuer', 'two bearer tokens in one header', () => issuer('POST', '/v1/keys', { authorization: `Bearer ${good} ${good}` }), 401, 'Unauthenticated'],
  ['issuer', 'a body that is not JSON', () => issuer('POST', '/v1/keys', { token: good, body: '{"accesses": [' }), 400, 'BadRequest'],
  ['issuer', 'a JSON array body', () => issuer('POST', '/v1/keys', keysBody(['imagenet'])), 400, 'BadRequest'],
  ['issuer', 'accesses as a string', () => issuer('POST', '/v1/keys', keysBody({ accesses: 'imagenet' })), 400, 'BadRequest'],
  ['issuer', '65 accesses', () => issuer('POST', '/v1/keys', keysBody({ accesses: Array.from({ length: 65 }, (_, i) => `a${i}`) })), 400, 'BadRequest'],
  ['issuer', 'an access named with a path (another namespace)', () => issuer('POST', '/v1/keys', keysBody({ accesses: ['other-team/imagenet'] })), 400, 'BadRequest'],
  ['issuer', 'an access named ../imagenet', () => issuer('POST', '/v1/keys', keysBody({ accesses: ['../imagenet'] })), 400, 'BadRequest'],
  ['issuer', 'an unknown field (roleArn: a tenant choosing the role)', () => issuer('POST', '/v1/keys', keysBody({ accesses: ['imagenet'], roleArn: 'arn:aws:iam::1:role/admin' })), 400, 'BadRequest'],
  ['issuer', 'a __proto__ key (prototype pollution)', () => issuer('POST', '/v1/keys', { token: good, body: '{"__proto__": {"accesses": ["checkpoints"]}}' }), 400, 'BadRequest'],
  ['issuer', 'a body over 16 KiB', () => issuer('POST', '/v1/keys', keysBody({ accesses: ['x'.repeat(17_000)] })), 413, 'PayloadTooLarge'],
  ['issuer', 'a gzip body that inflates to 50 MiB', () => issuer('POST', '/v1/keys', { token: good, body: gzipSync(Buffer.from(JSON.stringify({ pad: ' '.repeat(50 * 2 ** 20) }))), headers: { 'content-encoding': 'gzip' } }), 413, 'PayloadTooLarge'],
  ['issuer', 'a form body', () => issuer('POST', '/v1/keys', { token: good, body: 'accesses=imagenet', contentType: 'application/x-www-form-urlencoded' }), 415, 'UnsupportedMediaType'],
  ['issuer', 'JSON in a non-Unicode charset (latin1)', () => issuer('POST', '/v1/keys', { token: good, body: '{"accesses":["imagenet"]}', contentType: 'application/json; charset=latin1' }), 415, 'UnsupportedMediaType'],
  ['issuer', 'an unknown content encoding', () => issuer('POST', '/v1/keys', { token: good, body: '{}', headers: { 'content-encoding': 'x-evil' } }), 415, 'UnsupportedMediaType'],
  ['issuer', 'GET /v1/keys', () => issuer('GET', '/v1/keys', { token: good }), 405, 'MethodNotAllowed'],
  ['issuer', 'PUT /v1/keys', () => issuer('PUT', '/v1/keys', keysBody({})), 405, 'MethodNotAllowed'],
  ['issuer', 'DELETE /v1/keys', () => issuer('DELETE', '/v1/keys', { token: good }), 405, 'MethodNotAllowed'],
  ['issuer', 'a path below /v1/keys', () => issuer('POST', '/v1/keys/imagenet', { token: good }), 404, 'NotFound'],
  ['issuer', 'an unknown path', () => issuer('GET', '/admin', { token: good }), 404, 'NotFound'],
  ['issuer', 'headers of 20 KiB', () => issuer('POST', '/v1/keys', { token: good, headers: BIG_HEADER }), 431, '(no JSON)'],
  ['issuer', "an access the pod's namespace does not have", () => issuer('POST', '/v1/keys', keysBody({ accesses: ['secret-data'] })), 403, 'NoGrant'],
  ['issuer', 'an access that grants write only, asked by a pod whose SA it names, but together with a missing one', () => issuer('POST', '/v1/keys', keysBody({ accesses: ['checkpoints', 'missing'] })), 403, 'NoGrant'],

  // The sidecar: `valet sidecar` as a process, loopback port.
  ['sidecar', 'no Authorization value', () => car('GET', '/v1/credentials', { auth: null }), 401, 'Unauthorized'],
  ['sidecar', 'a guessed Authorization value', () => car('GET', '/v1/credentials', { auth: 'x'.repeat(43) }), 401, 'Unauthorized'],
  ['sidecar', 'the token as a Bearer value', () => car('GET', '/v1/credentials', { auth: `Bearer ${sidecar.authToken()}` }), 401, 'Unauthorized'],
  ['sidecar', 'an unknown route, without the token (no probing)', () => car('GET', '/v1/admin', { auth: null }), 401, 'Unauthorized'],
  ['sidecar', 'POST /v1/credentials', () => car('POST', '/v1/credentials', { body: '{}' }), 405, 'MethodNotAllowed'],
  ['sidecar', 'DELETE /v1/presign', () => car('DELETE', '/v1/presign?key=imagenet/a.bin'), 405, 'MethodNotAllowed'],
  ['sidecar', 'PUT /v1/manifest/imagenet', () => car('PUT', '/v1/manifest/imagenet', { body: 'x' }), 405, 'MethodNotAllowed'],
  ['sidecar', 'an unknown route', () => car('GET', '/v1/admin'), 404, 'NotFound'],
  ['sidecar', 'credentials of an access the pod does not hold', () => car('GET', '/v1/credentials/checkpoints'), 404, 'NoSuchAccess'],
  ['sidecar', 'a key with %2e%2e (encoded dots)', () => car('GET', '/v1/presign?key=imagenet/%252e%252e/coco/a.bin'), 400, 'KeyEncoded'],
  ['sidecar', 'a key with overlong UTF-8 dots (%c0%ae)', () => car('GET', '/v1/presign?key=imagenet/%c0%ae%c0%ae/coco/a.bin'), 400, 'BadQuery'],
  ['sidecar', 'a key with a lone surrogate in UTF-8 (%ed%a0%80)', () => car('GET', '/v1/presign?key=imagenet/%ed%a0%80'), 400, 'BadQuery'],
  ['sidecar', 'a key with a NUL byte', () => car('GET', '/v1/presign?key=imagenet/a%00.bin'), 400, 'KeyInvalidCharacter'],
  ['sidecar', 'a key with fullwidth dots and solidus', () => car('GET', `/v1/presign?key=${encodeURIComponent('imagenet/\uff0e\uff0e\uff0fcoco/a.bin')}`), 400, 'KeyTraversal'],
  ['sidecar', 'a key with a backslash climb', () => car('GET', `/v1/presign?key=${encodeURIComponent('imagenet/..\\coco\\a.bin')}`), 400, 'KeyInvalidCharacter'],
  ['sidecar', 'a key in decomposed Unicode (e + combining accent)', () => car('GET', `/v1/presign?key=${encodeURIComponent('imagenet/cafe\u0301.jpg')}`), 400, 'KeyNotNormalized'],
  ['sidecar', 'two key parameters', () => car('GET', '/v1/presign?key=imagenet/a.bin&key=coco/a.bin'), 400, 'BadQuery'],
  ['sidecar', 'presign method DELETE', () => car('GET', '/v1/presign?key=imagenet/a.bin&method=DELETE'), 400, 'BadMethod'],
  ['sidecar', 'presign PUT on a read-only access', () => car('GET', '/v1/presign?key=imagenet/new.bin&method=PUT'), 403, 'VerbNotGranted'],
  ['sidecar', 'a negative expiry', () => car('GET', '/v1/presign?key=imagenet/a.bin&expires=-1'), 400, 'BadExpires'],
  ['sidecar', 'a manifest of a sibling folder', () => car('GET', '/v1/manifest/imagenet?prefix=imagenet-private/'), 403, 'KeyOutsidePrefix'],
  ['sidecar', 'a manifest in another format', () => car('GET', '/v1/manifest/imagenet?format=xml'), 400, 'BadFormat'],
  ['sidecar', 'headers of 20 KiB', () => car('GET', '/v1/credentials', { headers: BIG_HEADER }), 431, '(no JSON)'],
  ['sidecar', 'a 1 MiB body on POST', () => car('POST', '/v1/credentials', { body: Buffer.alloc(2 ** 20, 'x') }), 405, 'MethodNotAllowed'],
  ['sidecar', 'an HTTP method Node does not know', () => raw(sidecar.port, `BREW /v1/credentials HTTP/1.1\r\nHost: x\r\nAuthorization: ${sidecar.authToken()}\r\n\r\n`), 400, '(no JSON)'],
  ['sidecar', 'request smuggling: Content-Length and Transfer-Encoding together', () => raw(sidecar.port, `POST /v1/credentials HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/credentials HTTP/1.1\r\nHost: x\r\n\r\n`), 400, '(no JSON)'],

  // The webhook: POST /mutate.
  ['webhook', 'a body that is not JSON', () => hook('POST', '/mutate', '<AdmissionReview/>'), 400, 'BadAdmissionReview'],
  ['webhook', 'a YAML content type', () => hook('POST', '/mutate', review(), 'application/yaml'), 400, 'BadAdmissionReview'],
  ['webhook', 'a body over the limit', () => hook('POST', '/mutate', review({ pad: 'x'.repeat(300 * 1024) })), 400, 'BadAdmissionReview'],
  ['webhook', 'an admission.k8s.io/v1beta1 review', () => hook('POST', '/mutate', review({ apiVersion: 'admission.k8s.io/v1beta1' })), 400, 'BadAdmissionReview'],
  ['webhook', 'a review without a request', () => hook('POST', '/mutate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })), 400, 'BadAdmissionReview'],
  ['webhook', 'a review with an empty uid', () => hook('POST', '/mutate', review({}, { uid: '' })), 400, 'BadAdmissionReview'],
  ['webhook', 'a review with an unknown operation', () => hook('POST', '/mutate', review({}, { operation: 'PATCH' })), 400, 'BadAdmissionReview'],
  ['webhook', 'JSON nested 30,000 deep', () => hook('POST', '/mutate', '['.repeat(30_000) + ']'.repeat(30_000)), 400, 'BadAdmissionReview'],
  ['webhook', 'a pod create with no pod object', () => hook('POST', '/mutate', review({}, { object: undefined })), 200, 'Refused'],
  ['webhook', 'a review of a Secret (another kind)', () => hook('POST', '/mutate', review({}, { kind: { group: '', version: 'v1', kind: 'Secret' }, object: { data: { k: 'dg==' } } })), 200, 'AllowedUnchanged'],
  ['webhook', 'a review of pods/exec (CONNECT)', () => hook('POST', '/mutate', review({}, { operation: 'CONNECT', subResource: 'exec' })), 200, 'AllowedUnchanged'],
  ['webhook', 'GET /mutate', () => hook('GET', '/mutate', undefined, ''), 405, 'MethodNotAllowed'],
  ['webhook', 'an unknown path', () => hook('POST', '/validate', review()), 404, 'NotFound'],
];

function tamper(jwt: string): string {
  const [h, p, s] = jwt.split('.');
  const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  payload.exp = Math.floor(Date.now() / 1000) + 10 * 365 * 86400;
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

describe(`${ROWS.length} malformed and hostile requests`, () => {
  it('each gets its refusal, and none leaves state behind: no STS call, no object created, no key fetched, no URL signed', async () => {
    const sidecarMetrics = async () => {
      const t = (await sidecar.get('/metrics', { metrics: true })).body;
      return { refreshes: metric(t, 'valet_sidecar_refreshes_total'), presigns: metric(t, 'valet_sidecar_presigns_total') };
    };
    const before = { sts: w.stsCalls.length, objects: await w.sideEffects(), sidecar: await sidecarMetrics() };
    const wrong: string[] = [];
    for (const [face, what, run, status, code] of ROWS) {
      const sts = w.stsCalls.length;
      const o = await run();
      const codeOk = typeof code === 'string' ? o.code === code : code.test(o.code);
      if (o.status !== status || !codeOk) wrong.push(`${face}: ${what}: got ${o.status} ${o.code}, want ${status} ${String(code)}: ${o.body.slice(0, 160)}`);
      if (w.stsCalls.length !== sts) wrong.push(`${face}: ${what}: made an STS call`);
      for (const s of w.secrets) if (s.length >= 8 && o.body.includes(s)) wrong.push(`${face}: ${what}: a secret in the answer`);
      if (o.body.includes(sidecar.authToken())) wrong.push(`${face}: ${what}: the sidecar auth token in the answer`);
    }
    const after = { sts: w.stsCalls.length, objects: await w.sideEffects(), sidecar: await sidecarMetrics() };
    process.stdout.write(`${ROWS.length} hostile requests (${['issuer', 'sidecar', 'webhook'].map((f) => `${f} ${ROWS.filter((r) => r[0] === f).length}`).join(', ')}): ${ROWS.length - wrong.length} refused as expected; state before ${JSON.stringify(before)}, after ${JSON.stringify(after)}\n`);
    expect(wrong).toEqual([]);
    expect(after).toEqual(before);
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
  });

  it('leaves every component serving: a good request to each still succeeds', async () => {
    const keys = await w.call('POST', '/v1/keys', keysBody({ accesses: ['imagenet'] }));
    expect(keys.status, keys.body).toBe(200);
    for (const k of keys.json().keys ?? []) w.secrets.add(k.credentials.SecretAccessKey).add(k.credentials.SessionToken);
    expect((await car('GET', '/v1/credentials')).status).toBe(200);
    expect((await car('GET', '/v1/presign?key=imagenet/a.bin')).status).toBe(200);
    expect((await hook('POST', '/mutate', review())).code).toBe('Patched');
    expect(sidecar.child.exitCode).toBeNull();
  });

  it('audited the issuer refusals with their codes, and logged no secret anywhere', () => {
    const audit = w.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true && l.result === 'refused');
    const codes = new Set(audit.map((l) => l.code));
    for (const c of ['Unauthenticated', 'BadRequest', 'PayloadTooLarge', 'UnsupportedMediaType', 'NoGrant']) expect(codes).toContain(c);
    w.secrets.add(sidecar.authToken());
    const texts = [...w.logLines, ...sidecar.lines, ...webhookLines].map((line) => ({ where: 'log', line }));
    expect(leaks(w.secrets, texts)).toEqual([]);
  });
});

describe('nothing left behind', () => {
  it('stops every process and removes every folder this suite made', async () => {
    await new Promise<void>((r) => webhook.close(() => r()));
    const world = w;
    w = undefined as unknown as World;
    expect(await stopAndListLeftovers(world)).toEqual([]);
    expect(sidecar.child.exitCode !== null || sidecar.child.signalCode !== null).toBe(true);
    webhook = undefined as unknown as Server;
  });
});
