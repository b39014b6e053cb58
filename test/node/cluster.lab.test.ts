// The lab node itself: a real kubelet on containerd runs pods from images built here, the
// controller-manager completes Jobs, kube-proxy and CoreDNS let pods reach Services by name (the
// apiserver and the lab MinIO), the apiserver reaches the kubelet (logs) through its egress, and
// stopping the lab leaves no process, mount, network namespace, cgroup or iptables rule behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchV1Api, type V1Job } from '@kubernetes/client-node';
import type { Lab } from '../lab/index.ts';
import { buildValetImage, type LabImage } from '../lab/image.ts';
import { CLUSTER_DNS_IP, KUBERNETES_SERVICE_IP, NODE_NAME, nodeUnsupported } from '../lab/node/node.ts';
import { KUBERNETES_VERSION } from '../lab/versions.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { waitFor } from '../lab/wait.ts';
import { startWorld, type World } from '../lab/world.ts';

const unsupported = nodeUnsupported();
const ns = 'node-smoke';
let world: World | undefined;
let lab: Lab;
let image: LabImage;

/** What a pod prints: one JSON line, read back through the apiserver (kubelet logs via egress). */
const probeScript = (minioUrl: string) => `
const dns = require('node:dns/promises');
const https = require('node:https');
const fs = require('node:fs');
const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
const get = (url, opts = {}) => new Promise((resolve) => {
  const mod = url.startsWith('https') ? https : require('node:http');
  const req = mod.get(url, { timeout: 5000, ...opts }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve({ status: res.statusCode, body: b })); });
  req.on('error', (e) => resolve({ status: 0, body: String(e) }));
});
(async () => {
  const out = {};
  out.kubernetes = (await dns.lookup('kubernetes.default.svc')).address;
  out.dns = (await dns.lookup('kube-dns.kube-system.svc.cluster.local')).address;
  const v = await get('https://kubernetes.default.svc/version', { ca: fs.readFileSync(sa + '/ca.crt'), headers: { authorization: 'Bearer ' + fs.readFileSync(sa + '/token', 'utf8') } });
  out.apiserver = v.status === 200 ? JSON.parse(v.body).gitVersion : v.status + ' ' + v.body;
  out.minio = (await get('${minioUrl}/minio/health/live')).status;
  console.log(JSON.stringify(out));
})().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
`;

function job(name: string, script: string): V1Job {
  return {
    metadata: { name, namespace: ns },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'probe', image: image.ref, imagePullPolicy: 'Never', command: ['node', '-e', script] }],
        },
      },
    },
  };
}

async function jobPodLog(name: string): Promise<string> {
  const pods = await lab.core.listNamespacedPod({ namespace: ns, labelSelector: `job-name=${name}` });
  const pod = pods.items[0]?.metadata?.name;
  if (!pod) throw new Error(`no pod for job ${name}`);
  return lab.core.readNamespacedPodLog({ namespace: ns, name: pod });
}

async function jobFinished(name: string): Promise<'Complete' | 'Failed'> {
  const batch = lab.kubeConfig.makeApiClient(BatchV1Api);
  return waitFor(
    `job ${name} to finish`,
    async () => {
      const j = await batch.readNamespacedJob({ namespace: ns, name });
      const c = j.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
      return c?.type as 'Complete' | 'Failed' | undefined;
    },
    120_000,
    500,
  );
}

function netnsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

describe.skipIf(unsupported !== undefined)(`a real node in the lab${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  beforeAll(async () => {
    [world, image] = await Promise.all([startWorld({ lab: { node: true }, crds: false, operator: false }), buildValetImage()]);
    lab = world.lab;
    await lab.node?.importImage(image.archive);
    await lab.core.createNamespace({ body: { metadata: { name: ns } } });
  });
  afterAll(async () => {
    await world?.stop();
  });
  useLabLogs(() => lab);

  it(`registers ${NODE_NAME} Ready, kubelet ${KUBERNETES_VERSION} on containerd`, async () => {
    const node = await lab.core.readNode({ name: NODE_NAME });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status?.nodeInfo?.kubeletVersion).toBe(KUBERNETES_VERSION);
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  });

  it('runs a Job to Complete from the image built from the Dockerfile, and serves its log through the apiserver', async () => {
    await lab.kubeConfig.makeApiClient(BatchV1Api).createNamespacedJob({ namespace: ns, body: job('hello', 'console.log("hello from " + process.version)') });
    expect(await jobFinished('hello')).toBe('Complete');
    expect(await jobPodLog('hello')).toMatch(/^hello from v24\./);
  });

  it('lets pods resolve and reach Services by name: the apiserver through kubernetes.default.svc, the lab MinIO through its Service', async () => {
    await lab.kubeConfig.makeApiClient(BatchV1Api).createNamespacedJob({ namespace: ns, body: job('probe', probeScript(lab.node?.minioUrl ?? '')) });
    const finished = await jobFinished('probe');
    const line = (await jobPodLog('probe')).trim().split('\n').at(-1) ?? '';
    expect(finished, line).toBe('Complete');
    expect(JSON.parse(line)).toEqual({ kubernetes: KUBERNETES_SERVICE_IP, dns: CLUSTER_DNS_IP, apiserver: KUBERNETES_VERSION, minio: 200 });
  });

  it('stops leaving no process, mount, network namespace, cgroup or iptables rule behind', async () => {
    const node = lab.node;
    if (!node) throw new Error('the lab has no node');
    const netns = netnsOf(node.initPid);
    expect(netns).toMatch(/^net:\[\d+\]$/);
    const { dir, cgroupRoot } = node;
    const worldDir = world?.dir ?? '';
    await world?.stop();
    const holders = readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .filter((pid) => netnsOf(Number(pid)) === netns);
    expect(holders).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir))).toEqual([]);
    expect(readdirSync('/sys/fs/cgroup').filter((h) => existsSync(`/sys/fs/cgroup/${h}/${cgroupRoot}`))).toEqual([]);
    expect(execFileSync('iptables-save', { encoding: 'utf8' })).not.toMatch(/KUBE-/);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(worldDir)).toBe(false);
  });
});
