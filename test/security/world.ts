// The world the security suites run in: the lab (real kube-apiserver, etcd, MinIO), the CRDs, a
// tenant namespace with a DatasetStore over the lab bucket, the real DatasetAccess controller, and
// the real issuer over HTTPS with its STS client wrapped only to count calls. Everything a suite
// starts is stopped by stop(), and every secret it handles is remembered, so a suite can prove at
// the end that nothing was left behind and nothing leaked.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { DatasetAccess } from '../../src/api/v1alpha1/index.ts';
import { DatasetAccessController } from '../../src/controller/controller.ts';
import { createK8sClients } from '../../src/k8s/clients.ts';
import type { K8sClients } from '../../src/k8s/clients.ts';
import { EventRecorder } from '../../src/k8s/events.ts';
import { InformerGrantSource } from '../../src/k8s/grants.ts';
import { createPodAuthenticator } from '../../src/k8s/identity.ts';
import { AwsSts, createIssuerApp, startIssuerServer } from '../../src/issuer/index.ts';
import type { AssumeRoleParams, IssuerServer, Sts } from '../../src/issuer/index.ts';
import { createIssuerMetrics } from '../../src/metrics/issuer.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createAuthority, issueCertificate } from '../../src/tls/pki.ts';
import { installCrds } from '../lab/apply.ts';
import { startLab, type Lab } from '../lab/index.ts';
import { waitFor } from '../lab/wait.ts';
import { createLabStore, startInProcessController } from '../lab/valet.ts';

export const G = { group: 'valet.dev', version: 'v1alpha1' };
const root = join(import.meta.dirname, '..', '..');

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => { error?: { code: string; message: string; reasons?: { access: string; reason: string; message: string }[] }; keys?: { access: string; credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string } }[] };
}

export interface World {
  lab: Lab;
  clients: K8sClients;
  ns: string;
  /** A folder for this suite's files (token files, shared volume); removed by stop(). */
  dir: string;
  issuer: IssuerServer;
  issuerCaFile: string;
  /** Every AssumeRole the issuer made. */
  stsCalls: AssumeRoleParams[];
  /** Every log line of the in-process controller and issuer, plus any a suite adds. */
  logLines: string[];
  /** Every secret handled: bearer tokens, minted keys, the issuer's own key, sidecar auth tokens. */
  secrets: Set<string>;
  /** Calls the issuer over TLS. */
  call(method: string, path: string, opts?: { token?: string; authorization?: string; body?: string | Buffer; contentType?: string; headers?: Record<string, string> }): Promise<Reply>;
  createAccess(name: string, spec: Record<string, unknown>, ns?: string): Promise<void>;
  readyOf(name: string, ns?: string): Promise<{ status: string; reason: string } | undefined>;
  /** Creates a pod of service account `sa` and returns a token bound to it. */
  podToken(name: string, sa?: string, ns?: string): Promise<{ token: string; uid: string }>;
  /** Starts `valet sidecar` as its own process (as in a pod), with a pod-bound token file. */
  spawnSidecar(name: string, args: string[], env?: Record<string, string>): Promise<SidecarProcess>;
  waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  /** Stops the DatasetAccess controller (as an outage would); statuses stay as they were. */
  stopController(): Promise<void>;
  /** Objects the suite must not have created as a side effect of a refused request. */
  sideEffects(): Promise<{ secrets: number; configMaps: number; events: number; pods: number }>;
  stop(): Promise<void>;
}

export interface SidecarProcess {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  authTokenFile: string;
  /** Lines the sidecar wrote (JSON logs). */
  lines: string[];
  /** Reads the current auth token (the app reads the file too). */
  authToken(): string;
  get(path: string, opts?: { authorization?: string; method?: string; metrics?: boolean }): Promise<{ status: number; body: string }>;
  /** Resident memory in bytes, from /proc. */
  rss(): number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}


export function metric(text: string, name: string, labels = ''): number {
  const re = new RegExp(`^${name}${labels ? `\\{[^}]*${labels}[^}]*\\}` : '(\\{[^}]*\\})?'} (\\S+)$`, 'gm');
  let sum = 0;
  for (const m of text.matchAll(re)) sum += Number(m[m.length - 1]);
  return sum;
}

/**
 * Stops the world and answers what it left behind: its lab folder (valet-lab-*, under
 * os.tmpdir(), with the servers' data and logs) and its own folder, if either still exists.
 * Other suites may run labs at the same time, so only this world's folders are checked.
 */
export async function stopAndListLeftovers(w: World): Promise<string[]> {
  const folders = [w.lab.dir, w.dir];
  await w.stop();
  return folders.filter((f) => existsSync(f));
}

