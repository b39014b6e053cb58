// The lab world kit: every lab suite starts what it needs through startWorld. The lab (real
// kube-apiserver, etcd, MinIO; Azurite or a real node when asked), the CRDs, a tenant namespace with
// service accounts and a store over the lab bucket, and Valet's operator started in-process through
// startOperator (the function `valet operator` calls), its issuer over HTTPS with a CA of the
// world's own and its STS client wrapped only to count calls. Suites that need more operators (or
// the operator as its own process) start them through the world too. Everything started is stopped
// by stop(), and every secret handled is remembered, so a suite can prove at the end that nothing
// was left behind and nothing leaked.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { DatasetAccess } from '../../src/api/v1alpha1/index.ts';
import { OPERATOR_COMMAND } from '../../src/config/operator.ts';
import { parseCommandLine } from '../../src/config/parse.ts';
import { AwsSts } from '../../src/issuer/index.ts';
import type { AssumeRoleParams, IssuerSettings, Sts } from '../../src/issuer/index.ts';
import { createK8sClients } from '../../src/k8s/clients.ts';
import type { K8sClients } from '../../src/k8s/clients.ts';
import { startOperator } from '../../src/operator/start.ts';
import type { Operator, OperatorDeps } from '../../src/operator/start.ts';
import { createLogger } from '../../src/platform/logger.ts';
import type { Logger } from '../../src/platform/logger.ts';
import { createAuthority, issueCertificate } from '../../src/tls/pki.ts';
import { installCrds } from './apply.ts';
import { startLab, type Lab, type LabOptions } from './index.ts';
import type { ServerProcess } from './process.ts';
import { createLabStore, LAB_VALET_NAMESPACE, startLabOperator, startOperatorCommand, type LabOperatorOptions, type LabStoreOptions } from './valet.ts';
import { waitFor } from './wait.ts';

export { LAB_VALET_NAMESPACE } from './valet.ts';
export const G = { group: 'valet.dev', version: 'v1alpha1' };
const root = join(import.meta.dirname, '..', '..');

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => { error?: { code: string; message: string; reasons?: { access: string; reason: string; message: string }[] }; keys?: { access: string; credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string } }[] };
  /** On a closed connection (status 0): whether it was a kept-alive socket reused (a retry is then safe). */
  reusedSocket?: boolean;
}

/** An AssumeRole the world's operator made, when, and whether STS answered. */
export type StsCall = AssumeRoleParams & { at: number; ok: boolean };

export interface WorldIssuer {
  url: string;
  port: number;
  /** The CA the issuer's certificate chains to (PEM), and a file with it for sidecars. */
  caPem: string;
  caFile: string;
}

