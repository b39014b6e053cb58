// Webhook served in-process, for speed: called through its Service on a real node in test/node/training-job.lab.test.ts.
// The pod webhook, called by the real kube-apiserver over TLS: registered with failurePolicy Fail
// and an objectSelector on valet.dev/inject, it injects labelled pods (native sidecar, token and
// shared volumes, AWS variables from the DatasetAccess that grants the pod), leaves every other pod
// alone, and, once stopped, blocks only labelled pods, with a message that says why.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { WEBHOOK_DEFAULTS } from '../src/config/webhook.ts';
import { createK8sClients } from '../src/k8s/clients.ts';
import { InformerGrantSource } from '../src/k8s/grants.ts';
import { applyMutatingWebhookConfiguration, deleteMutatingWebhookConfiguration } from '../src/k8s/webhook-config.ts';
import { createWebhookMetrics } from '../src/metrics/webhook.ts';
import { createLogger } from '../src/platform/logger.ts';
import { isPodToken, loaderCapability } from '../src/policy/index.ts';
import { createAuthority, issueCertificate, type CertifiedKey } from '../src/tls/pki.ts';
import { podWebhookConfiguration, startWebhookServer, WEBHOOK_CONFIGURATION_NAME, type WebhookServer } from '../src/webhook/index.ts';
import { installCrds } from './lab/apply.ts';
import { startLab, type Lab } from './lab/index.ts';
import { useLabLogs } from './lab/vitest.ts';

const root = join(import.meta.dirname, '..');
const G = { group: 'valet.dev', version: 'v1alpha1' };
const NS = 'ml';
const OPERATOR_NS = 'valet-system';
const ENDPOINT = 'http://minio.storage.svc:9000';
const settings = { ...WEBHOOK_DEFAULTS.injection, image: 'registry.example/valet:0.1.0', issuerUrl: 'https://valet-issuer.valet-system.svc:8443' };

let lab: Lab;
let grants: InformerGrantSource;
let webhook: WebhookServer | undefined;
let serving: CertifiedKey;
const registry = new Registry();

interface PodOptions {
  name?: string;
  generateName?: string;
  namespace?: string;
  labelled?: boolean;
  serviceAccountName?: string;
  env?: { name: string; value: string }[];
  hostNetwork?: boolean;
}

function podBody(o: PodOptions): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(o.name ? { name: o.name } : { generateName: o.generateName ?? 'pod-' }),
      labels: o.labelled === false ? { app: 'plain' } : { app: 'train', 'valet.dev/inject': 'true' },
    },
    spec: {
      serviceAccountName: o.serviceAccountName ?? 'trainer',
      restartPolicy: 'Never',
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      containers: [
        { name: 'train', image: 'python:3.12', ...(o.env ? { env: o.env } : {}) },
        { name: 'log-shipper', image: 'fluent-bit:3' },
      ],
    },
  };
}

const createPod = (o: PodOptions, dryRun?: 'All') => lab.core.createNamespacedPod({ namespace: o.namespace ?? NS, body: podBody(o), dryRun });

/** The API server's message from a failed call (client-node keeps the Status body as a string). */
function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    return (JSON.parse(String(body)) as { message?: string }).message ?? String(body);
  } catch {
    return String(body ?? err);
  }
}

const envOf = (pod: V1Pod, container: string) => Object.fromEntries((pod.spec?.containers.find((c) => c.name === container)?.env ?? []).map((e) => [e.name, e.value]));

async function startWebhook(port = 0): Promise<WebhookServer> {
  const log = join(lab.logsDir, 'webhook.log');
  return startWebhookServer({
    settings,
    lookup: grants,
    ready: () => grants.hasSynced(),
    logger: createLogger({ level: 'debug', write: (line) => appendFileSync(log, line + '\n') }),
    metrics: createWebhookMetrics(registry),
    tls: { certPem: serving.certPem, keyPem: serving.privateKeyPem },
    host: '127.0.0.1',
    port,
  });
}

