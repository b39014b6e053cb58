// `npm run lab -- up | status | down` as a person runs it: real processes that outlive the command,
// export lines that work, and nothing left after `down`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';
import { nodeUnsupported } from './node/node.ts';

const withNode = nodeUnsupported() === undefined;

const runDir = mkdtempSync(join(tmpdir(), 'valet-lab-run-'));
const cli = join(import.meta.dirname, 'cli.ts');

function lab(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, VALET_LAB_RUN_DIR: runDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Running, not merely a zombie waiting for init to reap it (the servers outlived their parent). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

afterAll(async () => {
  await lab(['down']);
  rmSync(runDir, { recursive: true, force: true });
});

describe('npm run lab', () => {
  it('up starts servers that outlive it and prints working export lines; down leaves nothing running', async () => {
    const up = await lab(['up']);
    expect(up.code).toBe(0);
    const exports = Object.fromEntries([...up.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(exports)).toEqual(expect.arrayContaining(['KUBECONFIG', 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']));
    expect(up.stdout).toMatch(/# logs: \S+\/logs/);

    const kc = new KubeConfig();
    kc.loadFromFile(String(exports.KUBECONFIG));
    const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace();
    expect(namespaces.items.length).toBeGreaterThan(0);
    const health = await fetch(`${exports.AWS_ENDPOINT_URL}/minio/health/live`);
    expect(health.status).toBe(200);

    const status = await lab(['status']);
    expect(status.code).toBe(0);
    const pids = [...status.stdout.matchAll(/pid (\d+)\s+running/g)].map((m) => Number(m[1]));
    const names = [...status.stdout.matchAll(/^ {2}(\S+)\s+pid \d+\s+running/gm)].map((m) => m[1]);
    const node = ['node-init', 'relay-host', 'relay-node', 'containerd', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'coredns'];
    // As root the lab comes up with its node; otherwise without, saying why.
    expect(names.sort()).toEqual(['etcd', 'kube-apiserver', 'minio', ...(withNode ? node : [])].sort());
    expect(pids).toHaveLength(names.length);
    if (withNode) {
      expect(up.stderr).toContain('npm run lab -- kubectl get pods -A');
      const nodes = await lab(['kubectl', 'get', 'nodes', '--no-headers']);
      expect(nodes.stdout).toMatch(/^valet-lab-node\s+Ready\s/);
    } else {
      expect(up.stderr).toContain('starting without a node');
    }

    const again = await lab(['up']);
    expect(again.stderr).toContain('already running');

    const down = await lab(['down']);
    expect(down.code).toBe(0);
    for (const pid of pids) expect(running(pid)).toBe(false);
    expect(existsSync(String(exports.KUBECONFIG))).toBe(false);
    expect((await lab(['status'])).stdout).toContain('not running');
  });
});
