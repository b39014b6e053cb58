// The pod webhook of Valet's operator (the world's, in-process through startOperator, as `valet
// operator` runs it), called by the real kube-apiserver over TLS: registered with failurePolicy Fail
// and an objectSelector on valet.dev/inject, it injects labelled pods (native sidecar, token and
// shared volumes, AWS variables from the DatasetAccess that grants the pod), leaves every other pod
// alone, and, once stopped, blocks only labelled pods, with a message that says why. Called through
// its Service on a real node in test/node/training-job.lab.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { applyMutatingWebhookConfiguration, deleteMutatingWebhookConfiguration } from '../src/k8s/webhook-config.ts';
import { isPodToken, loaderCapability } from '../src/policy/index.ts';
import { podWebhookConfiguration, WEBHOOK_CONFIGURATION_NAME } from '../src/webhook/index.ts';
import { useLabLogs } from './lab/vitest.ts';
import { G, LAB_VALET_NAMESPACE as OPERATOR_NS, metric, startWorld, type World } from './lab/world.ts';

const NS = 'ml';
const ENDPOINT = 'http://minio.storage.svc:9000';
/** What the operator's webhook flags set (docs/flags.md): the sidecar image and the issuer's URL as pods reach it. */
const settings = { image: 'registry.example/valet:0.1.0', issuerUrl: 'https://valet-issuer.valet-system.svc:8443' };
const RESULTS = ['Injected', 'InjectedNoAccess', 'Refused'] as const;

let w: World;
/** The webhook's admission counts once set up (the API server's probes included), per result. */
let countsBefore: Record<string, number> = {};

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

const createPod = (o: PodOptions, dryRun?: 'All') => w.lab.core.createNamespacedPod({ namespace: o.namespace ?? NS, body: podBody(o), dryRun });

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

const admissions = async (): Promise<Record<string, number>> => {
  const text = await w.operatorMetrics();
  return Object.fromEntries(RESULTS.map((r) => [r, metric(text, 'valet_webhook_admissions_total', `result="${r}"`)]));
};

beforeAll(async () => {
  w = await startWorld({
    lab: { minio: false },
    ns: NS,
    serviceAccounts: ['default', 'trainer', 'nobody'],
    store: false,
    operator: { webhook: true, args: [`--sidecar-image=${settings.image}`, `--sidecar-issuer-url=${settings.issuerUrl}`] },
  });
  // No controller-manager runs in the lab: the operator's namespace needs its default service account.
  await w.lab.core.createNamespacedServiceAccount({ namespace: OPERATOR_NS, body: { metadata: { name: 'default' } } });
  await w.clients.customObjects.createNamespacedCustomObject({
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
  // The operator's controller makes the access Ready; its webhook reads the same caches.
  await w.createAccess('imagenet', { storeRef: { kind: 'DatasetStore', name: 'minio' }, sessionDurationSeconds: 3600 });
  await w.waitReady('imagenet');

  const address = w.operator.addresses.webhook;
  if (!address) throw new Error('the operator runs no webhook');
  await applyMutatingWebhookConfiguration(w.lab.kubeConfig, podWebhookConfiguration({ caPem: w.tls.caPem, url: `https://${address}`, excludeNamespaces: [OPERATOR_NS], timeoutSeconds: 5 }));

  // The API server loads webhook configurations through an informer: wait until it calls ours and
  // the webhook sees the grant (dry runs store nothing).
  await w.waitFor('the API server to call the webhook, which sees the grant', async () => {
    const probe = await createPod({ generateName: 'probe-' }, 'All');
    return probe.metadata?.annotations?.['valet.dev/injected'] === 'true' && envOf(probe, 'train').AWS_REGION === 'us-east-1';
  }, 30_000);
  countsBefore = await admissions();
});

afterAll(async () => {
  if (w) await deleteMutatingWebhookConfiguration(w.lab.kubeConfig, WEBHOOK_CONFIGURATION_NAME).catch(() => undefined);
  await w?.stop();
});
useLabLogs(() => w);

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
    const stored = await w.lab.core.readNamespacedPod({ namespace: NS, name: 'trainer-0' });
    expect(stored.spec?.initContainers?.map((c) => c.name)).toEqual(['valet-sidecar']);
  });

  it("keeps variables the user set, and leaves a container named in valet.dev/skip-containers alone", async () => {
    const body = podBody({ name: 'custom-env', env: [{ name: 'AWS_REGION', value: 'eu-west-3' }, { name: 'EPOCHS', value: '90' }] });
    body.metadata = { ...body.metadata, annotations: { 'valet.dev/skip-containers': 'log-shipper' } };
    const pod = await w.lab.core.createNamespacedPod({ namespace: NS, body });
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
    await expect(w.lab.core.readNamespacedPod({ namespace: NS, name: 'dry' })).rejects.toMatchObject({ code: 404 });
  });

  it('refuses a hostNetwork pod, saying why', async () => {
    const err = await createPod({ name: 'hostnet', hostNetwork: true }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect(apiMessage(err)).toMatch(/admission webhook "pods.valet.dev" denied the request: valet: a pod with hostNetwork: true cannot be injected/);
  });

  it('counts mutations and their latency', async () => {
    const text = await w.operatorMetrics();
    // What this suite's pods added (the API server's probes during set-up are in countsBefore).
    const counts = await admissions();
    const added = Object.fromEntries(RESULTS.map((r) => [r, (counts[r] ?? 0) - (countsBefore[r] ?? 0)]));
    expect(added.Injected).toBeGreaterThanOrEqual(1);
    expect(added.InjectedNoAccess).toBe(1);
    expect(added.Refused).toBe(1);
    expect(text).toMatch(/valet_webhook_admission_duration_seconds_count\{result="Injected"\} [1-9]/);
    // The objectSelector keeps unlabelled pods from ever reaching the webhook.
    expect(text).not.toMatch(/result="NotSelected"/);
  });

  it('with the webhook down, refuses labelled pods with a clear message and still admits every other pod', async () => {
    await w.operator.stopPart('webhook');
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
