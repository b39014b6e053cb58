// `npm run demo`: the whole mission on one machine. Start the lab; install the CRDs; run the
// operator (controller, issuer, webhook); create a store, a read-only dataset access and a
// write-only checkpoint access, and a labelled training pod; show what the webhook injected; run the
// injected sidecar as a local process with a token bound to that pod and the pod's own args and
// environment; run a small boto3 trainer with the app container's environment; summarise; stop.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { CustomObjectsApi, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { applyMutatingWebhookConfiguration } from '../../src/k8s/webhook-config.ts';
import { createAuthority, issueCertificate } from '../../src/tls/pki.ts';
import { podWebhookConfiguration } from '../../src/webhook/index.ts';
import { installCrds } from './apply.ts';
import { cleanEnv, startLab, type Lab } from './index.ts';
import { allocatePorts, startProcess, waitReady, type ServerProcess } from './process.ts';
import { waitFor as until } from './wait.ts';
import { createLabStore } from './valet.ts';

const root = join(import.meta.dirname, '..', '..');
const G = { group: 'valet.dev', version: 'v1alpha1' };
const NS = 'ml-team';
const out = (s = '') => process.stdout.write(s + '\n');
const step = (s: string) => out(`\n== ${s}`);

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}


function metricValue(text: string, name: string, label = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && line.includes(label) && !line.startsWith('#')) sum += Number(line.split(' ').at(-1));
  return sum;
}

async function createObjects(lab: Lab): Promise<void> {
  const custom = lab.kubeConfig.makeApiClient(CustomObjectsApi);
  await lab.core.createNamespace({ body: { metadata: { name: 'valet-system' } } });
  await lab.core.createNamespace({ body: { metadata: { name: NS, labels: { team: 'ml' } } } });
  await lab.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'trainer' } } });
  await createLabStore(lab, NS, { name: 'lab-minio', allowedVerbs: ['read', 'list', 'write'] });
  const access = (name: string, prefix: string, verbs: string[]) =>
    custom.createNamespacedCustomObject({
      ...G,
      namespace: NS,
      plural: 'datasetaccesses',
      body: {
        apiVersion: 'valet.dev/v1alpha1',
        kind: 'DatasetAccess',
        metadata: { name, namespace: NS },
        spec: { storeRef: { kind: 'DatasetStore', name: 'lab-minio' }, prefix, verbs, subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900 },
      },
    });
  await access('imagenet-read', 'imagenet/', ['read', 'list']);
  await access('checkpoints-write', 'checkpoints/', ['write']);
}

/** The pod's volumes, on this machine: a folder per volume, filled as the kubelet would fill it. */
function localVolumes(dir: string, pod: V1Pod, token: string, caPem: string): Map<string, string> {
  const local = new Map<string, string>();
  for (const v of pod.spec?.volumes ?? []) {
    const path = join(dir, 'volumes', v.name);
    mkdirSync(path, { recursive: true });
    if (v.projected) for (const s of v.projected.sources ?? []) if (s.serviceAccountToken) writeFileSync(join(path, s.serviceAccountToken.path), token);
    if (v.configMap) for (const item of v.configMap.items ?? [{ key: 'ca.crt', path: 'ca.crt' }]) writeFileSync(join(path, item.path), caPem);
    local.set(v.name, path);
  }
  return local;
}

/** Rewrites a container's mount paths in a string to the local folders of those volumes. */
function relocate(container: V1Container, local: Map<string, string>): (s: string) => string {
  const mounts = (container.volumeMounts ?? []).map((m) => [m.mountPath, local.get(m.name) ?? m.mountPath] as const).sort((a, b) => b[0].length - a[0].length);
  return (s) => mounts.reduce((acc, [from, to]) => acc.split(from).join(to), s);
}