/** Secrets (whole, and a JWT's signature alone) found in `texts`, as "where: line" strings. */
export function leaks(secrets: Iterable<string>, texts: { where: string; line: string }[]): string[] {
  const found: string[] = [];
  for (const s of secrets) {
    if (s.length < 8) continue;
    const needles = [s, ...(s.split('.').length === 3 ? [s.split('.')[2] ?? s] : [])];
    for (const t of texts) if (needles.some((n) => t.line.includes(n))) found.push(`${t.where}: ${t.line.slice(0, 160)}`);
  }
  return found;
}

export interface WorldOptions {
  ns: string;
  /** Accesses created in `ns` (store "lab", service account "trainer"), waited for until Ready. */
  accesses: Record<string, Record<string, unknown>>;
  issuerSettings?: Parameters<typeof createIssuerApp>[0]['settings'];
}

export async function startWorld(opts: WorldOptions): Promise<World> {
  const { ns } = opts;
  const lab = await startLab();
  const dir = mkdtempSync(join(tmpdir(), 'valet-security-'));
  const logLines: string[] = [];
  const secrets = new Set<string>([lab.s3.issuer.secretAccessKey, lab.s3.root.secretAccessKey]);
  const stsCalls: AssumeRoleParams[] = [];
  const clients = createK8sClients(lab.kubeConfig);
  const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });
  const stopController = new AbortController();
  const sidecars: SidecarProcess[] = [];
  let controller: DatasetAccessController | undefined;
  let controllerRun: Promise<void> | undefined;
  let grants: InformerGrantSource | undefined;
  let issuer: IssuerServer | undefined;
  let agent: Agent | undefined;
  const sts = new AwsSts();

  const haltController = async () => {
    stopController.abort();
    await controllerRun;
    await controller?.stop();
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const s of sidecars) await s.kill('SIGKILL');
    await haltController();
    await issuer?.close();
    agent?.destroy();
    await grants?.stop();
    sts.destroy();
    await lab.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  const world: Partial<World> = { lab, clients, ns, dir, stsCalls, logLines, secrets, waitFor, stop, stopController: haltController };
  try {
    await installCrds(lab.kubeConfig, join(root, 'crds'));
    await lab.core.createNamespace({ body: { metadata: { name: ns, labels: { team: ns } } } });
    await lab.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'trainer' } } });
    await createLabStore(lab, ns);

    world.createAccess = async (name, spec, inNs = ns) => {
      await clients.customObjects.createNamespacedCustomObject({
        ...G,
        namespace: inNs,
        plural: 'datasetaccesses',
        body: {
          apiVersion: 'valet.dev/v1alpha1',
          kind: 'DatasetAccess',
          metadata: { name, namespace: inNs },
          spec: { storeRef: { kind: 'ClusterDatasetStore', name: 'lab' }, prefix: 'imagenet/', verbs: ['read', 'list'], subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900, ...spec },
        },
      });
    };
    world.readyOf = async (name, inNs = ns) => {
      const a = (await clients.customObjects.getNamespacedCustomObject({ ...G, namespace: inNs, plural: 'datasetaccesses', name })) as DatasetAccess;
      const r = a.status?.conditions?.find((c) => c.type === 'Ready');
      return r && r.observedGeneration === a.metadata.generation ? { status: r.status, reason: r.reason } : undefined;
    };
    for (const [name, spec] of Object.entries(opts.accesses)) await world.createAccess(name, spec);

    ({ controller, run: controllerRun } = startInProcessController(clients, logger, stopController.signal));
    for (const name of Object.keys(opts.accesses)) await waitFor(`${name} Ready`, async () => (await world.readyOf?.(name))?.status === 'True');

    const registry = new Registry();
    const metrics = createIssuerMetrics(registry);
    grants = new InformerGrantSource({ clients, logger, metrics });
    grants.start();
    if (!(await grants.waitForSync())) throw new Error('the issuer caches did not sync');
    const counted: Sts = {
      assumeRole: async (p, signal) => {
        stsCalls.push(p);
        const key = await sts.assumeRole(p, signal);
        secrets.add(key.secretAccessKey);
        secrets.add(key.sessionToken);
        return key;
      },
    };
    const g = grants;
    const app = createIssuerApp({
      authenticator: createPodAuthenticator(clients, { logger, metrics }),
      grants: g,
      sts: counted,
      logger: logger.child({ component: 'issuer' }),
      events: new EventRecorder({ core: clients.core, logger, component: 'valet-issuer' }),
      metrics,
      registry,
      ready: () => g.hasSynced(),
      settings: opts.issuerSettings,
    });
    const ca = await createAuthority('valet-security-test-ca');
    const serving = await issueCertificate(ca, { commonName: 'valet-issuer', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    secrets.add(serving.privateKeyPem.split('\n').slice(1, 3).join(''));
    issuer = await startIssuerServer({ app, tls: { certPem: serving.certPem, keyPem: serving.privateKeyPem }, host: '127.0.0.1', port: 0 });
    world.issuer = issuer;
    world.issuerCaFile = join(dir, 'issuer-ca.crt');
    writeFileSync(world.issuerCaFile, ca.certPem);
    agent = new Agent({ keepAlive: true, ca: ca.certPem });
    const a = agent;
    const iss = issuer;

    world.call = (method, path, o = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      if (o.authorization !== undefined) headers.authorization = o.authorization;
      if (o.body !== undefined) {
        headers['content-type'] ??= o.contentType ?? 'application/json';
        headers['content-length'] ??= String(Buffer.byteLength(o.body));
      }
      return new Promise((resolve, reject) => {
        const req = request(`${iss.url}${path}`, { method, headers, agent: a, ca: ca.certPem }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as ReturnType<Reply['json']> }));
          res.on('error', reject);
        });
        req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? resolve({ status: 0, headers: {}, body: `closed: ${err.code}`, json: () => ({}) }) : reject(err)));
        req.end(o.body);
      });
    };

    world.podToken = async (name, sa = 'trainer', inNs = ns) => {
      const pod = await lab.core.createNamespacedPod({ namespace: inNs, body: { metadata: { name }, spec: { serviceAccountName: sa, containers: [{ name: 'app', image: 'example.invalid/app:1' }] } } });
      const uid = pod.metadata?.uid ?? '';
      const token = await lab.token(inNs, sa, { boundPod: { name, uid } });
      secrets.add(token);
      return { token, uid };
    };

    world.spawnSidecar = async (name, args, extraEnv = {}) => {
      const { token } = await (world.podToken as World['podToken'])(name);
      const tokenFile = join(dir, `${name}.token`);
      writeFileSync(tokenFile, token);
      const authTokenFile = join(dir, `${name}-shared`, 'auth-token');
      const port = await freePort();
      const metricsPort = await freePort();
      const lines: string[] = [];
      const argv = [
        join(root, 'src/cli/main.ts'),
        'sidecar',
        `--issuer-url=${iss.url}`,
        `--issuer-ca-file=${world.issuerCaFile}`,
        `--token-file=${tokenFile}`,
        `--auth-token-file=${authTokenFile}`,
        `--port=${port}`,
        `--metrics-address=127.0.0.1:${metricsPort}`,
        '--log-level=debug',
        ...args,
      ];
      const start = async (): Promise<ChildProcess> => {
        const child = spawn(process.execPath, argv, { env: { PATH: process.env.PATH, HOME: process.env.HOME, POD_NAME: name, POD_NAMESPACE: ns, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
        let buf = '';
        const onData = (c: Buffer) => {
          buf += c.toString();
          const parts = buf.split('\n');
          buf = parts.pop() ?? '';
          lines.push(...parts);
        };
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        await waitFor(`sidecar ${name} ready`, async () => {
          if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${lines.slice(-5).join('\n')}`);
          const r = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined);
          return r?.status === 200;
        }, 30_000);
        return child;
      };
      const proc: SidecarProcess = {
        child: await start(),
        port,
        metricsPort,
        authTokenFile,
        lines,
        authToken: () => readFileSync(authTokenFile, 'utf8'),
        async get(path, o = {}) {
          const res = await fetch(`http://127.0.0.1:${o.metrics ? metricsPort : port}${path}`, {
            method: o.method ?? 'GET',
            headers: o.authorization === undefined ? (o.metrics ? {} : { authorization: proc.authToken() }) : o.authorization === '' ? {} : { authorization: o.authorization },
          });
          return { status: res.status, body: await res.text() };
        },
        rss() {
          const status = readFileSync(`/proc/${proc.child.pid}/status`, 'utf8');
          return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
        },
        async kill(signal = 'SIGTERM') {
          const c = proc.child;
          if (c.exitCode !== null || c.signalCode !== null) return;
          const exited = new Promise<void>((r) => c.once('exit', () => r()));
          c.kill(signal);
          await exited;
        },
      };
      // Restart support: a new process of the same sidecar (same ports and files).
      (proc as SidecarProcess & { restart: () => Promise<void> }).restart = async () => {
        proc.child = await start();
      };
      secrets.add(proc.authToken());
      sidecars.push(proc);
      return proc;
    };

    world.sideEffects = async () => {
      const [s, c, e, p] = await Promise.all([
        lab.core.listNamespacedSecret({ namespace: ns }),
        lab.core.listNamespacedConfigMap({ namespace: ns }),
        lab.core.listNamespacedEvent({ namespace: ns }),
        lab.core.listNamespacedPod({ namespace: ns }),
      ]);
      return { secrets: s.items.length, configMaps: c.items.length, events: e.items.reduce((n, ev) => n + (ev.count ?? 1), 0), pods: p.items.length };
    };
  } catch (err) {
    await stop();
    throw err;
  }
  return world as World;
}

export type RestartableSidecar = SidecarProcess & { restart: () => Promise<void> };

export { waitFor };