beforeAll(async () => {
  lab = await startLab({ minio: false });
  await installCrds(lab.kubeConfig, join(root, 'crds'));
  for (const name of [OPERATOR_NS, NS]) {
    await lab.core.createNamespace({ body: { metadata: { name } } });
    await lab.core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'default' } } });
  }
  for (const name of ['trainer', 'nobody']) await lab.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });
  const custom = lab.kubeConfig.makeApiClient(CustomObjectsApi);
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: NS,
    plural: 'datasetstores',
    body: {
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetStore',
      metadata: { name: 'minio', namespace: NS },
      spec: {
        provider: 's3',
        bucket: 'datasets',
        region: 'us-east-1',
        endpoint: ENDPOINT,
        roleArn: 'arn:aws:iam::123456789012:role/valet',
        auth: { mode: 'defaultChain' },
        allowedPrefixes: ['imagenet/'],
        allowedVerbs: ['read', 'list'],
        maxSessionDurationSeconds: 3600,
      },
    },
  });
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: NS,
    plural: 'datasetaccesses',
    body: {
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetAccess',
      metadata: { name: 'imagenet', namespace: NS },
      spec: { storeRef: { kind: 'DatasetStore', name: 'minio' }, prefix: 'imagenet/', verbs: ['read', 'list'], subjects: { serviceAccounts: ['trainer'] } },
    },
  });

  // No controller runs here: mark the access Ready as the controller would (status subresource).
  const created = (await custom.getNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', name: 'imagenet' })) as Record<string, unknown>;
  const ready = { type: 'Ready', status: 'True', reason: 'Valid', message: 'ready', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
  await custom.replaceNamespacedCustomObjectStatus({ ...G, namespace: NS, plural: 'datasetaccesses', name: 'imagenet', body: { ...created, status: { conditions: [ready] } } });

  grants = new InformerGrantSource({ clients: createK8sClients(lab.kubeConfig) });
  grants.start();
  expect(await grants.waitForSync()).toBe(true);
  const synced = Date.now() + 10_000;
  while (!grants.accesses(NS).some((a) => a.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))) {
    if (Date.now() > synced) throw new Error('the informer never saw the Ready access');
    await new Promise((r) => setTimeout(r, 100));
  }

  const ca = await createAuthority('valet-webhook-test-ca');
  serving = await issueCertificate(ca, { commonName: 'valet-webhook', ipAddresses: ['127.0.0.1'], usage: 'server' });
  webhook = await startWebhook();
  await applyMutatingWebhookConfiguration(lab.kubeConfig, podWebhookConfiguration({ caPem: ca.certPem, url: webhook.url, excludeNamespaces: [OPERATOR_NS], timeoutSeconds: 5 }));

  // The API server loads webhook configurations through an informer: wait until it calls ours
  // (dry runs store nothing).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const probe = await createPod({ generateName: 'probe-' }, 'All');
    if (probe.metadata?.annotations?.['valet.dev/injected'] === 'true') break;
    if (Date.now() > deadline) throw new Error('the API server never called the webhook');
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  await webhook?.close();
  if (lab) await deleteMutatingWebhookConfiguration(lab.kubeConfig, WEBHOOK_CONFIGURATION_NAME).catch(() => undefined);
  await grants?.stop();
  await lab?.stop();
});
useLabLogs(() => lab);

