// Property fuzzing of the admission webhook's HTTP adapter (server.ts createWebhookHandler) on a
// real loopback socket: malformed, truncated, oversized and deeply nested bodies, reviews of other
// kinds and operations, and labelled pods whose fields hold any JSON at all. The webhook must
// answer every one without a 5xx and without crashing: a 400 BadAdmissionReview for a body that is
// no review, otherwise an AdmissionReview answering the same uid, whose patch (if any) applies to
// the pod. A static AWS key planted in a pod's env never comes back. mutate.test.ts holds the
// examples.
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import { WEBHOOK_DEFAULTS } from '../config/webhook.ts';
import { applyPatch } from '../injection/index.ts';
import type { AccessLookup, JsonPatchOp } from '../injection/index.ts';
import { createWebhookMetrics } from '../metrics/webhook.ts';
import { memoryLogger } from '../platform/logger.ts';
import { createWebhookHandler } from './server.ts';
import { store } from './testdata/fixtures.ts';

const RUNS = 400;
const LIMIT = 64 * 1024;
const PLANTED = 'PLANTEDstaticAWSsecretKEY';

const access: DatasetAccess = {
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetAccess',
  metadata: { name: 'imagenet', namespace: 'ml' },
  spec: { storeRef: { kind: 'DatasetStore', name: 'minio' }, prefix: 'imagenet/', verbs: ['read'], subjects: { serviceAccounts: ['trainer'] } },
  status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
};
const lookup: AccessLookup = { accesses: (ns) => (ns === 'ml' ? [access] : []), store: (): AnyDatasetStore | undefined => store };

let server: Server;
let port: number;
const logger = memoryLogger();
const registry = new Registry();

