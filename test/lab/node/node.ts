// The lab node: a real single-node cluster next to the lab's kube-apiserver and etcd. kubelet,
// containerd (with runc and the CNI bridge), kube-proxy (iptables) and CoreDNS run inside network,
// mount and PID namespaces the lab creates; kube-controller-manager and kube-scheduler run beside
// the apiserver on the host's loopback. Everything the node uses exists only inside its namespaces
// (its IP, the pod and service ranges, its iptables rules and mounts), so no packet leaves it:
// the relays (relay.ts) carry the apiserver and MinIO in over Unix sockets, and the apiserver's
// cluster egress (webhooks, logs, exec) out the same way.
//
// Stopping is one kill: the node's PID 1 (pause.c) dies, the kernel kills every process of its PID
// namespace, and the namespaces, mounts and iptables rules go with them; the cgroups the kubelet
// made are removed afterwards. Root is required; `nodeUnsupported()` says why not otherwise.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { issueCertificate, type Authority } from '../../../src/tls/pki.ts';
import { buildCoredns, buildKubeNode, ensure, LabError, run } from '../build.ts';
import { ensureDebs } from '../debs.ts';
import { runCaptured, startProcess, tail, waitReady, type RunResult, type ServerProcess } from '../process.ts';
import { KUBERNETES_VERSION } from '../versions.ts';

export const NODE_NAME = 'valet-lab-node';
/** The node's address: on an interface inside the node's network namespace, nowhere else. */
export const NODE_IP = '10.201.0.2';
export const POD_CIDR = '10.244.0.0/24';
export const SERVICE_CIDR = '10.96.0.0/24';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const CLUSTER_DNS_IP = '10.96.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';
/** The sandbox image every pod starts from: pause.c, imported before the kubelet starts. */
export const PAUSE_IMAGE = 'localhost/valet-lab/pause:1';
/** The namespace holding the lab's own Services (MinIO). */
export const LAB_NAMESPACE = 'valet-lab';

const DEBS = ['containerd', 'runc', 'containernetworking-plugins', 'iptables', 'conntrack', 'iproute2', 'util-linux', 'tar'] as const;
const CNI_BIN = '/usr/lib/cni';
const here = import.meta.dirname;

