// The lab the cluster benchmarks share: real kube-apiserver, etcd and MinIO (test/lab), Valet's
// CRDs, a namespace with a service account, the issuer's Secret and a DatasetStore, TLS material
// from src/tls/pki.ts, and `valet operator` as a child process, as shipped (controller, issuer and
// webhook in one process). Started on first use, stopped by closeCluster(). Loopback only.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { DatasetAccess } from '../../src/api/v1alpha1/index.ts';
import { createAuthority, issueCertificate } from '../../src/tls/pki.ts';
import type { Authority } from '../../src/tls/pki.ts';
import { installCrds } from '../../test/lab/apply.ts';
import { labStoreSpec, startOperatorCommand } from '../../test/lab/valet.ts';
import { startLab } from '../../test/lab/index.ts';
import type { Lab } from '../../test/lab/index.ts';
import { allocatePorts, tail, waitReady } from '../../test/lab/process.ts';
import type { ServerProcess } from '../../test/lab/process.ts';
import { inBatches, until } from './stats.ts';

export const root = join(import.meta.dirname, '..', '..');
export const G = { group: 'valet.dev', version: 'v1alpha1' };
/** The namespace of the benchmarks' pods and accesses. */
export const NS = 'bench';
export const OPERATOR_NS = 'valet-system';
export const SA = 'worker';

export interface Operator {
  proc: ServerProcess;
  issuerUrl: string;
  webhookUrl: string;
  metricsUrl: string;
  /** The flags it was started with beyond the fixed ones. */
  extra: readonly string[];
}

export interface Cluster {
  lab: Lab;
  custom: CustomObjectsApi;
  /** The CA of the issuer's and webhook's serving certificate. */
  ca: Authority;
  caFile: string;
  serving: { certPem: string; keyPem: string };
  dir: string;
  operator: Operator | undefined;
  /** (Re)starts `valet operator` with these extra flags (and modules to --import) and waits until it is ready. */
  startOperator(extra?: readonly string[], opts?: { imports?: readonly string[] }): Promise<Operator>;
  stopOperator(): Promise<void>;
  /** Process ids by name: the lab's servers, the operator, and this process. */
  pids(): Record<string, number>;
}

let current: Promise<Cluster> | undefined;

/** The operator's Node options as the Helm chart ships them (values.yaml: operator.nodeOptions). */
export function chartNodeOptions(): string {
  const values = parseYaml(readFileSync(join(root, 'charts/valet/values.yaml'), 'utf8')) as { operator?: { nodeOptions?: string } };
  return values.operator?.nodeOptions ?? '';
}

/**
 * The operator runs with the chart's Node options (as shipped), then:
 * BENCH_OPERATOR_CPU_PROF=<dir>: a CPU profile of each operator, written when it stops.
 * BENCH_OPERATOR_NODE_OPTIONS: more Node options for the operator (experiments, e.g. heap flags;
 * a flag given here again wins over the chart's).
 */
function nodeOptions(imports: readonly string[]): string {
  const prof = process.env.BENCH_OPERATOR_CPU_PROF;
  const extra = process.env.BENCH_OPERATOR_NODE_OPTIONS ?? '';
  const chart = chartNodeOptions();
  return [...(chart ? [chart] : []), ...imports.map((m) => `--import=${m}`), ...(prof ? [`--cpu-prof`, `--cpu-prof-dir=${prof}`] : []), ...(extra ? [extra] : [])].join(' ');
}
let stop: (() => Promise<void>) | undefined;

export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Sum of a Prometheus metric's samples whose line contains `label`. */
export function metricSum(text: string, name: string, label = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#') && line.includes(label)) sum += Number(line.split(' ').at(-1));
  return sum;
}

/**
 * A ClusterDatasetStore on the lab MinIO that selects `namespace` only; its Secret sits in the
 * operator's namespace, the only one whose Secrets a store may name (ADR 0008).
 */
export function storeBody(lab: Lab, name: string, namespace: string, stsEndpoint = lab.s3.endpoint): Record<string, unknown> {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'ClusterDatasetStore',
    metadata: { name },
    spec: { ...labStoreSpec(lab, { stsEndpoint, allowedVerbs: ['read', 'list', 'write'] }), namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } },
  };
}

export function accessBody(name: string, namespace: string, store: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name, namespace },
    spec: { storeRef: { kind: 'ClusterDatasetStore', name: store }, prefix: 'imagenet/', verbs: ['read', 'list'], subjects: { serviceAccounts: [SA] }, sessionDurationSeconds: 900, ...extra },
  };
}

export const isReady = (a: DatasetAccess): boolean =>
  a.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True' && c.observedGeneration === a.metadata.generation) === true;