beforeAll(async () => {
  const settings = { ...WEBHOOK_DEFAULTS.injection, image: 'valet:test', issuerUrl: 'https://issuer.valet-system.svc:8443' };
  server = createServer(createWebhookHandler({ settings, lookup, logger, metrics: createWebhookMetrics(registry), maxBodyBytes: LIMIT }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(method: string, path: string, contentType: string | undefined, body: Buffer | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (contentType) headers['content-type'] = contentType;
    if (body) headers['content-length'] = String(body.length);
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // An oversized body is answered and the connection closed before it is all sent.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

// ── generators ────────────────────────────────────────────────────────────────────────────────

const json = fc.jsonValue({ maxDepth: 3 });
const str = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('app', 'valet-sidecar', 'x', '') }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
/**
 * A pod as kube-apiserver sends it: decoded into the Pod type and encoded again, so every field
 * has its type (spec and metadata are objects, lists are lists), but the values are anything.
 */
const typedPod = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('Pod'),
  metadata: fc.record(
    {
      name: fc.option(str, { nil: undefined }),
      generateName: fc.option(fc.constant('train-'), { nil: undefined }),
      labels: fc.oneof({ weight: 4, arbitrary: fc.constant({ 'valet.dev/inject': 'true' }) }, { weight: 1, arbitrary: fc.dictionary(str, str) }),
      annotations: fc.option(fc.dictionary(fc.constantFrom('valet.dev/injected', 'valet.dev/skip-containers', 'valet.dev/default-access', 'valet.dev/injection-note', 'x'), fc.oneof(fc.constantFrom('true', 'app', 'imagenet', 'app,x'), str)), { nil: undefined }),
    },
    { requiredKeys: ['labels'] },
  ),
  spec: fc.record(
    {
      serviceAccountName: fc.option(fc.oneof(fc.constant('trainer'), str), { nil: undefined }),
      hostNetwork: fc.option(fc.boolean(), { nil: undefined }),
      containers: fc.array(
        fc.record(
          {
            name: str,
            image: fc.constant('app:1'),
            env: fc.option(fc.oneof(fc.constant([{ name: 'AWS_SECRET_ACCESS_KEY', value: PLANTED }, { name: 'AWS_ACCESS_KEY_ID', value: 'AKIAPLANTED' }]), fc.array(fc.record({ name: fc.oneof(fc.constantFrom('AWS_REGION', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_ENDPOINT_URL_S3'), str), value: fc.option(str, { nil: undefined }) }), { maxLength: 3 })), { nil: undefined }),
            ports: fc.option(fc.array(fc.record({ containerPort: fc.constantFrom(8760, 8761, 80, 9090) }), { maxLength: 2 }), { nil: undefined }),
            volumeMounts: fc.option(fc.array(fc.record({ name: str, mountPath: fc.constantFrom('/var/run/valet', '/data', '/') }), { maxLength: 2 }), { nil: undefined }),
          },
          { requiredKeys: ['name'] },
        ),
        { minLength: 1, maxLength: 3 },
      ),
      initContainers: fc.option(fc.array(fc.record({ name: str, image: fc.constant('init:1'), restartPolicy: fc.option(fc.constant('Always'), { nil: undefined }) }), { maxLength: 2 }), { nil: undefined }),
      volumes: fc.option(fc.array(fc.record({ name: str, emptyDir: fc.constant({}) }), { maxLength: 2 }), { nil: undefined }),
    },
    { requiredKeys: ['containers'] },
  ),
});
/** A pod-shaped body only a direct caller (not kube-apiserver) could send: any JSON in any field. */
const untypedPod = fc.record(
  {
    metadata: fc.oneof({ weight: 3, arbitrary: fc.record({ labels: fc.oneof(fc.constant({ 'valet.dev/inject': 'true' }), json), annotations: json, name: json }, { requiredKeys: ['labels'] }) }, { weight: 1, arbitrary: json }),
    spec: fc.oneof({ weight: 3, arbitrary: fc.record({ containers: fc.oneof(fc.array(fc.dictionary(fc.constantFrom('name', 'env', 'ports', 'volumeMounts'), json), { maxLength: 2 }), json), volumes: json, initContainers: json, serviceAccountName: json, hostNetwork: json }, { requiredKeys: [] }) }, { weight: 1, arbitrary: json }),
  },
  { requiredKeys: [] },
);
const kind = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ group: '', version: 'v1', kind: 'Pod' }) },
  { weight: 1, arbitrary: fc.constantFrom({ group: '', version: 'v1', kind: 'Secret' }, { group: 'apps', version: 'v1', kind: 'Deployment' }, { group: '', version: 'v1', kind: 'ConfigMap' }, { group: '', version: 'v1beta1', kind: 'Pod' }) },
  { weight: 1, arbitrary: json },
);
const reviewOf = (pod: fc.Arbitrary<unknown>) => fc.record(
  {
    apiVersion: fc.oneof({ weight: 6, arbitrary: fc.constant('admission.k8s.io/v1') }, { weight: 1, arbitrary: fc.constantFrom('admission.k8s.io/v1beta1', 'v1', '') }, { weight: 1, arbitrary: json }),
    kind: fc.oneof({ weight: 6, arbitrary: fc.constant('AdmissionReview') }, { weight: 1, arbitrary: json }),
    request: fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record(
          {
            uid: fc.oneof({ weight: 12, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(129)) }, { weight: 1, arbitrary: json }),
            kind,
            operation: fc.oneof({ weight: 8, arbitrary: fc.constant('CREATE') }, { weight: 1, arbitrary: fc.constantFrom('UPDATE', 'DELETE', 'CONNECT', 'create', 'PATCH') }, { weight: 1, arbitrary: json }),
            namespace: fc.oneof({ weight: 12, arbitrary: fc.constant('ml') }, { weight: 1, arbitrary: json }),
            subResource: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constantFrom('exec', 'status', 'ephemeralcontainers') }, { weight: 1, arbitrary: json }), { nil: undefined, freq: 12 }),
            dryRun: fc.option(fc.oneof({ weight: 6, arbitrary: fc.boolean() }, { weight: 1, arbitrary: json }), { nil: undefined }),
            object: fc.oneof({ weight: 6, arbitrary: pod }, { weight: 1, arbitrary: json }),
          },
          { requiredKeys: ['uid', 'kind', 'operation'] },
        ),
      },
      { weight: 1, arbitrary: json },
    ),
  },
  { requiredKeys: ['apiVersion', 'kind', 'request'] },
);
const review = reviewOf(typedPod);
/** A well-formed review from kube-apiserver: valid envelope, a pod create (mostly) of a typed pod. */
const wellFormed = fc.record({
  apiVersion: fc.constant('admission.k8s.io/v1'),
  kind: fc.constant('AdmissionReview'),
  request: fc.record(
    {
      uid: fc.uuid(),
      kind: fc.oneof({ weight: 6, arbitrary: fc.constant({ group: '', version: 'v1', kind: 'Pod' }) }, { weight: 1, arbitrary: fc.constant({ group: 'apps', version: 'v1', kind: 'Deployment' }) }),
      operation: fc.oneof({ weight: 6, arbitrary: fc.constant('CREATE') }, { weight: 1, arbitrary: fc.constantFrom('UPDATE', 'DELETE', 'CONNECT') }),
      namespace: fc.constantFrom('ml', 'other'),
      subResource: fc.option(fc.constantFrom('exec', 'status'), { nil: undefined, freq: 10 }),
      dryRun: fc.option(fc.boolean(), { nil: undefined }),
      object: typedPod,
    },
    { requiredKeys: ['uid', 'kind', 'operation', 'namespace', 'object'] },
  ),
});
const body = fc.oneof(
  { weight: 8, arbitrary: review.map((r) => Buffer.from(JSON.stringify(r))) },
  { weight: 1, arbitrary: review.map((r) => JSON.stringify(r)).chain((t) => fc.nat({ max: t.length }).map((n) => Buffer.from(t.slice(0, n)))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: json.map((v) => Buffer.from(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.constantFrom(LIMIT + 1, 2 * LIMIT).map((n) => Buffer.from(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', pad: 'x'.repeat(n) }))) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 30_000 }).map((n) => Buffer.from('['.repeat(n) + ']'.repeat(n))) },
);
const contentType = fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/yaml', '') });
const target = fc.oneof({ weight: 8, arbitrary: fc.constant(['POST', '/mutate'] as const) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'POST', 'HEAD'), fc.constantFrom('/mutate', '/mutate?timeout=10s', '/healthz', '/', '/validate', '/mutate/', '/MUTATE', '/%6dutate')) });

// ── properties ────────────────────────────────────────────────────────────────────────────────

describe('the webhook HTTP adapter, fuzzed', () => {
  it('answers any method, path, content type and body (malformed, truncated, oversized, nested 30,000 deep) without a 5xx, in JSON with a stable code', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(target, contentType, body, async ([method, path], type, b) => {
        const r = await send(method, path, type, method === 'GET' || method === 'HEAD' ? undefined : b);
        const where = `${method} ${path} ${type} ${b.subarray(0, 300).toString('utf8')} → ${r.status} ${r.body.slice(0, 300)}`;
        expect(r.status, where).toBeLessThan(500);
        expect(r.body, where).not.toContain(PLANTED);
        if (method === 'HEAD' || (path === '/healthz' && method === 'GET')) return;
        expect(r.headers['content-type'], where).toBe('application/json');
        const out = JSON.parse(r.body) as { error?: { code: string }; apiVersion?: string; response?: { uid: string } };
        if (r.status !== 200) expect(['BadAdmissionReview', 'NotFound', 'MethodNotAllowed'], where).toContain(out.error?.code);
        else expect(out.response?.uid, where).toBe((JSON.parse(b.toString('utf8')) as { request: { uid: string } }).request.uid);
        const tag = r.status === 200 ? 'review' : (out.error?.code ?? '');
        seen.set(tag, (seen.get(tag) ?? 0) + 1);
      }),
      { numRuns: RUNS },
    );
    process.stdout.write(`webhook fuzz, any body: ${JSON.stringify(Object.fromEntries(seen))}\n`);
    for (const tag of ['BadAdmissionReview', 'review', 'NotFound', 'MethodNotAllowed']) expect(seen.has(tag), tag).toBe(true);
  });

  it('answers every well-formed review of a pod as kube-apiserver sends it: same uid, refusals as 400, and a patch that applies', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(wellFormed, async (rv) => {
        const r = await send('POST', '/mutate', 'application/json', Buffer.from(JSON.stringify(rv)));
        const where = `${JSON.stringify(rv).slice(0, 400)} → ${r.status} ${r.body.slice(0, 300)}`;
        expect(r.status, where).toBe(200);
        expect(r.body, where).not.toContain(PLANTED);
        const out = JSON.parse(r.body) as { apiVersion: string; response: { uid: string; allowed: boolean; patch?: string; status?: { code: number; message: string } } };
        expect(out.apiVersion).toBe('admission.k8s.io/v1');
        expect(out.response.uid, where).toBe(rv.request.uid);
        // Refusals are the pod's fault (400); 503 only while caches sync and 500 only on a bug.
        if (!out.response.allowed) expect(out.response.status?.code, where).toBe(400);
        if (out.response.patch) {
          const patch = JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8')) as JsonPatchOp[];
          expect(() => applyPatch(rv.request.object, patch), where).not.toThrow();
        }
        const tag = out.response.allowed ? (out.response.patch ? 'patched' : 'allowed') : 'refused';
        seen.set(tag, (seen.get(tag) ?? 0) + 1);
      }),
      { numRuns: RUNS },
    );
    process.stdout.write(`webhook fuzz, well-formed reviews: ${JSON.stringify(Object.fromEntries(seen))}\n`);
    for (const tag of ['patched', 'allowed', 'refused']) expect(seen.get(tag) ?? 0, tag).toBeGreaterThan(3);
  });

  it('answers a review whose pod has fields of the wrong JSON types (a direct caller, not kube-apiserver) without a 5xx status code', async () => {
    await fc.assert(
      fc.asyncProperty(reviewOf(untypedPod), async (rv) => {
        const b = Buffer.from(JSON.stringify(rv));
        const r = await send('POST', '/mutate', 'application/json', b);
        const where = `${b.subarray(0, 300).toString('utf8')} → ${r.status} ${r.body.slice(0, 300)}`;
        expect(r.status, where).toBeLessThan(500);
        expect(r.headers['content-type'], where).toBe('application/json');
        expect(r.body, where).not.toContain(PLANTED);
      }),
      { numRuns: RUNS },
    );
  });

  // The webhook's Service is reachable by any in-cluster client, not only kube-apiserver: a pod
  // of the wrong shape is bad input (400), never a crash (500 and an error log).
  it('refuses such a pod with a 400 in the review, not a 500 InternalError', async () => {
    const pods = [
      { metadata: { labels: { 'valet.dev/inject': 'true' } }, spec: { containers: [{ name: 'app' }], volumes: 'x' } },
      { metadata: { labels: { 'valet.dev/inject': 'true' } }, spec: { containers: 5 } },
      { metadata: { labels: { 'valet.dev/inject': 'true' } }, spec: { containers: [{ name: 'app', env: {} }] } },
    ];
    for (const object of pods) {
      const rv = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ml', object } };
      const r = await send('POST', '/mutate', 'application/json', Buffer.from(JSON.stringify(rv)));
      const out = JSON.parse(r.body) as { response: { allowed: boolean; status?: { code: number } } };
      expect(out.response.allowed, JSON.stringify(object)).toBe(false);
      expect(out.response.status?.code, JSON.stringify(object)).toBe(400);
    }
  });

  // A hostile apiVersion or kind (an object with its own toString) is described without String().
  it('answers 400 BadAdmissionReview to a review whose apiVersion or kind is an object with its own toString', async () => {
    for (const bad of [{ apiVersion: 'admission.k8s.io/v1', kind: { toString: {} } }, { apiVersion: { toString: 1, valueOf: 1 }, kind: 'AdmissionReview' }, { apiVersion: { toString: null }, kind: 'x' }]) {
      const r = await send('POST', '/mutate', 'application/json', Buffer.from(JSON.stringify({ ...bad, request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } })));
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'BadAdmissionReview' } });
    }
  });

  it('logged no planted secret and no internal error', () => {
    expect(JSON.stringify(logger.lines)).not.toContain(PLANTED);
    // Bad input is never an internal error.
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
