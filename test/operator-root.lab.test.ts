// The operator's composition root, startOperator, in-process against the lab's apiserver: the
// function `valet operator` calls. One list/watch per kind for the whole process (counted by the
// apiserver itself), readiness that names the parts still waiting, leader-only work that runs and
// stops, and a stop within its bound that leaves no watch behind.
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetAccess } from '../src/api/v1alpha1/index.ts';
import type { Operator } from '../src/operator/start.ts';
import { installCrds } from './lab/apply.ts';
import { createLabClusterStore } from './lab/valet.ts';
import { useLabLogs } from './lab/vitest.ts';
import { G, startWorld, waitFor, type World } from './lab/world.ts';

const root = join(import.meta.dirname, '..');
let w: World;
let operator: Operator | undefined;
const KINDS = ['datasetaccesses', 'datasetstores', 'clusterdatasetstores', 'namespaces'];
/** Watches open before the operator starts (the lab's own components watch namespaces too). */
let baseline: number[] = [];

/** GET on the apiserver with the lab's admin credentials. */
async function apiserverGet(path: string): Promise<{ status: number; body: string }> {
  const opts: import('node:https').RequestOptions = {};
  await w.lab.kubeConfig.applyToHTTPSOptions(opts);
  const url = new URL(path, w.lab.kubeConfig.getCurrentCluster()?.server);
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Open WATCH requests on the apiserver for `resource` (its own gauge). */
async function openWatches(resource: string): Promise<number> {
  const { body } = await apiserverGet('/metrics');
  let total = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith('apiserver_longrunning_requests{')) continue;
    if (line.includes('verb="WATCH"') && line.includes(`resource="${resource}"`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function readyz(address: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}/readyz`);
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  // No CRDs yet: the first test starts the operator before they exist.
  w = await startWorld({ lab: { minio: false }, crds: false, operator: false });
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

describe('startOperator, the composition root', () => {
  it('is not ready, and says which part waits, until its caches can sync; then ready with one watch per kind', async () => {
    baseline = await Promise.all(KINDS.map(openWatches));
    // The CRDs are not installed yet: the DatasetAccess informers cannot list, so the caches wait.
    // The world's operator flags, plus: no issuer, and the operator's default resync (600 s), which
    // the hand-over test below relies on.
    operator = await w.startOperator(['--identity=root-a', '--issuer-address=', '--resync-seconds=600']);
    const metrics = operator.addresses.metrics;
    const before = await readyz(metrics);
    expect(before.status).toBe(503);
    expect(before.body).toBe('not ready: caches');
    expect(operator.notReady()).toEqual(['caches']);

    await installCrds(w.lab.kubeConfig, join(root, 'crds'));
    await waitFor('the operator ready', async () => ((await readyz(metrics)).status === 200 ? true : undefined), 60_000);
    expect((await readyz(metrics)).body).toBe('ok');
    expect(operator.leading()).toBe(true);

    // One list/watch per kind for the whole process: the controller, the issuer's grant source and
    // the webhook share them (before #17 the controller and the grant source each watched).
    const watches = await Promise.all(KINDS.map(openWatches));
    expect(Object.fromEntries(KINDS.map((k, i) => [k, (watches[i] ?? 0) - (baseline[i] ?? 0)]))).toEqual({ datasetaccesses: 1, datasetstores: 1, clusterdatasetstores: 1, namespaces: 1 });
  });

  it("hands a folder to the waiting namespace as soon as its owner's access is gone, without waiting for a resync", async () => {
    const custom = w.clients.customObjects;
    for (const ns of ['team-a', 'team-b']) await w.lab.core.createNamespace({ body: { metadata: { name: ns, labels: { team: ns } } } });
    await createLabClusterStore(w.lab, 'teams', ['team-a', 'team-b'], { allowedPrefixes: ['checkpoints/'], allowedVerbs: ['read'] });
    const access = (namespace: string) => ({
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetAccess',
      metadata: { name: 'ckpt', namespace },
      spec: { storeRef: { kind: 'ClusterDatasetStore', name: 'teams' }, prefix: 'checkpoints/', verbs: ['read'], subjects: { serviceAccounts: ['trainer'] } },
    });
    const reason = async (namespace: string) => {
      const a = (await custom.getNamespacedCustomObject({ ...G, namespace, plural: 'datasetaccesses', name: 'ckpt' })) as DatasetAccess;
      const ready = a.status?.conditions?.find((c) => c.type === 'Ready');
      if (!ready || ready.observedGeneration !== a.metadata.generation) return undefined;
      return ready.status === 'True' ? 'Ready' : ready.reason;
    };
    await custom.createNamespacedCustomObject({ ...G, namespace: 'team-a', plural: 'datasetaccesses', body: access('team-a') });
    await waitFor('team-a Ready', async () => ((await reason('team-a')) === 'Ready' ? true : undefined));
    await custom.createNamespacedCustomObject({ ...G, namespace: 'team-b', plural: 'datasetaccesses', body: access('team-b') });
    expect(await waitFor('team-b refused', async () => ((await reason('team-b')) === 'FolderClaimedByOtherNamespace' ? true : undefined))).toBe(true);
    // The operator resyncs every 600 s (its default): only the claim going away can wake team-b.
    await custom.deleteNamespacedCustomObject({ ...G, namespace: 'team-a', plural: 'datasetaccesses', name: 'ckpt' });
    expect(await waitFor('team-b Ready after the hand-over', async () => ((await reason('team-b')) === 'Ready' ? true : undefined), 20_000)).toBe(true);
  });

  it('stops every part within its bound, leader-only work included, and leaves no watch open', async () => {
    const op = operator;
    if (!op) throw new Error('the first test starts the operator');
    const report = await op.stop(10_000);
    operator = undefined;
    expect(report).toEqual({ timedOut: [], failed: [] });
    expect(op.leading()).toBe(false);
    await expect(fetch(`http://${op.addresses.metrics}/healthz`)).rejects.toThrow();
    const open = await waitFor('the watches closed', async () => {
      const counts = await Promise.all(KINDS.map(openWatches));
      return counts.every((n, i) => n === baseline[i]) ? counts : undefined;
    }, 15_000);
    expect(open).toEqual(baseline);
  });
});
