// The HTTP surface with small fakes behind it (plain HTTP on loopback); the lab suite
// test/issuer.lab.test.ts runs the same app over TLS against the real servers.
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createIssuerMetrics } from '../metrics/issuer.ts';
import { ValetError } from '../platform/errors.ts';
import { memoryLogger } from '../platform/logger.ts';
import type { Authenticator } from './ports.ts';
import { createIssuerApp, startIssuerServer } from './server.ts';
import type { IssuerAppDeps, IssuerServer } from './server.ts';
import { ScriptedSts, grantSource, pod, readyAccess } from './testdata/fixtures.ts';

const never = new Promise<never>(() => {});
const authenticator: Authenticator = {
  authenticate: async (bearer) => {
    if (bearer === 'good') return pod();
    if (bearer === 'with-default') return { ...pod(), defaultAccess: 'imagenet' };
    if (bearer === 'removed-env') return { ...pod(), removedEnv: 'app=AWS_ACCESS_KEY_ID,AWS_PROFILE;sidecar=AWS_ROLE_ARN' };
    if (bearer === 'slow') return never;
    if (bearer === 'gone') throw new ValetError('PodNotFound', 'pod team-a/trainer-0 that the token is bound to does not exist', 403);
    throw new ValetError('Unauthenticated', `token ${bearer} refused because audience`, 401);
  },
};