export interface World {
  lab: Lab;
  /** Valet's clients on the lab (pooled, as the operator's are). */
  clients: K8sClients;
  /** The tenant namespace ("" when none was asked for). */
  ns: string;
  /** A folder for this suite's files (token files, shared volume, TLS); removed by stop(). */
  dir: string;
  /** The operator's serving certificate files (tls.crt, tls.key) and the CA that signed them. */
  tls: { dir: string; certFile: string; keyFile: string; caPem: string; caFile: string };
  /** The operator startWorld started; throws when the world has none. */
  readonly operator: Operator;
  /** Its issuer; throws when the world has no operator. */
  readonly issuer: WorldIssuer;
  /** Every AssumeRole the operators made. */
  stsCalls: StsCall[];
  /** Every log line of the in-process operators, plus any a suite adds. */
  logLines: string[];
  logger: Logger;
  /** Every secret handled: bearer tokens, minted keys, the issuer's own key, sidecar auth tokens. */
  secrets: Set<string>;
  /** Calls the issuer over TLS. */
  call(method: string, path: string, opts?: { token?: string; authorization?: string; body?: string | Buffer; contentType?: string; headers?: Record<string, string> }): Promise<Reply>;
  /** A tenant namespace after start (once the CRDs exist, say after a Helm install). */
  addTenant(ns: string, o?: TenantOptions): Promise<void>;
  /** A DatasetAccess in `ns` (default: the world's) on that namespace's store, for service account trainer. */
  createAccess(name: string, spec: Record<string, unknown>, ns?: string): Promise<void>;
  readyOf(name: string, ns?: string): Promise<{ status: string; reason: string } | undefined>;
  /** Waits until the access's Ready condition (for its generation) has `status`, and answers it. */
  waitReady(name: string, status?: 'True' | 'False', ns?: string, timeoutMs?: number): Promise<{ status: string; reason: string }>;
  /** Creates a pod of service account `sa` and returns a token bound to it. */
  podToken(name: string, sa?: string, ns?: string): Promise<{ token: string; uid: string }>;
  /** Starts `valet sidecar` as its own process (as in a pod), with a pod-bound token file. */
  spawnSidecar(name: string, args: string[], env?: Record<string, string>): Promise<SidecarProcess>;
  waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  /** Stops the DatasetAccess controller's workers (as an outage would); statuses stay as they were. */
  stopController(): Promise<void>;
  startController(): Promise<void>;
  /** Stops the issuer (its port refuses), and starts it again on the same port. */
  stopIssuer(): Promise<void>;
  startIssuer(): Promise<void>;
  /** Another in-process operator on the lab (a second replica, a restart); stopped by stop(). */
  startOperator(args: readonly string[], o?: { sts?: Sts; issuerSettings?: Partial<IssuerSettings>; logger?: Logger; clients?: K8sClients }): Promise<Operator>;
  /** `valet operator` as its own process on the lab; stopped by stop(). */
  startOperatorProcess(o: Omit<LabOperatorOptions, 'tlsDir'> & { tlsDir?: string }): ServerProcess;
  /** `valet operator` with exactly `args` (a Deployment's own) as its own process; stopped by stop(). */
  startOperatorCommand(args: readonly string[], o: { log: string; env?: Record<string, string> }): ServerProcess;
  /** The main operator's /metrics text (the controller's, issuer's and webhook's metrics). */
  operatorMetrics(): Promise<string>;
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

/** A tenant namespace and what it holds (startWorld's `ns`, or world.addTenant). */
export interface TenantOptions {
  /** Labels beside team=<ns>. */
  labels?: Record<string, string>;
  /** Service accounts made in the namespace (default: trainer). */
  serviceAccounts?: readonly string[];
  /** The lab store selecting the namespace (default: the lab's ClusterDatasetStore "lab"); false: none. */
  store?: LabStoreOptions | false;
  /** Accesses created in the namespace (on its store, service account "trainer"), waited for until Ready. */
  accesses?: Record<string, Record<string, unknown>>;
  /** Accesses created in the namespace that the controller must refuse, with the reason awaited. */
  refused?: Record<string, { spec: Record<string, unknown>; reason: string }>;
  /** How long to wait for the accesses' conditions (default 20 s). */
  readyTimeoutMs?: number;
}

export interface WorldOptions extends TenantOptions {
  /** The lab's servers (default: kube-apiserver, etcd and MinIO). */
  lab?: LabOptions;
  /** Install the CRDs (default: when the lab runs Kubernetes). */
  crds?: boolean;
  /** The tenant namespace, set up as TenantOptions say. Without it the world has no tenant. */
  ns?: string;
  /**
   * Start Valet's operator in-process (default: when `ns` is given): controller, issuer over
   * HTTPS, and the webhook when asked. `args` are more `valet operator` flags.
   */
  operator?: boolean | { args?: readonly string[]; webhook?: boolean };
  /** Issuer settings no flag sets (a rate limit of 1 per second, say). */
  issuerSettings?: Partial<IssuerSettings>;
}

/** The lab world: see the top of this file. */
export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const ns = opts.ns ?? '';
  const lab = await startLab(opts.lab);
  const kube = opts.lab?.kube ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'valet-world-'));
  const logLines: string[] = [];
  const secrets = new Set<string>([lab.s3.issuer.secretAccessKey, lab.s3.root.secretAccessKey]);
  const stsCalls: StsCall[] = [];
  const clients = kube ? createK8sClients(lab.kubeConfig) : (undefined as unknown as K8sClients);
  const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });
  const sidecars: SidecarProcess[] = [];
  const operators: Operator[] = [];
  const processes: ServerProcess[] = [];
  const sts = new AwsSts();
  let agent: Agent | undefined;
  let main: Operator | undefined;
  let issuer: WorldIssuer | undefined;

  // One STS for every operator of the world, counted: what the issuer asked for, and each key.
  const counted: Sts = {
    assumeRole: async (p, signal) => {
      const entry: StsCall = { ...p, at: Date.now(), ok: false };
      stsCalls.push(entry);
      const key = await sts.assumeRole(p, signal);
      entry.ok = true;
      secrets.add(key.secretAccessKey);
      secrets.add(key.sessionToken);
      return key;
    },
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Every step runs even when one before it fails; the failures are thrown together at the end.
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    for (const s of sidecars) await step(`sidecar on port ${s.port}`, () => s.kill('SIGKILL'));
    for (const p of processes.splice(0).reverse()) await step(p.name, () => p.stop());
    for (const o of operators.splice(0).reverse()) {
      await step('an operator', async () => {
        const r = await o.stop(10_000);
        const stuck = [...r.timedOut, ...r.failed];
        if (stuck.length > 0) throw new Error(`parts did not stop cleanly: ${stuck.join(', ')}`);
      });
    }
    agent?.destroy();
    sts.destroy();
    await step('the lab', () => lab.stop());
    rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`the world did not stop cleanly: ${problems.join('; ')}`);
  };

  const world: Partial<World> & Record<string, unknown> = { lab, clients, ns, dir, stsCalls, logLines, logger, secrets, waitFor, stop };
  Object.defineProperty(world, 'operator', {
    get: () => {
      if (!main) throw new Error('this world has no operator (startWorld({ operator: true }))');
      return main;
    },
  });
  Object.defineProperty(world, 'issuer', {
    get: () => {
      if (!issuer) throw new Error('this world has no issuer (startWorld({ operator: true }))');
      return issuer;
    },
  });
  try {
    // The operator's serving certificate, from a CA of the world's own.
    const ca = await createAuthority('valet-world-ca');
    const serving = await issueCertificate(ca, { commonName: 'valet-issuer', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    secrets.add(serving.privateKeyPem.split('\n').slice(1, 3).join(''));
    const tlsDir = join(dir, 'tls');
    mkdirSync(tlsDir);
    const tls = { dir: tlsDir, certFile: join(tlsDir, 'tls.crt'), keyFile: join(tlsDir, 'tls.key'), caPem: ca.certPem, caFile: join(tlsDir, 'ca.crt') };
    writeFileSync(tls.certFile, serving.certPem);
    writeFileSync(tls.keyFile, serving.privateKeyPem, { mode: 0o600 });
    writeFileSync(tls.caFile, ca.certPem);
    world.tls = tls;

    // Valet's own namespace (its Lease, its TLS Secret, the store Secrets it reads) comes with its
    // CRDs, as `kubectl apply -f crds/` and the chart would make it; a world without the CRDs (the
    // chart installs them, or none are wanted) leaves it to whoever installs Valet.
    const ensureValetNamespace = () =>
      lab.core.createNamespace({ body: { metadata: { name: LAB_VALET_NAMESPACE } } }).catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
    if (opts.crds ?? kube) {
      await installCrds(lab.kubeConfig, join(root, 'crds'));
      await ensureValetNamespace();
    }
    // Each tenant namespace's store: what createAccess names by default.
    const storeOf = new Map<string, string>();
    world.createAccess = async (name, spec, inNs = ns) => {
      await clients.customObjects.createNamespacedCustomObject({
        ...G,
        namespace: inNs,
        plural: 'datasetaccesses',
        body: {
          apiVersion: 'valet.dev/v1alpha1',
          kind: 'DatasetAccess',
          metadata: { name, namespace: inNs },
          spec: { storeRef: { kind: 'ClusterDatasetStore', name: storeOf.get(inNs) ?? 'lab' }, prefix: 'imagenet/', verbs: ['read', 'list'], subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900, ...spec },
        },
      });
    };
    world.readyOf = async (name, inNs = ns) => {
      const a = (await clients.customObjects.getNamespacedCustomObject({ ...G, namespace: inNs, plural: 'datasetaccesses', name })) as DatasetAccess;
      const r = a.status?.conditions?.find((c) => c.type === 'Ready');
      return r && r.observedGeneration === a.metadata.generation ? { status: r.status, reason: r.reason } : undefined;
    };
    world.waitReady = (name, status = 'True', inNs = ns, timeoutMs = 20_000) =>
      waitFor(
        `${inNs}/${name} Ready=${status}`,
        async () => {
          const r = await (world.readyOf as World['readyOf'])(name, inNs);
          return r?.status === status ? r : undefined;
        },
        timeoutMs,
      );
    world.addTenant = async (tenant, o = {}) => {
      await lab.core.createNamespace({ body: { metadata: { name: tenant, labels: { team: tenant, ...o.labels } } } });
      for (const sa of o.serviceAccounts ?? ['trainer']) await lab.core.createNamespacedServiceAccount({ namespace: tenant, body: { metadata: { name: sa } } });
      if (o.store !== false) {
        await createLabStore(lab, tenant, o.store ?? {});
        storeOf.set(tenant, o.store?.name ?? 'lab');
      }
      const w = world as World;
      for (const [name, spec] of Object.entries(o.accesses ?? {})) await w.createAccess(name, spec, tenant);
      for (const [name, r] of Object.entries(o.refused ?? {})) await w.createAccess(name, r.spec, tenant);
      for (const name of Object.keys(o.accesses ?? {})) await w.waitReady(name, 'True', tenant, o.readyTimeoutMs);
      for (const [name, r] of Object.entries(o.refused ?? {})) {
        const got = await w.waitReady(name, 'False', tenant, o.readyTimeoutMs);
        if (got.reason !== r.reason) throw new Error(`access ${tenant}/${name} was refused for ${got.reason}, not ${r.reason}`);
      }
    };

    world.startOperator = async (args, o = {}) => {
      const parsed = parseCommandLine(OPERATOR_COMMAND, [
        `--kubeconfig=${lab.kubeconfig}`,
        `--namespace=${LAB_VALET_NAMESPACE}`,
        '--metrics-address=127.0.0.1:0',
        `--tls-cert-file=${tls.certFile}`,
        `--tls-key-file=${tls.keyFile}`,
        '--webhook-address=',
        '--leader-elect=false',
        '--resync-seconds=5',
        '--workers=2',
        ...args,
      ]);
      if (!('config' in parsed)) throw new Error('valet operator printed its help instead of starting');
      const deps: OperatorDeps = {
        clients: o.clients ?? clients,
        sts: o.sts ?? counted,
        registry: new Registry(),
        logger: o.logger ?? logger,
        ...(o.issuerSettings ? { issuerSettings: o.issuerSettings } : {}),
      };
      const op = await startOperator(parsed.config.operator, parsed.config.webhook, deps);
      operators.push(op);
      return op;
    };
    world.startOperatorCommand = (args, o) => {
      const p = startOperatorCommand(lab, args, o);
      processes.push(p);
      return p;
    };
    world.startOperatorProcess = (o) => {
      const p = startLabOperator(lab, { ...o, tlsDir: o.tlsDir ?? tls.dir });
      processes.push(p);
      return p;
    };

    const wantOperator = opts.operator ?? ns !== '';
    if (wantOperator) {
      await ensureValetNamespace();
      const o = typeof opts.operator === 'object' ? opts.operator : {};
      const issuerPort = await freePort();
      main = await world.startOperator([`--issuer-address=127.0.0.1:${issuerPort}`, ...(o.webhook ? ['--webhook-address=127.0.0.1:0'] : []), ...(o.args ?? [])], { ...(opts.issuerSettings ? { issuerSettings: opts.issuerSettings } : {}) });
      const op = main;
      await waitFor('the operator ready', async () => op.ready());
      issuer = { url: `https://127.0.0.1:${issuerPort}`, port: issuerPort, caPem: ca.certPem, caFile: tls.caFile };
      agent = new Agent({ keepAlive: true, maxSockets: 512, ca: ca.certPem });
    }
    const the = () => (world as World).operator;
    world.operatorMetrics = async () => {
      const res = await fetch(`http://${the().addresses.metrics}/metrics`);
      if (res.status !== 200) throw new Error(`the operator's /metrics answered ${res.status}`);
      return res.text();
    };
    world.stopController = () => the().stopPart('leader');
    world.startController = () => the().startPart('leader');
    world.stopIssuer = () => the().stopPart('issuer');
    world.startIssuer = () => the().startPart('issuer');

    if (ns) await world.addTenant(ns, opts);

    const iss = () => world.issuer as WorldIssuer;
    world.call = (method, path, o = {}) => {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      if (o.authorization !== undefined) headers.authorization = o.authorization;
      if (o.body !== undefined) {
        headers['content-type'] ??= o.contentType ?? 'application/json';
        headers['content-length'] ??= String(Buffer.byteLength(o.body));
      }
      return new Promise((resolve, reject) => {
        const req = request(`${iss().url}${path}`, { method, headers, agent, ca: ca.certPem }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as ReturnType<Reply['json']> }));
          res.on('error', reject);
        });
        req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? resolve({ status: 0, headers: {}, body: `closed: ${err.code}`, json: () => ({}), reusedSocket: req.reusedSocket }) : reject(err)));
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
        `--issuer-url=${iss().url}`,
        `--issuer-ca-file=${tls.caFile}`,
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
