// The operator's composition root, startOperator, in-process against the lab's apiserver: the
// function `valet operator` calls. One list/watch per kind for the whole process (counted by the
// apiserver itself), readiness that names the parts still waiting, leader-only work that runs and
// stops, and a stop within its bound that leaves no watch behind.
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { DatasetAccess } from '../src/api/v1alpha1/index.ts';
import { OPERATOR_COMMAND } from '../src/config/operator.ts';
import { parseCommandLine } from '../src/config/parse.ts';
import { AwsSts } from '../src/issuer/index.ts';
import { createClients } from '../src/k8s/clients.ts';
import { startOperator } from '../src/operator/start.ts';
import type { Operator } from '../src/operator/start.ts';
import { createLogger } from '../src/platform/logger.ts';
import { installCrds } from './lab/apply.ts';
import { startLab, type Lab } from './lab/index.ts';
import { useLabLogs } from './lab/vitest.ts';
import { waitFor } from './lab/wait.ts';

const root = join(import.meta.dirname, '..');
const G = { group: 'valet.dev', version: 'v1alpha1' };
let lab: Lab;
let operator: Operator | undefined;
const sts = new AwsSts();
const logLines: string[] = [];
const KINDS = ['datasetaccesses', 'datasetstores', 'clusterdatasetstores', 'namespaces'];
/** Watches open before the operator starts (the lab's own components watch namespaces too). */
let baseline: number[] = [];

/** GET on the apiserver with the lab's admin credentials. */
async function apiserverGet(path: string): Promise<{ status: number; body: string }> {
  const opts: import('node:https').RequestOptions = {};
  await lab.kubeConfig.applyToHTTPSOptions(opts);
  const url = new URL(path, lab.kubeConfig.getCurrentCluster()?.server);
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
  lab = await startLab({ minio: false });
  await lab.core.createNamespace({ body: { metadata: { name: 'valet-system' } } });
});
afterAll(async () => {
  await operator?.stop(5000);
  sts.destroy();
  await lab?.stop();
});
useLabLogs(() => lab);

describe('startOperator, the composition root', () => {
  it('is not ready, and says which part waits, until its caches can sync; then ready with one watch per kind', async () => {
    const parsed = parseCommandLine(
      OPERATOR_COMMAND,
      ['--kubeconfig', lab.kubeconfig, '--identity=root-a', '--metrics-address=127.0.0.1:0', '--issuer-address=', '--webhook-address=', '--leader-elect=false'],
      {},
    );
    if (!('config' in parsed)) throw new Error('the flags above must parse');
    const logger = createLogger({ level: 'info', write: (line) => logLines.push(line) });
    baseline = await Promise.all(KINDS.map(openWatches));
    // The CRDs are not installed yet: the DatasetAccess informers cannot list, so the caches wait.
    operator = await startOperator(parsed.config.operator, parsed.config.webhook, { clients: createClients(lab.kubeconfig), sts, registry: new Registry(), logger });
    const metrics = operator.addresses.metrics;
    const before = await readyz(metrics);
    expect(before.status).toBe(503);
    expect(before.body).toBe('not ready: caches');
    expect(operator.notReady()).toEqual(['caches']);

    await installCrds(lab.kubeConfig, join(root, 'crds'));
    await waitFor('the operator ready', async () => ((await readyz(metrics)).status === 200 ? true : undefined), 60_000);
    expect((await readyz(metrics)).body).toBe('ok');
    expect(operator.leading()).toBe(true);

    // One list/watch per kind for the whole process: the controller, the issuer's grant source and
    // the webhook share them (before #17 the controller and the grant source each watched).
    const watches = await Promise.all(KINDS.map(openWatches));
    expect(Object.fromEntries(KINDS.map((k, i) => [k, (watches[i] ?? 0) - (baseline[i] ?? 0)]))).toEqual({ datasetaccesses: 1, datasetstores: 1, clusterdatasetstores: 1, namespaces: 1 });
  });

  it("hands a folder to the waiting namespace as soon as its owner's access is gone, without waiting for a resync", async () => {
    const custom = lab.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const ns of ['team-a', 'team-b']) await lab.core.createNamespace({ body: { metadata: { name: ns, labels: { team: ns } } } });
    await custom.createClusterCustomObject({
      ...G,
      plural: 'clusterdatasetstores',
      body: {
        apiVersion: 'valet.dev/v1alpha1',
        kind: 'ClusterDatasetStore',
        metadata: { name: 'teams' },
        spec: {
          provider: 's3',
          bucket: 'datasets',
          region: 'us-east-1',
          roleArn: 'arn:aws:iam::123456789012:role/valet',
          auth: { mode: 'defaultChain' },
          allowedPrefixes: ['checkpoints/'],
          allowedVerbs: ['read'],
          maxSessionDurationSeconds: 3600,
          namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['team-a', 'team-b'] }] },
        },
      },
    });
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