const servers: IssuerServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(over: Partial<IssuerAppDeps> = {}) {
  const logger = memoryLogger();
  const registry = new Registry();
  const sts = new ScriptedSts();
  const events: string[] = [];
  const app = createIssuerApp({
    authenticator,
    grants: grantSource([readyAccess('imagenet'), readyAccess('coco', { prefix: 'coco/' }, { ready: false, reason: 'PrefixNotAllowed' })]),
    sts,
    logger,
    metrics: createIssuerMetrics(registry),
    registry,
    events: { record: (a, type, reason, message) => events.push(`${a.kind ?? ''} ${a.metadata.name} ${type} ${reason}${a.kind === 'Pod' ? `: ${message}` : ''}`) },
    ...over,
  });
  const server = await startIssuerServer({ app, tls: undefined, host: '127.0.0.1', port: 0 });
  servers.push(server);
  const post = (token?: string, body?: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/v1/keys`, {
      method: 'POST',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body,
    });
  return { logger, registry, sts, events, post, url: server.url };
}

describe('POST /v1/keys', () => {
  it('answers 200 with a key per grant in the container-credentials shape', async () => {
    const { post, sts } = await start();
    const res = await post('good', JSON.stringify({ accesses: ['imagenet'] }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(body.keys).toHaveLength(1);
    expect(body.keys[0]).toMatchObject({
      access: 'imagenet',
      bucket: 'datasets',
      prefix: 'imagenet/',
      verbs: ['read', 'list'],
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      credentials: { AccessKeyId: 'ASIA1', SecretAccessKey: 'secret-1', SessionToken: 'session-1', Expiration: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) },
    });
    expect(sts.calls[0]?.roleSessionName).toBe('valet.team-a.trainer-0');
  });

  it('answers 401 with no detail, whatever the reason', async () => {
    const { post } = await start();
    for (const res of [await post(), await post('bad'), await post(undefined, undefined, { authorization: 'Basic eDp5' })]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toEqual({ error: { code: 'Unauthenticated', message: 'authentication failed' } });
    }
  });

  it('answers 403 with the code and reasons', async () => {
    const { post, events } = await start();
    const gone = await post('gone');
    expect(gone.status).toBe(403);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('PodNotFound');
    const coco = await post('good', JSON.stringify({ accesses: ['coco'] }));
    expect(coco.status).toBe(403);
    expect(coco.headers.get('retry-after')).toBe('10');
    const body = (await coco.json()) as { error: { code: string; reasons: unknown[] } };
    expect(body.error.code).toBe('AccessNotReady');
    expect(body.error.reasons[0]).toEqual({ access: 'team-a/coco', reason: 'NotReady', message: 'not Ready: PrefixNotAllowed' });
    // A second refusal within the interval adds no Event.
    await post('good', JSON.stringify({ accesses: ['coco'] }));
    // A second refusal within the interval adds no Event; a request that named its access gets its
    // answer in the response, and writes no Event on the pod.
    expect(events).toEqual(['DatasetAccess coco Warning KeyRefusedNotReady']);
  });

  it('puts a Warning Event on a pod whose only accesses are not Ready, when its sidecar asks for its keys', async () => {
    const { post, events } = await start({ grants: grantSource([readyAccess('coco', { prefix: 'coco/' }, { ready: false, reason: 'PrefixNotAllowed' })]) });
    expect((await post('good')).status).toBe(403);
    expect(events).toEqual([
      'DatasetAccess coco Warning KeyRefusedNotReady',
      'Pod trainer-0 Warning KeyRefusedAccessNotReady: valet sidecar holds no key: the DatasetAccess objects naming this pod are not Ready (coco: NotReady); see the DatasetAccess conditions (kubectl describe datasetaccess). The app containers start once a key is issued.',
    ]);
  });

  it('puts a Warning Event on a pod granted by several accesses that names no default, and still issues them all', async () => {
    const two = () => grantSource([readyAccess('imagenet'), readyAccess('coco', { prefix: 'coco/' })]);
    const { post, events } = await start({ grants: two() });
    const res = await post('good');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { keys: unknown[] }).keys).toHaveLength(2);
    expect(events).toEqual([
      'Pod trainer-0 Warning NoDefaultAccess: pod is granted by 2 DatasetAccess objects (coco, imagenet) and names no default: AWS SDKs using the plain credentials URI get no key. Set the pod annotation valet.dev/default-access, or point each client at /v1/credentials/<access>',
    ]);
    // With the annotation, or with one grant, there is nothing to say.
    const named = await start({ grants: two() });
    expect((await named.post('with-default')).status).toBe(200);
    const one = await start({ grants: grantSource([readyAccess('imagenet')]) });
    expect((await one.post('good')).status).toBe(200);
    expect([...named.events, ...one.events]).toEqual([]);
  });

  it('puts a Warning Event on a pod whose spec set competing AWS variables the webhook removed, naming them and no value', async () => {
    const { post, events } = await start({ grants: grantSource([readyAccess('imagenet')]) });
    expect((await post('removed-env')).status).toBe(200);
    expect(events).toEqual([
      "Pod trainer-0 Warning CompetingCredentialsRemoved: valet removed variables the pod spec set that would make AWS SDKs use other keys than valet's (app=AWS_ACCESS_KEY_ID,AWS_PROFILE; sidecar=AWS_ROLE_ARN). To keep a container's own keys, name it in valet.dev/skip-containers",
    ]);
    const plain = await start({ grants: grantSource([readyAccess('imagenet')]) });
    expect((await plain.post('good')).status).toBe(200);
    expect(plain.events).toEqual([]);
  });

  it('puts a Warning Event on a pod that no DatasetAccess grants, saying why and what to do', async () => {
    const { post, events } = await start({ grants: grantSource([]) });
    const res = await post('good');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NoGrant');
    await post('good');
    expect(events).toEqual([
      'Pod trainer-0 Warning KeyRefusedNoGrant: valet sidecar holds no key: no DatasetAccess in namespace team-a grants service account trainer; create a DatasetAccess whose subjects include it, or remove the valet.dev/inject label. The app containers start once a key is issued.',
    ]);
  });

  it('answers 400 for bad bodies, 413 for big ones, 415 for other types, 405 for other methods', async () => {
    const { post, url } = await start();
    expect((await post('good', '{oops')).status).toBe(400);
    expect((await post('good', '[]')).status).toBe(400);
    expect((await post('good', '{"accesses": [1]}')).status).toBe(400);
    expect((await post('good', '{"other": 1}')).status).toBe(400);
    expect((await post('good', JSON.stringify({ accesses: ['a'.repeat(17_000)] }))).status).toBe(413);
    expect((await post('good', 'accesses=x', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    const get = await fetch(`${url}/v1/keys`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(`${url}/elsewhere`)).status).toBe(404);
  });

  it('authenticates before it reads a byte of the body: a refused bearer is answered while its declared body is still unsent', async () => {
    const { url } = await start({ settings: { requestTimeoutMs: 3000 } });
    const { hostname, port } = new URL(url);
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(port), hostname, () => {
        // Headers only: the body the request announces never comes.
        sock.write('POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer stranger\r\nContent-Type: application/json\r\nContent-Length: 9000\r\n\r\n');
      });
      let got = '';
      sock.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.includes('\r\n\r\n')) {
          sock.destroy();
          resolve(got);
        }
      });
      sock.on('error', reject);
    });
    // Had the body been read first, the deadline (a 504) would have come before any answer.
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('refuses a compressed body (415) and a declared oversize one (413) without inflating or reading it', async () => {
    const { post } = await start();
    const gz = await post('good', gzipSync(JSON.stringify({ accesses: ['imagenet'] })) as unknown as string, { 'content-encoding': 'gzip' });
    expect(gz.status).toBe(415);
    const big = await post('good', 'x'.repeat(20_000));
    expect(big.status).toBe(413);
  });

  it('answers 504 by the deadline when a dependency hangs', async () => {
    // The authenticator never answers: only the deadline can produce this 504 (no wall-clock check).
    const { post } = await start({ settings: { requestTimeoutMs: 150 } });
    const res = await post('slow');
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('Timeout');
  });

  it('answers 503 Overloaded with Retry-After when the concurrency limit is reached', async () => {
    const { post } = await start({ settings: { requestTimeoutMs: 500, maxConcurrentRequests: 1 } });
    const first = post('slow');
    await new Promise((r) => setTimeout(r, 50));
    const second = await post('good');
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('Overloaded');
    expect((await first).status).toBe(504);
    expect((await post('good')).status).toBe(200);
  });

  it('writes one audit line per issuance and refusal, without secrets, and counts results', async () => {
    const { post, logger, registry } = await start();
    await post('good');
    await post('supersecrettoken');
    const lines = logger.lines.filter((l) => l.audit === true);
    expect(lines.map((l) => [l.result, l.code])).toEqual([
      ['issued', 'OK'],
      ['refused', 'Unauthenticated'],
    ]);
    expect(lines[0]).toMatchObject({ namespace: 'team-a', serviceAccount: 'trainer', pod: 'trainer-0', podUid: 'uid-0', access: 'imagenet', bucket: 'datasets', prefix: 'imagenet/', verbs: ['read', 'list'], sessionName: 'valet.team-a.trainer-0', accessKeyId: 'ASIA1' });
    const all = JSON.stringify(logger.lines);
    for (const secret of ['secret-1', 'session-1', 'supersecrettoken', 'issuer-secret']) expect(all).not.toContain(secret);
    const text = await registry.metrics();
    expect(text).toMatch(/valet_issuer_requests_total\{code="OK"\} 1/);
    expect(text).toMatch(/valet_issuer_requests_total\{code="Unauthenticated"\} 1/);
    expect(text).toMatch(/valet_issuer_sts_calls_total\{store="DatasetStore\/team-a\/lab",result="ok"\} 1/);
  });

  it('serves /healthz, and /readyz from the ready callback', async () => {
    let ready = false;
    const { url } = await start({ ready: () => ready });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });
});
