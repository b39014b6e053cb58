import { request } from 'node:http';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import { WEBHOOK_DEFAULTS } from '../config/webhook.ts';
import { applyPatch } from '../injection/index.ts';
import type { AccessLookup, JsonPatchOp, Pod } from '../injection/index.ts';
import { createWebhookMetrics } from '../metrics/webhook.ts';
import { memoryLogger } from '../platform/logger.ts';
import { isPodToken, loaderCapability } from '../policy/index.ts';
import { mutate } from './mutate.ts';
import type { MutateDeps } from './mutate.ts';
import { podWebhookConfiguration } from './registration.ts';
import { BadReviewError } from './review.ts';
import { createWebhookHandler } from './server.ts';
import { store } from './testdata/fixtures.ts';

const settings = { ...WEBHOOK_DEFAULTS.injection, image: 'valet:test', issuerUrl: 'https://issuer.valet-system.svc:8443' };

const access = (name: string, serviceAccounts: string[]): DatasetAccess => ({
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetAccess',
  metadata: { name, namespace: 'ml' },
  spec: { storeRef: { kind: 'DatasetStore', name: 'minio' }, prefix: 'imagenet/', verbs: ['read'], subjects: { serviceAccounts } },
  status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
});
const lookup: AccessLookup = {
  accesses: (ns) => (ns === 'ml' ? [access('imagenet', ['trainer']), access('other', ['someone-else'])] : []),
  store: (a): AnyDatasetStore | undefined => (a.spec.storeRef.name === 'minio' ? store : undefined),
};

const pod = (labels: Record<string, string> = { 'valet.dev/inject': 'true' }, sa = 'trainer'): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'train-', labels },
  spec: { serviceAccountName: sa, containers: [{ name: 'app', image: 'app:1', env: [{ name: 'AWS_REGION', value: 'eu-central-1' }] }] },
});

const review = (object: unknown, over: Record<string, unknown> = {}) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'ml', operation: 'CREATE', object, ...over },
});

function deps(over: Partial<MutateDeps> = {}) {
  const registry = new Registry();
  const logger = memoryLogger();
  return { registry, logger, deps: { settings, lookup, logger, metrics: createWebhookMetrics(registry), ...over } satisfies MutateDeps };
}

/** Pins the pod token, for tests that compare two patches. */
function pinnedDeps() {
  return deps({ podToken: () => 'pinned-token-0123456789-abcdefghijklmnopqrs' });
}

const patchOf = (r: { response: { patch?: string } }): JsonPatchOp[] => (r.response.patch ? (JSON.parse(Buffer.from(r.response.patch, 'base64').toString()) as JsonPatchOp[]) : []);