describe('the pod webhook, called by kube-apiserver over TLS', () => {
  it('injects a labelled pod: native sidecar with a startup probe, token and shared volumes, AWS variables in each app container', async () => {
    const pod = await createPod({ name: 'trainer-0' });
    expect(pod.metadata?.annotations?.['valet.dev/injected']).toBe('true');
    expect(pod.metadata?.annotations?.['valet.dev/injection-note']).toBeUndefined();

    const sidecar = pod.spec?.initContainers?.[0];
    expect(sidecar?.name).toBe('valet-sidecar');
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.image).toBe(settings.image);
    expect(sidecar?.args?.[0]).toBe('sidecar');
    expect(sidecar?.startupProbe?.httpGet).toMatchObject({ path: '/readyz', port: 8761 });
    expect(sidecar?.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(sidecar?.env?.find((e) => e.name === 'VALET_ISSUER_URL')?.value).toBe(settings.issuerUrl);

    const volumes = Object.fromEntries((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes['valet-token']?.projected?.sources?.[0]?.serviceAccountToken).toMatchObject({ audience: 'valet.dev', expirationSeconds: 3600, path: 'token' });
    expect(volumes['valet-shared']?.emptyDir?.medium).toBe('Memory');
    expect(volumes['valet-issuer-ca']?.configMap?.name).toBe('valet-issuer-ca');

    // One token per pod, literally in the sidecar's and each app container's environment (ADR 0010).
    const token = sidecar?.env?.find((e) => e.name === 'VALET_POD_AUTH_TOKEN')?.value ?? '';
    expect(isPodToken(token)).toBe(true);
    for (const name of ['train', 'log-shipper']) {
      expect(envOf(pod, name)).toEqual({
        AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:8760/v1/credentials',
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/var/run/valet/shared/auth-token',
        AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
        VALET_LOADER_URL: `http://127.0.0.1:8760/v1/loader/${loaderCapability(token)}`,
        AWS_REGION: 'us-east-1',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_S3: ENDPOINT,
      });
      const mount = pod.spec?.containers.find((c) => c.name === name)?.volumeMounts?.find((m) => m.name === 'valet-shared');
      expect(mount).toMatchObject({ mountPath: '/var/run/valet/shared', readOnly: true });
    }
    // What the API server stored is what it returned.
    const stored = await lab.core.readNamespacedPod({ namespace: NS, name: 'trainer-0' });
    expect(stored.spec?.initContainers?.map((c) => c.name)).toEqual(['valet-sidecar']);
  });

  it("keeps variables the user set, and leaves a container named in valet.dev/skip-containers alone", async () => {
    const body = podBody({ name: 'custom-env', env: [{ name: 'AWS_REGION', value: 'eu-west-3' }, { name: 'EPOCHS', value: '90' }] });
    body.metadata = { ...body.metadata, annotations: { 'valet.dev/skip-containers': 'log-shipper' } };
    const pod = await lab.core.createNamespacedPod({ namespace: NS, body });
    expect(envOf(pod, 'train')).toEqual({
      AWS_REGION: 'eu-west-3',
      EPOCHS: '90',
      AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:8760/v1/credentials',
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/var/run/valet/shared/auth-token',
      AWS_CONTAINER_AUTHORIZATION_TOKEN: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      VALET_LOADER_URL: expect.stringMatching(/^http:\/\/127\.0\.0\.1:8760\/v1\/loader\/[A-Za-z0-9_-]{22}$/),
      AWS_ENDPOINT_URL_S3: ENDPOINT,
    });
    expect(pod.spec?.containers.find((c) => c.name === 'log-shipper')?.env).toBeUndefined();
    expect(pod.spec?.containers.find((c) => c.name === 'log-shipper')?.volumeMounts?.some((m) => m.name === 'valet-shared')).not.toBe(true);
  });

  it('leaves an unlabelled pod untouched', async () => {
    const pod = await createPod({ name: 'plain', labelled: false });
    expect(pod.spec?.initContainers).toBeUndefined();
    expect(pod.metadata?.annotations?.['valet.dev/injected']).toBeUndefined();
    expect(pod.spec?.volumes?.some((v) => v.name.startsWith('valet-'))).not.toBe(true);
    expect(envOf(pod, 'train')).toEqual({});
  });

  it('injects a Job-style pod that has only a generateName', async () => {
    const pod = await createPod({ generateName: 'train-resnet-' });
    expect(pod.metadata?.name).toMatch(/^train-resnet-/);
    expect(pod.spec?.initContainers?.[0]?.name).toBe('valet-sidecar');
  });

  it('injects a pod that no DatasetAccess grants yet, recording why in valet.dev/injection-note', async () => {
    const pod = await createPod({ name: 'nobody-0', serviceAccountName: 'nobody' });
    expect(pod.spec?.initContainers?.[0]?.name).toBe('valet-sidecar');
    expect(pod.metadata?.annotations?.['valet.dev/injection-note']).toMatch(/no DatasetAccess grants service account "nobody" in namespace "ml" yet/);
    expect(envOf(pod, 'train').AWS_REGION).toBeUndefined();
  });

  it('answers a dry run with the injected pod and stores nothing', async () => {
    const pod = await createPod({ name: 'dry' }, 'All');
    expect(pod.spec?.initContainers?.[0]?.name).toBe('valet-sidecar');
    await expect(lab.core.readNamespacedPod({ namespace: NS, name: 'dry' })).rejects.toMatchObject({ code: 404 });
  });

  it('refuses a hostNetwork pod, saying why', async () => {
    const err = await createPod({ name: 'hostnet', hostNetwork: true }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect(apiMessage(err)).toMatch(/admission webhook "pods.valet.dev" denied the request: valet: a pod with hostNetwork: true cannot be injected/);
  });

  it('counts mutations and their latency', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/valet_webhook_admissions_total\{result="Injected"\} [1-9]/);
    expect(text).toMatch(/valet_webhook_admissions_total\{result="InjectedNoAccess"\} 1/);
    expect(text).toMatch(/valet_webhook_admissions_total\{result="Refused"\} 1/);
    expect(text).toMatch(/valet_webhook_admission_duration_seconds_count\{result="Injected"\} [1-9]/);
    // The objectSelector keeps unlabelled pods from ever reaching the webhook.
    expect(text).not.toMatch(/result="NotSelected"/);
  });

  it('with the webhook down, refuses labelled pods with a clear message and still admits every other pod', async () => {
    await webhook?.close();
    webhook = undefined;
    const err = await createPod({ name: 'blocked' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect((err as { code?: number }).code).toBe(500);
    expect(apiMessage(err)).toMatch(/failed calling webhook "pods.valet.dev": .*connect: connection refused/);

    const plain = await createPod({ name: 'plain-while-down', labelled: false });
    expect(plain.metadata?.name).toBe('plain-while-down');
    // The operator's own namespace never depends on the webhook, labelled or not.
    const own = await createPod({ name: 'operator-ns-pod', namespace: OPERATOR_NS, serviceAccountName: 'default' });
    expect(own.spec?.initContainers).toBeUndefined();
  });
});