/** A namespace with the service account, and the issuer's Secret in the operator's namespace (idempotent). */
export async function ensureNamespace(lab: Lab, name: string): Promise<void> {
  const ignore409 = (err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  };
  await lab.core.createNamespace({ body: { metadata: { name } } }).catch(ignore409);
  await lab.core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: SA } } }).catch(ignore409);
  await lab.core.createNamespace({ body: { metadata: { name: OPERATOR_NS } } }).catch(ignore409);
  await lab.core
    .createNamespacedSecret({ namespace: OPERATOR_NS, body: { metadata: { name: 'minio-issuer' }, stringData: { accessKeyId: lab.s3.issuer.accessKeyId, secretAccessKey: lab.s3.issuer.secretAccessKey } } })
    .catch(ignore409);
}

/** Creates pods (one container, the benchmarks' service account) in parallel batches; returns name and UID. */
export async function createPods(lab: Lab, namespace: string, names: readonly string[], labels: Record<string, string> = {}): Promise<{ name: string; uid: string }[]> {
  return inBatches(names, 32, async (name) => {
    const pod = await lab.core.createNamespacedPod({
      namespace,
      body: { metadata: { name, labels }, spec: { serviceAccountName: SA, containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    });
    return { name, uid: pod.metadata?.uid ?? '' };
  });
}

export async function waitReadyAccess(c: Cluster, namespace: string, name: string, timeoutMs = 30_000): Promise<void> {
  await until(`DatasetAccess ${namespace}/${name} Ready`, async () => isReady((await c.custom.getNamespacedCustomObject({ ...G, namespace, plural: 'datasetaccesses', name })) as DatasetAccess), timeoutMs, 100);
}

async function setUp(log: (m: string) => void): Promise<Cluster> {
  log('starting the lab (kube-apiserver, etcd, MinIO)');
  const lab = await startLab();
  try {
    await installCrds(lab.kubeConfig, join(root, 'crds'));
    const custom = lab.kubeConfig.makeApiClient(CustomObjectsApi);
    await ensureNamespace(lab, NS);
    await custom.createClusterCustomObject({ ...G, plural: 'clusterdatasetstores', body: storeBody(lab, 'lab', NS) });
    const ca = await createAuthority('valet-bench-ca');
    const cert = await issueCertificate(ca, { commonName: 'valet-operator', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    const dir = join(lab.dir, 'bench');
    mkdirSync(dir);
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, ca.certPem);
    writeFileSync(join(dir, 'tls.crt'), cert.certPem);
    writeFileSync(join(dir, 'tls.key'), cert.privateKeyPem, { mode: 0o600 });
    let runs = 0;
    const c: Cluster = {
      lab,
      custom,
      ca,
      caFile,
      serving: { certPem: cert.certPem, keyPem: cert.privateKeyPem },
      dir,
      operator: undefined,
      pids() {
        const out: Record<string, number> = { bench: process.pid };
        for (const p of lab.processes()) out[p.name] = p.pid;
        if (c.operator) out.operator = c.operator.proc.pid;
        return out;
      },
      async stopOperator() {
        await c.operator?.proc.stop(process.env.BENCH_OPERATOR_CPU_PROF ? 60_000 : 5000);
        c.operator = undefined;
      },
      async startOperator(extra = [], opts = {}) {
        await c.stopOperator();
        const ports = await allocatePorts(['issuer', 'webhook', 'metrics'] as const);
        const issuerUrl = `https://127.0.0.1:${ports.issuer}`;
        const logName = `operator-${++runs}.log`;
        const log = join(lab.logsDir, logName);
        const proc = startOperatorCommand(
          lab,
          [
            `--kubeconfig=${lab.kubeconfig}`,
            `--namespace=${OPERATOR_NS}`,
            '--identity=bench',
            '--leader-elect=false',
            `--metrics-address=127.0.0.1:${ports.metrics}`,
            `--issuer-address=127.0.0.1:${ports.issuer}`,
            `--webhook-address=127.0.0.1:${ports.webhook}`,
            `--tls-cert-file=${join(dir, 'tls.crt')}`,
            `--tls-key-file=${join(dir, 'tls.key')}`,
            '--sidecar-image=valet:bench',
            `--sidecar-issuer-url=${issuerUrl}`,
            ...extra,
          ],
          { log: logName, env: { NODE_OPTIONS: nodeOptions(opts.imports ?? []) } },
        );
        const metricsUrl = `http://127.0.0.1:${ports.metrics}`;
        try {
          await waitReady(proc, async () => (await get(`${metricsUrl}/readyz`)).status === 200, 60_000);
        } catch (err) {
          await proc.stop();
          throw new Error(`valet operator did not become ready: ${(err as Error).message}\n${tail(log)}`, { cause: err });
        }
        c.operator = { proc, issuerUrl, webhookUrl: `https://127.0.0.1:${ports.webhook}`, metricsUrl, extra };
        return c.operator;
      },
    };
    stop = async () => {
      await c.stopOperator();
      await lab.stop();
    };
    return c;
  } catch (err) {
    await lab.stop();
    throw err;
  }
}

/** The shared lab, set up on first use. */
export function cluster(log: (m: string) => void): Promise<Cluster> {
  current ??= setUp(log);
  return current;
}

export async function closeCluster(): Promise<void> {
  const s = stop;
  stop = undefined;
  current = undefined;
  await s?.();
}
