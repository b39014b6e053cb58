// The lab harness: `startLab()` builds what is missing, starts etcd, kube-apiserver and MinIO (and,
// when asked, Azurite) on free loopback ports in a temporary folder, and returns clients and
// helpers; `stop()` stops every process and removes the folder. Nothing here is a mock.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../src/k8s/clients.ts';
import { ensureBuilt, LabError, type LabBinaries } from './build.ts';
import { startApiserver, startEtcd, writeKubeFiles, type KubeFiles } from './kube.ts';
import { LAB_BUCKET, LAB_REGION, LAB_ROLE_ARN, newCredentials, SEED_OBJECTS, setUpMinio, startMinio, type AccessKey, type MinioCredentials } from './minio.ts';
import { allocatePorts, runCaptured, tail, type RunResult, type ServerProcess } from './process.ts';
import { seedAzurite, startAzurite } from './azurite.ts';
import { apiserverNodeFlags, ensureNodeBuilt, KUBERNETES_SERVICE_IP, NODE_IP, prepareNodeForApiserver, startNode, type LabNode } from './node/node.ts';

export { LabError } from './build.ts';
export { LAB_BUCKET, LAB_REGION, SEED_OBJECTS } from './minio.ts';

const PORTS = ['etcd', 'etcdPeer', 'apiserver', 'minio', 'minioConsole'] as const;
export type PortName = (typeof PORTS)[number];

export interface LabOptions {
  /** Start etcd and kube-apiserver (default true). */
  kube?: boolean;
  /** Start MinIO (default true). */
  minio?: boolean;
  /** Start Azurite's blob service (default false); its container LAB_BUCKET holds SEED_OBJECTS too. */
  azurite?: boolean;
  /**
   * Start a real node (default false): kubelet, containerd, kube-proxy and CoreDNS in namespaces of
   * their own, kube-controller-manager and kube-scheduler beside the apiserver. Needs root.
   */
  node?: boolean;
  /** Fixed ports; any not given are picked free. A taken port is a clear error. */
  ports?: Partial<Record<PortName, number>>;
  /** Let the servers outlive this process (for `npm run lab -- up`). */
  detached?: boolean;
  /** Readiness timeout per server. */
  timeoutMs?: number;
}

export interface TokenOptions {
  audience?: string;
  boundPod?: { name: string; uid: string };
  expirationSeconds?: number;
}

export interface S3Lab {
  endpoint: string;
  region: string;
  bucket: string;
  roleArn: string;
  /** The issuer's long-term key (AssumeRole + the bucket). */
  issuer: AccessKey;
  /** MinIO's root key: only for setting the lab up. */
  root: AccessKey;
}

export interface AzureLab {
  /** Blob service URL with the account path: http://127.0.0.1:PORT/devstoreaccount1. */
  endpoint: string;
  accountName: string;
  /** The account key (base64): the long-term key Valet's issuer holds, never a pod. */
  accountKey: string;
  /** The container seeded like the S3 bucket (LAB_BUCKET, SEED_OBJECTS). */
  container: string;
  version: string;
}

export interface LabVersions {
  node: string;
  kubeApiserver?: string;
  etcd?: string;
  minio?: string;
  azurite?: string;
  boto3: string;
  awscli: string;
}

export type { RunResult } from './process.ts';