/** Why this machine cannot run the node, or undefined when it can. */
export function nodeUnsupported(): string | undefined {
  if (process.env.VALET_LAB_NODE === 'off') return 'VALET_LAB_NODE=off (a quicker loop for suites that need no node)';
  if (process.platform !== 'linux') return `the lab node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the lab node needs root (namespaces, mounts, cgroups and iptables); run as root to include the node-backed suites';
  if (!existsSync('/sys/fs/cgroup/memory') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'the lab node needs cgroups (v1 memory or v2) under /sys/fs/cgroup';
  return undefined;
}

export interface NodeBinaries {
  kubelet: string;
  controllerManager: string;
  scheduler: string;
  kubeProxy: string;
  kubectl: string;
  coredns: string;
  pause: string;
}

function buildPause(): Promise<string> {
  const source = readFileSync(join(here, 'pause.c'));
  const key = createHash('sha256').update(source).digest('hex').slice(0, 12);
  return ensure('pause', key, async (dir, log) => {
    await run('gcc', ['-static', '-Os', '-s', '-o', join(dir, 'pause'), join(here, 'pause.c')], { cwd: dir, log, label: 'building the pause binary' });
  }).then((a) => join(a.dir, 'pause'));
}

/** Builds or installs everything the node runs (first use only) and returns the binaries. */
export async function ensureNodeBuilt(): Promise<NodeBinaries> {
  const why = nodeUnsupported();
  if (why) throw new LabError(why);
  await ensureDebs([...DEBS, 'gcc', 'libc6-dev'], 'the lab node');
  const kube = await buildKubeNode();
  const coredns = await buildCoredns();
  const pause = await buildPause();
  const bin = (n: string) => join(kube.dir, 'bin', n);
  return {
    kubelet: bin('kubelet'),
    controllerManager: bin('kube-controller-manager'),
    scheduler: bin('kube-scheduler'),
    kubeProxy: bin('kube-proxy'),
    kubectl: bin('kubectl'),
    coredns: join(coredns.dir, 'bin', 'coredns'),
    pause,
  };
}

// ---------------------------------------------------------------------------------------------
// An OCI image archive of one static binary (the pause image), without any builder.

function sha256(buf: Buffer): string {
  return 'sha256:' + createHash('sha256').update(buf).digest('hex');
}

export function writeSingleBinaryImage(binary: string, ref: string, out: string, workDir: string): void {
  const layout = join(workDir, 'layout');
  const root = join(workDir, 'root');
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'pause'), readFileSync(binary), { mode: 0o755 });
  const layerTar = join(workDir, 'layer.tar');
  const tar = spawnSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', root, '-cf', layerTar, 'pause']);
  if (tar.status !== 0) throw new LabError(`tar failed making the pause image: ${tar.stderr?.toString()}`);
  const blob = (buf: Buffer) => {
    const digest = sha256(buf);
    writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), buf);
    return { digest, size: buf.length };
  };
  const layer = blob(readFileSync(layerTar));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
        os: 'linux',
        config: { Entrypoint: ['/pause'], User: '65535:65535' },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref },
        },
      ],
    }),
  );
  const pack = spawnSync('tar', ['-C', layout, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
  if (pack.status !== 0) throw new LabError(`tar failed packing the pause image: ${pack.stderr?.toString()}`);
}

// ---------------------------------------------------------------------------------------------
// Cgroups: the kubelet's cgroupRoot, made in every hierarchy before it starts, removed after.

const V1_ROOT = '/sys/fs/cgroup';

function cgroupHierarchies(): string[] {
  if (existsSync(join(V1_ROOT, 'cgroup.controllers'))) return [V1_ROOT];
  return readdirSync(V1_ROOT)
    .map((d) => join(V1_ROOT, d))
    .filter((d) => {
      try {
        return statSync(d).isDirectory() && existsSync(join(d, 'cgroup.procs'));
      } catch {
        return false;
      }
    });
}

function makeCgroupRoot(name: string): void {
  for (const h of cgroupHierarchies()) {
    const dir = join(h, name);
    mkdirSync(dir, { recursive: true });
    if (h.endsWith('/cpuset')) {
      // A new cpuset has no CPUs or memory nodes until given its parent's.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, f), readFileSync(join(h, f), 'utf8').trim() || '0');
    }
  }
}

/** Removes a cgroup tree depth first; true when it is gone everywhere. */
export function removeCgroupRoot(name: string): boolean {
  let gone = true;
  const remove = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) remove(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      gone = false;
    }
  };
  for (const h of cgroupHierarchies()) remove(join(h, name));
  return gone;
}

/** The start of the cgroup names this process's lab nodes get: valet-lab-<run>-. */
export function cgroupPrefix(run = process.env.VALET_LAB_RUN): string {
  return `valet-lab-${(run ?? 'up').slice(0, 8)}-`;
}

/** Cgroup roots of lab nodes of one run (by their prefix) still present. */
export function cgroupRootsOf(prefix: string): string[] {
  const names = new Set<string>();
  for (const h of cgroupHierarchies()) {
    try {
      for (const e of readdirSync(h)) if (e.startsWith(prefix)) names.add(e);
    } catch {
      // not readable
    }
  }
  return [...names];
}

// ---------------------------------------------------------------------------------------------
// Configuration files.

function kubeconfig(server: string, caPem: string, certPem: string, keyPem: string, user: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'valet-lab', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } }],
    contexts: [{ name: 'valet-lab', context: { cluster: 'valet-lab', user } }],
    'current-context': 'valet-lab',
  });
}

function containerdConfig(cniConfDir: string): string {
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # The node has no CAP_SYS_RESOURCE to lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${cniConfDir}"
`;
}

