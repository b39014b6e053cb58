// The controller against the real kube-apiserver: `valet operator` runs as real processes (two
// replicas racing for one Lease), and each claim is read back from the API server.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocatePorts, type ServerProcess } from './lab/process.ts';
import { useLabLogs } from './lab/vitest.ts';
import { G, metric, startWorld, waitFor, type World } from './lab/world.ts';

const LEASE = { duration: 6, renew: 4, retry: 1 };
const RESYNC_SECONDS = 3;

let w: World;
let custom: World['clients']['customObjects'];
const operators = new Map<string, { proc: ServerProcess; metricsPort: number }>();

async function startReplica(identity: string): Promise<void> {
  const { metrics } = await allocatePorts(['metrics'] as const);
  // `valet operator` as its own process (a replica the test can SIGKILL), controller only.
  const proc = w.startOperatorProcess({
    ports: { metrics },
    identity,
    log: `operator-${identity}.log`,
    extraArgs: [
      `--lease-duration-seconds=${LEASE.duration}`,
      `--renew-deadline-seconds=${LEASE.renew}`,
      `--retry-period-seconds=${LEASE.retry}`,
      `--resync-seconds=${RESYNC_SECONDS}`,
      '--log-level=debug',
    ],
  });
  operators.set(identity, { proc, metricsPort: metrics });
}