export interface Lab {
  readonly dir: string;
  readonly logsDir: string;
  readonly ports: Record<PortName, number>;
  readonly binaries: LabBinaries;
  readonly kubeconfig: string;
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly caPem: string;
  readonly s3: S3Lab;
  /** Present when the lab was started with `azurite: true`. */
  readonly azure?: AzureLab;
  /** Present when the lab was started with `node: true`. */
  readonly node?: LabNode;
  readonly processes: () => ServerProcess[];
  versions(): Promise<LabVersions>;
  /** A projected-style service-account token from the real TokenRequest API. */
  token(namespace: string, serviceAccount: string, opts?: TokenOptions): Promise<string>;
  /** Runs the lab's Python (with boto3) on a script; env is the whole environment for the child. */
  python(script: string, env: NodeJS.ProcessEnv, args?: string[]): Promise<RunResult>;
  /** Runs the lab's awscli; env is the whole environment for the child. */
  aws(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult>;
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
  stopMinio(): Promise<void>;
  startMinio(): Promise<void>;
  /** The last lines of every server log, for a failing test's report. */
  logTails(lines?: number): string;
  stop(): Promise<void>;
}

/** A minimal environment for client processes: no credentials or AWS settings leak in from ours. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'SYSTEMROOT'];
  const out: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) out[k] = process.env[k];
  return {
    ...out,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}


export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const wantKube = opts.kube ?? true;
  const wantMinio = opts.minio ?? true;
  const wantAzurite = opts.azurite ?? false;
  const wantNode = opts.node ?? false;
  if (wantNode && !wantKube) throw new LabError('a lab node needs the kube-apiserver (kube: true)');
  const binaries = await ensureBuilt();
  const nodeBinaries = wantNode ? await ensureNodeBuilt() : undefined;
  const ports = await allocatePorts(PORTS, opts.ports);
  const dir = mkdtempSync(join(tmpdir(), 'valet-lab-'));
  const logsDir = join(dir, 'logs');
  mkdirSync(logsDir);
  const runEnv: NodeJS.ProcessEnv = { VALET_LAB_DIR: dir };
  const procs: Partial<Record<'etcd' | 'apiserver' | 'minio' | 'azurite', ServerProcess>> = {};
  const timeoutMs = opts.timeoutMs;
  const credentials: MinioCredentials = newCredentials();
  let files: KubeFiles | undefined;
  let minioVersion: string | undefined;
  let azure: AzureLab | undefined;
  let node: LabNode | undefined;

  const stopAll = async () => {
    await node?.stop();
    // Reverse order of dependence: the apiserver before its etcd.
    for (const name of ['apiserver', 'minio', 'azurite', 'etcd'] as const) await procs[name]?.stop();
  };

  const bootApiserver = async () => {
    if (!files) throw new LabError('the lab was started without Kubernetes');
    procs.apiserver = await startApiserver({
      binary: binaries.kubeApiserver,
      files,
      port: ports.apiserver,
      etcdPort: ports.etcd,
      env: runEnv,
      detached: opts.detached,
      timeoutMs,
      ...(wantNode ? { nodeFlags: apiserverNodeFlags(join(dir, 'node')) } : {}),
    });
  };
  const bootMinio = async () => {
    procs.minio = await startMinio({ binary: binaries.minio, dir, port: ports.minio, consolePort: ports.minioConsole, credentials, env: runEnv, detached: opts.detached, timeoutMs });
  };

  try {
    if (wantKube) {
      files = await writeKubeFiles(dir, ports.apiserver, wantNode ? [NODE_IP, KUBERNETES_SERVICE_IP] : []);
      if (wantNode) await prepareNodeForApiserver(join(dir, 'node'), files.authority);
      procs.etcd = await startEtcd({ binary: binaries.etcd, dir, clientPort: ports.etcd, peerPort: ports.etcdPeer, env: runEnv, detached: opts.detached, timeoutMs });
      await bootApiserver();
    }
    if (wantMinio) {
      await bootMinio();
      minioVersion = await setUpMinio({ adminBinary: binaries.minioAdmin, dir, port: ports.minio, credentials });
    }
    if (wantAzurite) {
      const server = await startAzurite({ dir, logsDir, env: runEnv, detached: opts.detached, timeoutMs });
      procs.azurite = server.process;
      azure = { endpoint: server.endpoint, accountName: server.accountName, accountKey: server.accountKey, container: LAB_BUCKET, version: server.version };
      await seedAzurite(server, LAB_BUCKET, SEED_OBJECTS);
    }
    if (nodeBinaries && files) {
      node = await startNode(nodeBinaries, {
        dir,
        logsDir,
        authority: files.authority,
        caPem: files.pki.caPem,
        adminCertPem: files.pki.adminCertPem,
        adminKeyPem: files.pki.adminKeyPem,
        saKeyFile: join(dir, 'pki', 'sa.key'),
        apiserverPort: ports.apiserver,
        ...(wantMinio ? { minioPort: ports.minio } : {}),
        env: runEnv,
        detached: opts.detached,
        timeoutMs,
      });
    }
  } catch (err) {
    await stopAll();
    if (!opts.detached) rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  // Pooled, as Valet's own clients are (src/k8s/clients.ts): one connection pool per lab, not a TLS
  // handshake per API call.
  const kubeConfig: KubeConfig = new PooledKubeConfig();
  if (files) kubeConfig.loadFromFile(files.kubeconfig);
  const core = files ? kubeConfig.makeApiClient(CoreV1Api) : (undefined as unknown as CoreV1Api);

  const lab: Lab = {
    dir,
    logsDir,
    ports,
    binaries,
    kubeconfig: files?.kubeconfig ?? '',
    kubeConfig,
    core,
    caPem: files?.pki.caPem ?? '',
    s3: {
      endpoint: `http://127.0.0.1:${ports.minio}`,
      region: LAB_REGION,
      bucket: LAB_BUCKET,
      roleArn: LAB_ROLE_ARN,
      issuer: credentials.issuer,
      root: credentials.root,
    },
    ...(azure ? { azure } : {}),
    ...(node ? { node } : {}),
    processes: () => [...Object.values(procs).filter((p): p is ServerProcess => p !== undefined), ...(node?.processes() ?? [])],
    async versions() {
      const py = await runCaptured(binaries.python, ['-c', 'import boto3, awscli; print(boto3.__version__, awscli.__version__)'], cleanEnv());
      const [boto3 = '?', awscli = '?'] = py.stdout.trim().split(' ');
      const v: LabVersions = { node: process.version, boto3, awscli };
      if (files) v.kubeApiserver = (await kubeConfig.makeApiClient(VersionApi).getCode()).gitVersion;
      const etcd = spawnSync(binaries.etcd, ['--version'], { encoding: 'utf8' }).stdout;
      v.etcd = /etcd Version: (\S+)/.exec(etcd)?.[1];
      v.minio = minioVersion;
      v.azurite = azure?.version;
      return v;
    },
    async token(namespace, serviceAccount, t = {}) {
      const res = await core.createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace,
        body: {
          spec: {
            audiences: [t.audience ?? 'valet.dev'],
            expirationSeconds: t.expirationSeconds ?? 3600,
            boundObjectRef: t.boundPod ? { apiVersion: 'v1', kind: 'Pod', name: t.boundPod.name, uid: t.boundPod.uid } : undefined,
          },
        },
      });
      const token = res.status?.token;
      if (!token) throw new LabError(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
      return token;
    },
    python: (script, env, args = []) => runCaptured(binaries.python, ['-c', script, ...args], env),
    aws: (args, env) => runCaptured(binaries.aws, args, env),
    async stopApiserver() {
      await procs.apiserver?.stop();
      delete procs.apiserver;
    },
    startApiserver: bootApiserver,
    async stopMinio() {
      await procs.minio?.stop();
      delete procs.minio;
    },
    startMinio: bootMinio,
    logTails(lines = 20) {
      return readdirSync(logsDir)
        .map((f) => `----- ${f} (last ${lines} lines) -----\n${tail(join(logsDir, f), lines)}`)
        .join('\n');
    },
    async stop() {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return lab;
}