export async function demo(): Promise<number> {
  const started = Date.now();
  step('Starting the lab (kube-apiserver, etcd, MinIO; built on first use)');
  const lab = await startLab();
  const procs: ServerProcess[] = [];
  try {
    const v = await lab.versions();
    out(`kube-apiserver ${v.kubeApiserver}, etcd ${v.etcd}, MinIO ${v.minio}, boto3 ${v.boto3}, Node ${v.node}`);
    await installCrds(lab.kubeConfig, join(root, 'crds'));

    step('Running valet operator: controller, key issuer and admission webhook');
    const ca = await createAuthority('valet-demo-ca');
    const serving = await issueCertificate(ca, { commonName: 'valet-operator', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const tls = join(lab.dir, 'operator-tls');
    mkdirSync(tls);
    writeFileSync(join(tls, 'tls.crt'), serving.certPem);
    writeFileSync(join(tls, 'tls.key'), serving.privateKeyPem, { mode: 0o600 });
    const ports = await allocatePorts(['issuer', 'webhook', 'metrics', 'sidecar', 'sidecarMetrics'] as const);
    const issuerUrl = `https://127.0.0.1:${ports.issuer}`;
    const operator = startProcess({
      name: 'valet-operator',
      command: process.execPath,
      args: [
        join(root, 'src/cli/main.ts'),
        'operator',
        `--kubeconfig=${lab.kubeconfig}`,
        '--namespace=valet-system',
        '--identity=demo',
        `--metrics-address=127.0.0.1:${ports.metrics}`,
        `--issuer-address=127.0.0.1:${ports.issuer}`,
        `--webhook-address=127.0.0.1:${ports.webhook}`,
        `--tls-cert-file=${join(tls, 'tls.crt')}`,
        `--tls-key-file=${join(tls, 'tls.key')}`,
        '--sidecar-image=valet:demo',
        `--sidecar-issuer-url=${issuerUrl}`,
        `--sidecar-port=${ports.sidecar}`,
        `--sidecar-metrics-port=${ports.sidecarMetrics}`,
      ],
      log: join(lab.logsDir, 'operator.log'),
    });
    procs.push(operator);
    await waitReady(operator, async () => (await get(`http://127.0.0.1:${ports.metrics}/readyz`)).status === 200, 60_000);
    await applyMutatingWebhookConfiguration(
      lab.kubeConfig,
      podWebhookConfiguration({ caPem: ca.certPem, url: `https://127.0.0.1:${ports.webhook}`, excludeNamespaces: ['valet-system'] }),
    );
    out(`operator up; issuer ${issuerUrl}; webhook registered (failurePolicy Fail, only pods labelled valet.dev/inject=true)`);

    step('An admin declares the store; the team declares two accesses');
    await createObjects(lab);
    const custom = lab.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const name of ['imagenet-read', 'checkpoints-write']) {
      const a = await until(`${name} to be Ready`, async () => {
        const o = (await custom.getNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', name })) as {
          spec: { prefix: string; verbs: string[] };
          status?: { conditions?: { type: string; status: string }[]; sessionPolicy?: string };
        };
        return o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? o : undefined;
      });
      const actions = (JSON.parse(a.status?.sessionPolicy ?? '{}') as { Statement: { Action: string[] }[] }).Statement.flatMap((s) => s.Action);
      out(`DatasetAccess ${name}: Ready; ${a.spec.verbs.join('+')} on ${a.spec.prefix} -> ${actions.join(', ')}`);
    }

    step('A training pod labelled valet.dev/inject=true is created; the webhook injects it');
    await lab.core.createNamespacedPod({
      namespace: NS,
      body: {
        // Several accesses: the annotation says which one SDKs get by default.
        metadata: { name: 'trainer-0', labels: { 'valet.dev/inject': 'true', app: 'trainer' }, annotations: { 'valet.dev/default-access': 'imagenet-read' } },
        spec: { serviceAccountName: 'trainer', containers: [{ name: 'train', image: 'python:3.11', command: ['python', 'train.py'] }] },
      },
    });
    const pod = await lab.core.readNamespacedPod({ namespace: NS, name: 'trainer-0' });
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'valet-sidecar');
    const app = pod.spec?.containers?.find((c) => c.name === 'train');
    if (!sidecar || !app) throw new Error('demo: the webhook did not inject the pod');
    out(`initContainers[0] ${sidecar.name}: restartPolicy ${sidecar.restartPolicy}, startupProbe ${sidecar.startupProbe?.httpGet?.path} on ${sidecar.startupProbe?.httpGet?.port}`);
    out(`  args: ${sidecar.args?.join(' ')}`);
    out(`volumes: ${(pod.spec?.volumes ?? []).map((v) => v.name).join(', ')}`);
    out(`container ${app.name} env:`);
    for (const e of app.env ?? []) out(`  ${e.name}=${e.value}`);

    step('Running the injected sidecar here, with a token bound to trainer-0');
    const token = await lab.token(NS, 'trainer', { boundPod: { name: 'trainer-0', uid: pod.metadata?.uid ?? '' }, expirationSeconds: 3600 });
    const volumes = localVolumes(lab.dir, pod, token, ca.certPem);
    const inSidecar = relocate(sidecar, volumes);
    // The downward API, as the kubelet would resolve it.
    const fieldRef = (path = ''): string => {
      const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(path)?.[1];
      if (annotation) return pod.metadata?.annotations?.[annotation] ?? '';
      return path === 'metadata.name' ? 'trainer-0' : path === 'metadata.namespace' ? NS : '';
    };
    const sidecarEnv = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value ?? fieldRef(e.valueFrom?.fieldRef?.fieldPath)]));
    const [, ...sidecarArgs] = sidecar.args ?? [];
    const sidecarProc = startProcess({
      name: 'valet-sidecar',
      command: process.execPath,
      // A low refresh fraction so the demo shows a refresh within seconds (default: half the lifetime).
      args: [join(root, 'src/cli/main.ts'), 'sidecar', ...sidecarArgs.map(inSidecar), '--refresh-fraction=0.005'],
      env: { ...cleanEnv(), ...sidecarEnv },
      log: join(lab.logsDir, 'sidecar.log'),
    });
    procs.push(sidecarProc);
    const sidecarMetrics = `http://127.0.0.1:${ports.sidecarMetrics}`;
    const readyAt = Date.now();
    await waitReady(sidecarProc, async () => (await get(`${sidecarMetrics}/readyz`)).status === 200, 30_000);
    out(`sidecar ready in ${Date.now() - readyAt} ms (the startup probe would now let the app start)`);

    step('The trainer runs with the app container\'s environment: plain boto3, no Valet code');
    const inApp = relocate(app, volumes);
    const appEnv = cleanEnv(Object.fromEntries((app.env ?? []).map((e) => [e.name, inApp(e.value ?? '')])));
    const run = await lab.python(readFileSync(join(import.meta.dirname, 'demo', 'trainer.py'), 'utf8'), appEnv, [lab.s3.bucket, 'checkpoints-write']);
    if (run.code !== 0) throw new Error(`demo: the trainer failed:\n${run.stderr}`);
    const steps = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: string; outcome: string; detail: string });
    for (const s of steps) out(`  ${s.outcome === 'ok' ? 'ok     ' : 'REFUSED'} ${s.step}${s.detail ? `: ${s.detail}` : ''}`);

    step('Key refresh: the sidecar replaces keys before they expire');
    const auth = readFileSync(join(volumes.get('valet-shared') ?? '', 'auth-token'), 'utf8');
    const credsUrl = inApp(app.env?.find((e) => e.name === 'AWS_CONTAINER_CREDENTIALS_FULL_URI')?.value ?? '');
    const first = JSON.parse((await get(credsUrl, { authorization: auth })).body) as { AccessKeyId: string };
    const second = await until('a refreshed key', async () => {
      const k = JSON.parse((await get(credsUrl, { authorization: auth })).body) as { AccessKeyId: string };
      return k.AccessKeyId !== first.AccessKeyId ? k : undefined;
    }, 30_000);
    out(`AccessKeyId ${first.AccessKeyId} -> ${second.AccessKeyId}`);
    const unauth = await get(credsUrl);
    out(`a request without the authorization file's value: HTTP ${unauth.status}`);

    step('Summary');
    const metrics = (await get(`${sidecarMetrics}/metrics`)).body;
    const opMetrics = (await get(`http://127.0.0.1:${ports.metrics}/metrics`)).body;
    const ok = steps.filter((s) => s.outcome === 'ok');
    const refused = steps.filter((s) => s.outcome !== 'ok');
    out(`granted:  imagenet-read (read+list imagenet/), checkpoints-write (write checkpoints/) to trainer-0`);
    out(`done:     ${ok.map((s) => s.step).join('; ')}`);
    out(`refused:  ${refused.length} attempts outside the grant, each AccessDenied from MinIO itself`);
    out(`sidecar:  ${metricValue(metrics, 'valet_sidecar_refreshes_total', 'result="ok"')} key fetches, ${metricValue(metrics, 'valet_sidecar_requests_total')} requests served`);
    out(`issuer:   ${metricValue(opMetrics, 'valet_issuer_sts_calls_total')} STS AssumeRole calls; controller wrote ${metricValue(opMetrics, 'valet_controller_reconciles_total', 'result="written"')} status updates`);
    const expected = ['list imagenet/', 'read shards', 'write checkpoints/step-100.pt'];
    const good = expected.every((e) => ok.some((s) => s.step === e)) && refused.length === steps.length - expected.length && refused.length >= 5;
    out(good ? '\nThe pod read its dataset and wrote its checkpoint with short-lived keys that could do nothing else.' : '\nUNEXPECTED: see the steps above.');
    out(`(${Math.round((Date.now() - started) / 1000)} s; logs were in ${lab.logsDir})`);
    return good ? 0 : 1;
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await lab.stop();
    out('Everything stopped; nothing left running.');
  }
}