function cniConfig(): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'valet-lab',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(o: { caFile: string; cgroupRoot: string; resolvConf: string; certFile: string; keyFile: string }): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This machine has cgroup v1 (the kubelet refuses it by default since 1.35).
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${o.cgroupRoot}`,
    containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
    address: NODE_IP,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    tlsCertFile: o.certFile,
    tlsPrivateKeyFile: o.keyFile,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.caFile } },
    authorization: { mode: 'Webhook' },
    clusterDomain: CLUSTER_DOMAIN,
    clusterDNS: [CLUSTER_DNS_IP],
    resolvConf: o.resolvConf,
    failSwapOn: false,
    // The kubelet may then write the kernel settings it wants; the node's mount namespace has files
    // bound over those /proc/sys entries, so the host's kernel is never changed.
    protectKernelDefaults: false,
    serializeImagePulls: false,
    // Evict only when the machine is really short; the lab's disk is shared with the builds.
    evictionHard: { 'memory.available': '200Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    imageGCHighThresholdPercent: 99,
    imageGCLowThresholdPercent: 98,
    maxPods: 60,
    nodeStatusReportFrequency: '10s',
    syncFrequency: '10s',
    fileCheckFrequency: '5s',
    shutdownGracePeriod: '0s',
    rotateCertificates: false,
    serverTLSBootstrap: false,
    registerNode: true,
    staticPodPath: '',
  });
}

function kubeProxyConfig(kubeconfigFile: string): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig: kubeconfigFile },
    hostnameOverride: NODE_NAME,
    bindAddress: NODE_IP,
    clusterCIDR: POD_CIDR,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    // Zero: leave the (host-wide) conntrack settings alone.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    // Pod to Service to a pod on the same bridge: masquerading sends the reply back through the node.
    iptables: { masqueradeAll: true, localhostNodePorts: false },
    nodePortAddresses: [`${NODE_IP}/32`],
  });
}

function corefile(kubeconfigFile: string): string {
  return `.:53 {
    bind ${NODE_IP}
    errors
    ready 127.0.0.1:8181
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfigFile} valet-lab
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
`;
}

// The node's PID 1 starts as this script (under unshare), sets up its mounts and network, then
// becomes pause. Mounts are private to the node's mount namespace.
function initScript(o: { nodeDir: string; pause: string; ready: string }): string {
  const d = o.nodeDir;
  return `set -eu
mount --make-rprivate /
for p in run var/lib var/log; do mkdir -p "${d}/fs/$p"; mount --bind "${d}/fs/$p" "/$p"; done
mkdir -p /var/lib/kubelet /var/log/pods /run/containerd
# The kubelet sets these kernel settings; give it files to write instead of the host's kernel.
for s in vm/overcommit_memory:1 kernel/panic:10 kernel/panic_on_oops:1 kernel/keys/root_maxkeys:1000000 kernel/keys/root_maxbytes:25000000; do
  f="\${s%%:*}"; v="\${s#*:}"; n="${d}/sysctl/$(echo "$f" | tr / _)"
  if [ -e "/proc/sys/$f" ]; then echo "$v" > "$n"; mount --bind "$n" "/proc/sys/$f"; fi