describe('mutate(review)', () => {
  it("injects a labelled pod, taking region and endpoint from the access that grants its service account, keeping the user's AWS_REGION", async () => {
    const d = deps();
    const { review: out, result } = mutate(review(pod()), d.deps);
    expect(result).toBe('Injected');
    expect(out).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
    const after = applyPatch(pod(), patchOf(out));
    const token = after.spec?.initContainers?.[0]?.env?.find((e) => e.name === 'VALET_POD_AUTH_TOKEN')?.value ?? '';
    expect(isPodToken(token)).toBe(true);
    expect(after.spec?.containers?.[0]?.env).toEqual([
      { name: 'AWS_REGION', value: 'eu-central-1' },
      { name: 'AWS_CONTAINER_CREDENTIALS_FULL_URI', value: 'http://127.0.0.1:8760/v1/credentials' },
      { name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', value: '/var/run/valet/shared/auth-token' },
      { name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN', value: token },
      { name: 'VALET_LOADER_URL', value: `http://127.0.0.1:8760/v1/loader/${loaderCapability(token)}` },
      { name: 'AWS_ENDPOINT_URL_S3', value: 'http://minio.storage.svc:9000' },
    ]);
    // Each pod its own token, and none in a log line.
    const other = applyPatch(pod(), patchOf(mutate(review(pod()), deps().deps).review));
    expect(other.spec?.initContainers?.[0]?.env?.find((e) => e.name === 'VALET_POD_AUTH_TOKEN')?.value).not.toBe(token);
    expect(JSON.stringify(d.logger.lines)).not.toContain(token);
    expect(await d.registry.getSingleMetricAsString('valet_webhook_admissions_total')).toContain('valet_webhook_admissions_total{result="Injected"} 1');
    expect(d.logger.lines.find((l) => l.msg === 'injected pod train-*')).toMatchObject({ namespace: 'ml', result: 'Injected', containers: ['app'] });
  });

  it('injects a pod no access grants, recording why in an annotation and a warning', () => {
    const { review: out, result } = mutate(review(pod(undefined, 'nobody')), deps().deps);
    expect(result).toBe('InjectedNoAccess');
    const after = applyPatch(pod(undefined, 'nobody'), patchOf(out));
    expect(after.metadata?.annotations?.['valet.dev/injection-note']).toMatch(/no DatasetAccess grants service account "nobody" in namespace "ml" yet: none of the 2 DatasetAccess objects/);
    expect(out.response.warnings).toEqual(['valet: the app will wait for keys; see annotation valet.dev/injection-note on the pod']);
  });

  it('allows unlabelled pods, other kinds, other operations and subresources without a patch', () => {
    const cases = [
      review(pod({ app: 'x' })),
      review({}, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }),
      review(pod(), { operation: 'UPDATE' }),
      review(pod(), { subResource: 'ephemeralcontainers' }),
    ];
    for (const c of cases) {
      const { review: out } = mutate(c, deps().deps);
      expect(out.response).toEqual({ uid: 'u-1', allowed: true });
    }
  });

  it('answers a dry run exactly like a real request, logging it at debug only', () => {
    const real = mutate(review(pod()), pinnedDeps().deps).review;
    const d = pinnedDeps();
    const dry = mutate(review(pod(), { dryRun: true }), d.deps).review;
    expect(dry).toEqual(real);
    expect(d.logger.lines.filter((l) => l.level !== 'debug')).toEqual([]);
  });

  it('refuses a labelled pod while its caches are not synced, and a pod it cannot inject safely, with the reason', () => {
    expect(mutate(review(pod()), deps({ ready: () => false }).deps).review.response).toMatchObject({ allowed: false, status: { code: 503, message: expect.stringMatching(/have not synced yet\); retry shortly/) } });
    const hostNet = { ...pod(), spec: { ...pod().spec, hostNetwork: true } };
    expect(mutate(review(hostNet), deps().deps).review.response).toMatchObject({ allowed: false, status: { code: 400, message: expect.stringMatching(/^valet: a pod with hostNetwork: true cannot be injected/) } });
  });

  it('turns a failing lookup into a refusal naming the webhook, not a crash', () => {
    const broken: AccessLookup = { accesses: () => { throw new Error('boom'); }, store: () => undefined };
    const { review: out, result } = mutate(review(pod()), deps({ lookup: broken }).deps);
    expect(result).toBe('Error');
    expect(out.response).toMatchObject({ allowed: false, status: { code: 500, message: expect.stringMatching(/valet webhook failed/) } });
  });

  it('throws BadReviewError for anything that is not an AdmissionReview v1 request', () => {
    for (const bad of [null, [], 'x', { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, { ...review(pod()), request: { ...review(pod()).request, uid: 7 } }, { ...review(pod()), request: { ...review(pod()).request, operation: 'PATCH' } }]) {
      expect(() => mutate(bad, deps().deps)).toThrow(BadReviewError);
    }
  });
});

describe('the HTTP adapter', () => {
  let server: Server;
  let base: string;
  const d = deps();
  beforeAll(async () => {
    server = createServer(createWebhookHandler({ ...d.deps, maxBodyBytes: 64 * 1024 }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const send = (path: string, body: string | Buffer, opts: { method?: string; type?: string } = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}${path}`, { method: opts.method ?? 'POST', headers: { 'content-type': opts.type ?? 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('answers a review on POST /mutate', async () => {
    const r = await send('/mutate', JSON.stringify(review(pod())));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
  });

  it('answers 400 to malformed JSON, a non-review, a wrong content type and an oversized body', async () => {
    expect((await send('/mutate', '{"apiVersion":')).status).toBe(400);
    expect((await send('/mutate', JSON.stringify({ hello: 'world' }))).status).toBe(400);
    expect((await send('/mutate', JSON.stringify(review(pod())), { type: 'text/plain' })).status).toBe(400);
    const big = await send('/mutate', Buffer.alloc(100 * 1024, 0x20));
    expect(big.status).toBe(400);
    expect(big.body).toMatch(/larger than 65536 bytes/);
    expect(await d.registry.getSingleMetricAsString('valet_webhook_admissions_total')).toContain('valet_webhook_admissions_total{result="BadRequest"} 4');
  });

  it('answers 405 to another method on /mutate, 404 elsewhere, 200 on /healthz', async () => {
    expect((await send('/mutate', '', { method: 'GET' })).status).toBe(405);
    expect((await send('/other', '{}')).status).toBe(404);
    expect((await send('/healthz', '', { method: 'GET' })).status).toBe(200);
  });
});

describe('the MutatingWebhookConfiguration', () => {
  it('makes only opted-in pods outside the operator namespace depend on the webhook, and fails closed for them', () => {
    const c = podWebhookConfiguration({ caPem: 'PEM', url: 'https://127.0.0.1:9443/', excludeNamespaces: ['valet-system'] });
    expect(c.webhooks?.[0]).toEqual({
      name: 'pods.valet.dev',
      admissionReviewVersions: ['v1'],
      clientConfig: { url: 'https://127.0.0.1:9443/mutate', caBundle: Buffer.from('PEM').toString('base64') },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
      failurePolicy: 'Fail',
      matchPolicy: 'Equivalent',
      objectSelector: { matchLabels: { 'valet.dev/inject': 'true' } },
      namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['valet-system'] }] },
      sideEffects: 'None',
      timeoutSeconds: 5,
      reinvocationPolicy: 'IfNeeded',
    });
    const svc = podWebhookConfiguration({ caPem: 'PEM', service: { namespace: 'valet-system', name: 'valet-webhook' }, excludeNamespaces: ['valet-system'] });
    expect(svc.webhooks?.[0]?.clientConfig.service).toEqual({ namespace: 'valet-system', name: 'valet-webhook', port: 443, path: '/mutate' });
  });
});