function scrape(identity: string): Promise<string> {
  const op = operators.get(identity);
  if (!op) throw new Error(`no operator ${identity}`);
  return new Promise((resolve, reject) => {
    const req = request(`http://127.0.0.1:${op.metricsPort}/metrics`, { timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number }; spec: Record<string, unknown>; status?: Record<string, unknown> & { conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[] } };

async function getAccess(ns: string, name: string): Promise<Obj> {
  return (await custom.getNamespacedCustomObject({ ...G, namespace: ns, plural: 'datasetaccesses', name })) as Obj;
}

const ready = (o: Obj) => o.status?.conditions?.find((c) => c.type === 'Ready');

async function waitReady(ns: string, name: string, status: 'True' | 'False', reason?: string, timeoutMs = 20_000): Promise<Obj> {
  return waitFor(`${ns}/${name} Ready=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const o = await getAccess(ns, name);
    const r = ready(o);
    return r && r.status === status && (!reason || r.reason === reason) && r.observedGeneration === o.metadata.generation ? o : undefined;
  }, timeoutMs);
}

const storeSpec = (extra: Record<string, unknown> = {}) => ({
  provider: 's3',
  bucket: 'datasets',
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9000',
  stsEndpoint: 'http://127.0.0.1:9000',
  roleArn: 'arn:aws:iam::000000000000:role/valet',
  auth: { mode: 'defaultChain' },
  allowedPrefixes: ['imagenet/', 'checkpoints/', 'long/'],
  allowedVerbs: ['read', 'list', 'write', 'delete'],
  maxSessionDurationSeconds: 3600,
  ...extra,
});

async function createAccess(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: ns,
    plural: 'datasetaccesses',
    body: {
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetAccess',
      metadata: { name, namespace: ns },
      spec: { storeRef: { kind: 'DatasetStore', name: 'lab' }, prefix: 'imagenet/', verbs: ['read', 'list'], subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900, ...spec },
    },
  });
}

async function createStore(ns: string, name: string, extra: Record<string, unknown> = {}): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...G,
    namespace: ns,
    plural: 'datasetstores',
    body: { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetStore', metadata: { name, namespace: ns }, spec: storeSpec(extra) },
  });
}

async function leaderOf(): Promise<string> {
  return waitFor('a leader', async () => {
    for (const id of operators.keys()) {
      try {
        if (metric(await scrape(id), 'valet_controller_leader') === 1) return id;
      } catch {
        // that one is down
      }
    }
    return undefined;
  });
}

beforeAll(async () => {
  // team-a is the world's namespace (no store, no operator of the world's own); team-b beside it.
  w = await startWorld({ lab: { minio: false }, ns: 'team-a', serviceAccounts: [], store: false, operator: false });
  custom = w.clients.customObjects;
  await w.lab.core.createNamespace({ body: { metadata: { name: 'team-b', labels: { team: 'team-b' } } } });
  await startReplica('a');
  await startReplica('b');
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

describe('the DatasetAccess controller', () => {
  it('reports a missing store, then Ready with the rendered policy once the store exists', async () => {
    await createAccess('team-a', 'imagenet', {});
    const missing = await waitReady('team-a', 'imagenet', 'False', 'StoreNotFound');
    expect(ready(missing)?.message).toContain('spec.storeRef');
    expect(missing.status?.sessionPolicy).toBeUndefined();
    await createStore('team-a', 'lab');
    const ok = await waitReady('team-a', 'imagenet', 'True');
    const policy = JSON.parse(String(ok.status?.sessionPolicy)) as { Statement: { Resource: string | string[] }[] };
    expect(JSON.stringify(policy.Statement)).toContain('arn:aws:s3:::datasets/imagenet/*');
    expect(ok.status?.packedPolicySize).toBe(String(ok.status?.sessionPolicy).length);
    expect(ok.status?.store).toBe('DatasetStore/lab');
  });

  it('ends semantic errors in Ready=False with a specific reason, and records an Event', async () => {
    await createStore('team-b', 'narrow', { allowedPrefixes: ['imagenet/'], allowedVerbs: ['read', 'list'], maxSessionDurationSeconds: 1800 });
    await custom.createClusterCustomObject({
      ...G,
      plural: 'clusterdatasetstores',
      body: { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 'shared' }, spec: { ...storeSpec(), namespaceSelector: { matchLabels: { team: 'team-a' } } } },
    });
    const ref = { kind: 'DatasetStore', name: 'narrow' };
    const longPrefix = 'long/' + 'x'.repeat(1000) + '/'; // 1,006 characters, twice in the policy
    const cases: [string, Record<string, unknown>, string][] = [
      ['outside', { storeRef: ref, prefix: 'coco/' }, 'PrefixNotAllowed'],
      ['verb', { storeRef: ref, verbs: ['read', 'write'] }, 'VerbNotAllowed'],
      ['duration', { storeRef: ref, sessionDurationSeconds: 3600 }, 'DurationTooLong'],
      ['not-selected', { storeRef: { kind: 'ClusterDatasetStore', name: 'shared' } }, 'NamespaceNotSelected'],
      ['other-ns-store', { storeRef: { kind: 'DatasetStore', name: 'lab' } }, 'StoreNotFound'],
      ['too-large', { storeRef: { kind: 'ClusterDatasetStore', name: 'shared' }, prefix: longPrefix, verbs: ['read', 'list', 'write', 'delete'] }, 'PolicyTooLarge'],
    ];
    for (const [name, spec] of cases) await createAccess(name === 'too-large' ? 'team-a' : 'team-b', name, spec);
    for (const [name, , reason] of cases) {
      const o = await waitReady(name === 'too-large' ? 'team-a' : 'team-b', name, 'False', reason);
      expect(o.status?.sessionPolicy).toBeUndefined();
    }
    const events = await waitFor('a Warning event for team-b/verb', async () => {
      const list = await w.lab.core.listNamespacedEvent({ namespace: 'team-b' });
      return list.items.find((e) => e.involvedObject.name === 'verb' && e.reason === 'VerbNotAllowed');
    });
    expect(events.type).toBe('Warning');
    expect(events.message).toContain('write');
  });

  it('re-reconciles the accesses of a store when the store changes', async () => {
    await createStore('team-b', 'mutable');
    await createAccess('team-b', 'follows-store', { storeRef: { kind: 'DatasetStore', name: 'mutable' } });
    await waitReady('team-b', 'follows-store', 'True');
    const store = (await custom.getNamespacedCustomObject({ ...G, namespace: 'team-b', plural: 'datasetstores', name: 'mutable' })) as Obj;
    store.spec.allowedVerbs = ['write'];
    await custom.replaceNamespacedCustomObject({ ...G, namespace: 'team-b', plural: 'datasetstores', name: 'mutable', body: store });
    await waitReady('team-b', 'follows-store', 'False', 'VerbNotAllowed');
  });

  it('does not rewrite status when nothing changed (resourceVersion stays over resyncs)', async () => {
    const before = await waitReady('team-a', 'imagenet', 'True');
    const leader = await leaderOf();
    const unchangedBefore = metric(await scrape(leader), 'valet_controller_reconciles_total', 'result="unchanged"');
    await new Promise((r) => setTimeout(r, (RESYNC_SECONDS * 2 + 1) * 1000));
    const unchangedAfter = metric(await scrape(leader), 'valet_controller_reconciles_total', 'result="unchanged"');
    expect(unchangedAfter).toBeGreaterThan(unchangedBefore);
    const after = await getAccess('team-a', 'imagenet');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('runs exactly one leader; when it is killed the other takes over once the lease lapses (lease duration plus a retry period)', async () => {
    const leader = await leaderOf();
    const follower = [...operators.keys()].find((id) => id !== leader) ?? '';
    const followerMetrics = await scrape(follower);
    expect(metric(followerMetrics, 'valet_controller_leader')).toBe(0);
    expect(metric(followerMetrics, 'valet_controller_reconciles_total')).toBe(0);
    expect(metric(await scrape(leader), 'valet_controller_reconciles_total')).toBeGreaterThan(0);

    const killedAt = Date.now();
    operators.get(leader)?.proc.child.kill('SIGKILL');
    await waitFor('the follower to lead', async () => metric(await scrape(follower), 'valet_controller_leader') === 1, (2 * LEASE.duration) * 1000);
    const tookOver = (Date.now() - killedAt) / 1000;
    process.stdout.write(`leader ${leader} killed; ${follower} took over after ${tookOver.toFixed(1)}s (lease ${LEASE.duration}s)\n`);
    // The follower last saw a renewal up to one retry period (plus jitter) before the kill, waits a
    // lease duration of unchanged record on its own clock, and notices at its next retry (ADR 0004).
    expect(tookOver).toBeLessThanOrEqual(LEASE.duration + 3 * LEASE.retry);
    await createAccess('team-a', 'after-failover', {});
    await waitReady('team-a', 'after-failover', 'True');
    // The dead replica stays dead for the rest of the suite; restart it as a fresh follower.
    operators.delete(leader);
  });

  it('keeps reconciling after the kube-apiserver restarts, without restarting the controller', async () => {
    await w.lab.stopApiserver();
    await new Promise((r) => setTimeout(r, 2000));
    await w.lab.startApiserver();
    await createAccess('team-a', 'after-restart', {});
    await waitReady('team-a', 'after-restart', 'True', undefined, 60_000);
    // The survivor of the hand-over above (the loop must not pass vacuously).
    expect(operators.size).toBe(1);
    for (const op of operators.values()) expect(op.proc.exited()).toBe(false);
  });
});