done
ip link set lo up
ip link add eth0 type veth peer name eth0-peer
ip addr add ${NODE_IP}/24 dev eth0
ip link set eth0 up
ip link set eth0-peer up
# The only default route ends at the peer, inside this namespace: nothing can leave.
ip route add default dev eth0
echo 1 > /proc/sys/net/ipv4/ip_forward
if [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]; then echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables || true; fi
touch "${o.ready}"
exec "${o.pause}"
`;
}

// ---------------------------------------------------------------------------------------------
// The running node.

export interface NodeStartOptions {
  /** The lab folder; the node lives in <dir>/node. */
  dir: string;
  logsDir: string;
  authority: Authority;
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
  saKeyFile: string;
  apiserverPort: number;
  minioPort?: number;
  env?: NodeJS.ProcessEnv;
  detached?: boolean;
  timeoutMs?: number;
}

export interface LabNode {
  readonly name: string;
  readonly ip: string;
  readonly dir: string;
  /** The PID of the node's init (PID 1 inside its namespaces). */
  readonly initPid: number;
  /** The cgroup the kubelet puts pods under. */
  readonly cgroupRoot: string;
  /** Runs a command inside the node's network and mount namespaces. */
  exec(command: string, args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** Runs the lab's kubectl (as the lab admin) with these arguments. */
  kubectl(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** Imports an OCI or Docker image archive into the node's containerd (namespace k8s.io). */
  importImage(archive: string): Promise<void>;
  /** Runs `ctr -n k8s.io ARGS` against the node's containerd (e.g. to kill a container's task). */
  ctr(args: readonly string[]): Promise<RunResult>;
  /** The in-cluster address of the lab MinIO: a Service in LAB_NAMESPACE relayed to the host. */
  readonly minioUrl?: string;
  processes(): ServerProcess[];
  stop(): Promise<void>;
}

function say(message: string): void {
  process.stderr.write(`lab node: ${message}\n`);
}

/** The apiserver flags a node needs; the egress socket is where the node relay will listen. */
export function apiserverNodeFlags(nodeDir: string): string[] {
  return [
    `--advertise-address=${NODE_IP}`,
    '--endpoint-reconciler-type=lease',
    `--egress-selector-config-file=${join(nodeDir, 'egress.yaml')}`,
    `--kubelet-client-certificate=${join(nodeDir, 'pki', 'apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${join(nodeDir, 'pki', 'apiserver-kubelet-client.key')}`,
    '--enable-admission-plugins=NodeRestriction',
    // Dial the kubelet at its IP (through the egress above); its name resolves nowhere.
    '--kubelet-preferred-address-types=InternalIP',
  ];
}

/** Writes the files the apiserver reads for the node (before it starts): egress config, kubelet client cert. */
export async function prepareNodeForApiserver(nodeDir: string, authority: Authority): Promise<void> {
  mkdirSync(join(nodeDir, 'pki'), { recursive: true, mode: 0o700 });
  mkdirSync(join(nodeDir, 'sock'), { recursive: true });
  const client = await issueCertificate(authority, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' });
  writeFileSync(join(nodeDir, 'pki', 'apiserver-kubelet-client.crt'), client.certPem);
  writeFileSync(join(nodeDir, 'pki', 'apiserver-kubelet-client.key'), client.privateKeyPem, { mode: 0o600 });
  writeFileSync(
    join(nodeDir, 'egress.yaml'),
    stringify({
      apiVersion: 'apiserver.k8s.io/v1beta1',
      kind: 'EgressSelectorConfiguration',
      egressSelections: [{ name: 'cluster', connection: { proxyProtocol: 'HTTPConnect', transport: { uds: { udsName: join(nodeDir, 'sock', 'egress.sock') } } } }],
    }),
  );
}


async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>, logs: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      // A LabError is a component that died: no point waiting. Anything else: not yet.
      if (err instanceof LabError) throw err;
    }
    if (Date.now() > deadline) {
      throw new LabError(`lab node: ${what} did not happen within ${Math.round(timeoutMs / 1000)}s. ${logs.map((l) => `Last lines of ${l}:\n${tail(l, 25)}`).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startNode(bins: NodeBinaries, o: NodeStartOptions): Promise<LabNode> {
  const nodeDir = join(o.dir, 'node');
  const pki = join(nodeDir, 'pki');
  const sock = join(nodeDir, 'sock');
  for (const d of [pki, sock, join(nodeDir, 'sysctl'), join(nodeDir, 'cni'), join(nodeDir, 'fs'), join(nodeDir, 'kube')]) mkdirSync(d, { recursive: true });
  const timeoutMs = o.timeoutMs ?? 60_000;
  // Named for the test run (VALET_LAB_RUN) that made it, so a run's teardown finds its own only.
  const cgroupRoot = `${cgroupPrefix()}${createHash('sha256').update(o.dir).digest('hex').slice(0, 8)}`;
  const procs: ServerProcess[] = [];
  const log = (name: string) => join(o.logsDir, `${name}.log`);

  // Certificates and kubeconfigs.
  const file = (name: string, body: string, mode = 0o644) => {
    const p = join(nodeDir, name);
    writeFileSync(p, body, { mode });
    return p;
  };
  const caFile = file('pki/ca.crt', o.caPem);
  const client = async (name: string, cn: string, org: string[], server: string) => {
    const c = await issueCertificate(o.authority, { commonName: cn, organizations: org, usage: 'client' });
    return file(`kube/${name}.kubeconfig`, kubeconfig(server, o.caPem, c.certPem, c.privateKeyPem, cn), 0o600);
  };
  const inNode = `https://${NODE_IP}:${o.apiserverPort}`;
  const onHost = `https://127.0.0.1:${o.apiserverPort}`;
  const kubeletKubeconfig = await client('kubelet', `system:node:${NODE_NAME}`, ['system:nodes'], inNode);
  const proxyKubeconfig = await client('kube-proxy', 'system:kube-proxy', [], inNode);
  const kcmKubeconfig = await client('kube-controller-manager', 'system:kube-controller-manager', [], onHost);
  const schedulerKubeconfig = await client('kube-scheduler', 'system:kube-scheduler', [], onHost);
  const corednsKubeconfig = file('kube/coredns.kubeconfig', kubeconfig(inNode, o.caPem, o.adminCertPem, o.adminKeyPem, 'valet-lab-admin'), 0o600);
  const serving = await issueCertificate(o.authority, { commonName: NODE_NAME, dnsNames: [NODE_NAME], ipAddresses: [NODE_IP], usage: 'server' });
  const kubeletCert = file('pki/kubelet.crt', serving.certPem);
  const kubeletKey = file('pki/kubelet.key', serving.privateKeyPem, 0o600);
  const resolvConf = file('resolv.conf', `# the lab node has no upstream DNS\nnameserver ${NODE_IP}\n`);
  file('cni/10-valet-lab.conflist', cniConfig());
  const containerdToml = file('containerd.toml', containerdConfig(join(nodeDir, 'cni')));
  const kubeletYaml = file('kubelet.yaml', kubeletConfig({ caFile, cgroupRoot, resolvConf, certFile: kubeletCert, keyFile: kubeletKey }));
  const proxyYaml = file('kube-proxy.yaml', kubeProxyConfig(proxyKubeconfig));
  const corefilePath = file('Corefile', corefile(corednsKubeconfig));
  const ready = join(nodeDir, 'init.ready');
  const init = file('init.sh', initScript({ nodeDir, pause: bins.pause, ready }), 0o755);

  let initProc: ServerProcess | undefined;
  const stopAll = async () => {
    for (const p of [...procs].reverse()) await p.stop(3000);
    procs.length = 0;
    // Give the kernel a moment to tear the PID namespace down, then remove the cgroups.
    const deadline = Date.now() + 10_000;
    while (!removeCgroupRoot(cgroupRoot) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (!removeCgroupRoot(cgroupRoot)) say(`could not remove cgroup ${cgroupRoot} (processes still in it?)`);
  };

  try {
    makeCgroupRoot(cgroupRoot);
    say('starting the node namespaces');
    initProc = startProcess({
      name: 'node-init',
      command: 'unshare',
      argv0: 'valet-lab-node',
      args: ['--net', '--mount', '--pid', '--fork', '--mount-proc', '--propagation', 'private', '--kill-child=SIGKILL', '--', '/bin/sh', init],
      env: o.env,
      log: log('node-init'),
      detached: o.detached,
    });
    procs.push(initProc);
    await waitReady(initProc, async () => existsSync(ready), timeoutMs);
    // unshare's child is the node's PID 1; nsenter needs its host PID.
    const initPid = await findChild(initProc.pid);
    const enter = (pidNs: boolean) => ['-t', String(initPid), '-n', '-m', ...(pidNs ? ['-p'] : []), '--'];
    const inside = (name: string, command: string, args: string[]): ServerProcess => {
      const p = startProcess({ name, command: 'nsenter', argv0: `valet-lab-${name}`, args: [...enter(true), command, ...args], env: o.env, log: log(name), detached: o.detached });
      procs.push(p);
      return p;
    };
    const exec = (command: string, args: readonly string[], ms = 30_000) => runCaptured('nsenter', [...enter(false), command, ...args], process.env, ms);

    // Relays: apiserver (and MinIO) in, cluster egress out.
    const forwards = [o.apiserverPort, ...(o.minioPort ? [o.minioPort] : [])];
    const relayScript = join(here, 'relay.ts');
    const hostRelay = startProcess({
      name: 'relay-host',
      command: process.execPath,
      argv0: 'valet-lab-relay',
      args: [relayScript, ...forwards.map((p) => `unix:${join(sock, `${p}.sock`)}=tcp:127.0.0.1:${p}`)],
      env: o.env,
      log: log('relay-host'),
      detached: o.detached,
    });
    procs.push(hostRelay);
    const nodeRelay = inside('relay-node', process.execPath, [relayScript, ...forwards.map((p) => `tcp:${NODE_IP}:${p}=unix:${join(sock, `${p}.sock`)}`), `connect:${join(sock, 'egress.sock')}`]);
    await waitReady(hostRelay, async () => readFileSync(hostRelay.log, 'utf8').includes('relay: ready'), timeoutMs);
    await waitReady(nodeRelay, async () => readFileSync(nodeRelay.log, 'utf8').includes('relay: ready'), timeoutMs);

    say('starting containerd');
    const containerd = inside('containerd', 'containerd', ['--config', containerdToml]);
    const ctrSocket = join(nodeDir, 'fs', 'run', 'containerd', 'containerd.sock');
    await waitReady(containerd, async () => (await runCaptured('ctr', ['--address', ctrSocket, 'version'], process.env, 5000)).code === 0, timeoutMs);
    const importImage = async (archive: string) => {
      const r = await runCaptured('ctr', ['--address', ctrSocket, '-n', 'k8s.io', 'images', 'import', '--no-unpack=false', archive], process.env, 300_000);
      if (r.code !== 0) throw new LabError(`lab node: importing ${archive} into containerd failed: ${r.stderr.trim() || r.stdout.trim()}`);
    };
    const pauseArchive = join(nodeDir, 'pause.oci.tar');
    writeSingleBinaryImage(bins.pause, PAUSE_IMAGE, pauseArchive, join(nodeDir, 'pause-image'));
    await importImage(pauseArchive);

    say('starting kube-controller-manager and kube-scheduler');
    const kcm = startProcess({
      name: 'kube-controller-manager',
      command: bins.controllerManager,
      args: [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${o.saKeyFile}`,
        `--root-ca-file=${caFile}`,
        `--cluster-name=valet-lab`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        // Pod CIDRs come from the CNI configuration, not from the controller-manager.
        '--controllers=*,-nodeipam',
        '--v=1',
      ],
      env: o.env,
      log: log('kube-controller-manager'),
      detached: o.detached,
    });
    procs.push(kcm);
    const scheduler = startProcess({
      name: 'kube-scheduler',
      command: bins.scheduler,
      args: [
        `--kubeconfig=${schedulerKubeconfig}`,
        `--authentication-kubeconfig=${schedulerKubeconfig}`,
        `--authorization-kubeconfig=${schedulerKubeconfig}`,
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        '--leader-elect=false',
        '--v=1',
      ],
      env: o.env,
      log: log('kube-scheduler'),
      detached: o.detached,
    });
    procs.push(scheduler);

    say(`starting kubelet ${KUBERNETES_VERSION} (node ${NODE_NAME}, ${NODE_IP})`);
    const kubelet = inside('kubelet', bins.kubelet, [
      `--config=${kubeletYaml}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      `--root-dir=/var/lib/kubelet`,
      '--v=1',
    ]);
    const kubectl = (args: readonly string[], ms = 60_000) => runCaptured(bins.kubectl, [`--kubeconfig=${join(o.dir, 'kubeconfig')}`, ...args], process.env, ms);
    await until(
      `node ${NODE_NAME} to be Ready`,
      timeoutMs,
      async () => {
        if (kubelet.exited()) throw new LabError(`kubelet exited. Last lines of ${kubelet.log}:\n${tail(kubelet.log, 40)}`);
        const r = await kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
        return r.stdout.trim() === 'True';
      },
      [kubelet.log, containerd.log],
    );

    await until(
      'kube-controller-manager to create the default ServiceAccount',
      timeoutMs,
      async () => {
        for (const p of [kcm, scheduler]) if (p.exited()) throw new LabError(`${p.name} exited. Last lines of ${p.log}:\n${tail(p.log, 40)}`);
        return (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name'])).code === 0;
      },
      [kcm.log],
    );

    say('starting kube-proxy and CoreDNS');
    const proxy = inside('kube-proxy', bins.kubeProxy, [`--config=${proxyYaml}`, '--v=1']);
    const coredns = inside('coredns', bins.coredns, ['-conf', corefilePath]);
    await applyClusterServices(kubectl, nodeDir, o.minioPort);
    await waitReady(coredns, async () => (await exec(process.execPath, ['-e', 'fetch("http://127.0.0.1:8181/ready").then(r=>process.exit(r.ok?0:1),()=>process.exit(1))'], 5000)).code === 0, timeoutMs);
    await until(
      'kube-proxy to program the kubernetes Service',
      timeoutMs,
      async () => {
        if (proxy.exited()) throw new LabError(`kube-proxy exited. Last lines of ${proxy.log}:\n${tail(proxy.log, 40)}`);
        const r = await exec('iptables-save', ['-t', 'nat'], 5000);
        return r.stdout.includes(`-d ${KUBERNETES_SERVICE_IP}/32`) && r.stdout.includes(`-d ${CLUSTER_DNS_IP}/32`);
      },
      [proxy.log],
    );
    say('ready');

    return {
      name: NODE_NAME,
      ip: NODE_IP,
      dir: nodeDir,
      initPid,
      cgroupRoot,
      exec,
      kubectl,
      importImage,
      ctr: (args) => runCaptured('ctr', ['--address', ctrSocket, '-n', 'k8s.io', ...args], process.env, 30_000),
      ...(o.minioPort ? { minioUrl: `http://minio.${LAB_NAMESPACE}.svc.${CLUSTER_DOMAIN}:${o.minioPort}` } : {}),
      processes: () => [...procs],
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The host PID of the only child of `parent` (unshare's forked child, the node's PID 1). */
async function findChild(parent: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === parent) return pid;
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new LabError(`lab node: the node's init (child of unshare ${parent}) was not found`);
}

/** kube-dns and the lab MinIO as Services whose endpoints are the node's own address. */
async function applyClusterServices(kubectl: (args: readonly string[]) => Promise<RunResult>, nodeDir: string, minioPort?: number): Promise<void> {
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LAB_NAMESPACE } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
      spec: {
        clusterIP: CLUSTER_DNS_IP,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'kube-dns-node', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'valet-lab' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [NODE_IP], conditions: { ready: true } }],
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ],
    },
  ];
  if (minioPort) {
    docs.push(
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'minio', namespace: LAB_NAMESPACE }, spec: { ports: [{ name: 'http', port: minioPort, protocol: 'TCP', targetPort: minioPort }] } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'minio-node', namespace: LAB_NAMESPACE, labels: { 'kubernetes.io/service-name': 'minio', 'endpointslice.kubernetes.io/managed-by': 'valet-lab' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [NODE_IP], conditions: { ready: true } }],
        ports: [{ name: 'http', port: minioPort, protocol: 'TCP' }],
      },
    );
  }
  const manifest = join(nodeDir, 'cluster-services.yaml');
  writeFileSync(manifest, docs.map((d) => stringify(d)).join('---\n'));
  const r = await kubectl(['apply', '-f', manifest]);
  if (r.code !== 0) throw new LabError(`lab node: applying ${manifest} failed: ${r.stderr}`);
}
