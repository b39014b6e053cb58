// 9. Issuer claims: the cost of authorizing one key request for an access on a shared
// ClusterDatasetStore, where folder ownership (ADR 0009) must weigh other namespaces' claims.
// Valet asks the shared informers' ClaimIndex for the claims overlapping the requested access
// (GrantSource.overlappingClaims); the comparison, measured in the same run on the same informers,
// is what the issuer did before: every access in the cluster (informer list()) handed to the rule.
// The world is controller-scale's: 100 accesses per namespace, each namespace on its own folder
// (`scale/{namespace}/`) of one cluster store, 5,000 accesses in 50 namespaces; and 500 in 5, to
// show how each cost grows with the cluster. In-memory informers (src/k8s/testdata), no API server:
// this is the issuer's CPU per request, nothing else. Both paths must give the same verdicts
// (checked first). Interleaved rounds; each figure is the median round, each ratio the median of
// the rounds' own ratios (both sides of a ratio measured back to back, so load on the machine
// weighs on both).
// Goal: the index's cost does not grow with the accesses in the cluster (5,000 vs 500: ≤ 1.5×).
// Alone: node bench/run.ts issuer-claims
import type { ClusterDatasetStore, DatasetAccess } from '../src/api/v1alpha1/index.ts';
import { authorize } from '../src/issuer/authorize.ts';
import type { PodIdentity } from '../src/issuer/ports.ts';
import { InformerGrantSource } from '../src/k8s/grants.ts';
import { SharedInformers } from '../src/k8s/shared-informers.ts';
import { memoryListWatches } from '../src/k8s/testdata/memory-list-watch.ts';
import type { NamespaceLike } from '../src/k8s/shared-informers.ts';
import { PROVIDER_REGISTRY } from '../src/providers/index.ts';
import { renderGrant } from '../src/policy/index.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { median } from './lib/stats.ts';

const PER_NAMESPACE = 100;
const STORE: ClusterDatasetStore = {
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'ClusterDatasetStore',
  metadata: { name: 'scale', generation: 1 },
  spec: {
    provider: 's3',
    bucket: 'datasets',
    region: 'us-east-1',
    roleArn: 'arn:aws:iam::000000000000:role/valet',
    auth: { mode: 'defaultChain' },
    allowedPrefixes: ['scale/{namespace}/'],
    allowedVerbs: ['read', 'list'],
    maxSessionDurationSeconds: 3600,
    namespaceSelector: { matchLabels: { 'valet.dev/bench-scale': 'true' } },
  },
};

/** A Ready access as the controller leaves it: status policy rendered from the access and the store. */
function readyAccess(ns: string, i: number): DatasetAccess {
  const a: DatasetAccess = {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name: `acc-${i}`, namespace: ns, generation: 1, creationTimestamp: `2026-01-01T00:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z` },
    spec: { storeRef: { kind: 'ClusterDatasetStore', name: STORE.metadata.name }, prefix: `scale/${ns}/`, verbs: ['read', 'list'], subjects: { serviceAccounts: ['worker'] }, sessionDurationSeconds: 900 },
  };
  const r = renderGrant(STORE, a, PROVIDER_REGISTRY);
  if (!r.ok) throw new Error(`the bench access does not render: ${r.message}`);
  a.status = { observedGeneration: 1, store: `ClusterDatasetStore/${STORE.metadata.name}`, sessionPolicy: r.policy, packedPolicySize: r.packedSize, conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }] };
  return a;
}

interface World {
  /** One key request for the i-th access (round robin): whether it was granted. */
  index(i: number): boolean;
  scan(i: number): boolean;
  accesses: number;
}

function world(namespaces: number): World {
  const lws = memoryListWatches();
  const none = undefined as never;
  const informers = new SharedInformers({ clients: { kubeConfig: none, core: none, customObjects: none }, makeListWatch: lws.make });
  const g = new InformerGrantSource({ clients: { kubeConfig: none, core: none, customObjects: none }, informers });
  lws.of<ClusterDatasetStore>('clusterdatasetstores').put(STORE);
  const requests: { pod: PodIdentity; name: string }[] = [];
  for (let n = 0; n < namespaces; n++) {
    const ns = `scale-${String(n).padStart(2, '0')}`;
    lws.of<NamespaceLike>('namespaces').put({ metadata: { name: ns, labels: { 'valet.dev/bench-scale': 'true' } } });
    for (let i = 0; i < PER_NAMESPACE; i++) {
      lws.of<DatasetAccess>('datasetaccesses').put(readyAccess(ns, i));
      requests.push({ pod: { namespace: ns, serviceAccount: 'worker', podName: `w-${i}`, podUid: `u-${i}`, labels: {} }, name: `acc-${i}` });
    }
  }
  // The request order is shuffled over namespaces so neither path gains from a warm cache line.
  const order = requests.map((_, i) => (i * 7919) % requests.length);
  const run = (i: number, overlappingClaims: (s: string, prefix: string, ns: string) => readonly DatasetAccess[]) => {
    const r = requests[order[i % order.length] as number] as { pod: PodIdentity; name: string };
    return authorize(r.pod, g.accesses(r.pod.namespace), (a) => g.store(a), [r.name], (ns) => g.namespaceLabels(ns), { valetNamespace: g.valetNamespace, overlappingClaims }).ok;
  };
  return {
    index: (i) => run(i, (s, prefix, ns) => g.overlappingClaims(s, prefix, ns)),
    // What the issuer did before: every access in the cluster, as the informer lists it.
    scan: (i) => run(i, () => informers.accesses.list()),
    accesses: namespaces * PER_NAMESPACE,
  };
}

/** Microseconds per key request over up to `n` requests or `maxMs`. */
function perRequestUs(fn: (i: number) => boolean, n: number, maxMs: number): number {
  const t0 = performance.now();
  let i = 0;
  let granted = 0;
  for (; i < n; i++) {
    if (fn(i)) granted++;
    if ((i & 63) === 63 && performance.now() - t0 > maxMs) break;
  }
  const done = Math.min(i + 1, n);
  if (granted !== done) throw new Error(`${done - granted} of ${done} requests were refused`);
  return ((performance.now() - t0) * 1000) / done;
}

export const issuerClaims: Benchmark = {
  name: 'issuer-claims',
  title: 'Issuer: authorizing a key request on a shared cluster store (ADR 0009)',
  async run(ctx) {
    const big = world(50);
    const small = world(5);
    // Same verdicts: every request of the big world, both ways.
    for (let i = 0; i < big.accesses; i++) if (big.index(i) !== big.scan(i)) throw new Error(`index and scan disagree on request ${i}`);
    for (const w of [big, small]) {
      perRequestUs(w.index, 5_000, 300);
      perRequestUs(w.scan, 500, 300);
    }
    const rounds = { index5000: [] as number[], scan5000: [] as number[], index500: [] as number[], scan500: [] as number[] };
    for (let r = 0; r < 5; r++) {
      rounds.index5000.push(perRequestUs(big.index, 50_000, 500));
      rounds.scan5000.push(perRequestUs(big.scan, 5_000, 500));
      rounds.index500.push(perRequestUs(small.index, 50_000, 500));
      rounds.scan500.push(perRequestUs(small.scan, 20_000, 500));
      ctx.log(`round ${r + 1}: 5,000 accesses: index ${rounds.index5000.at(-1)?.toFixed(1)} µs, scan ${rounds.scan5000.at(-1)?.toFixed(1)} µs; 500: index ${rounds.index500.at(-1)?.toFixed(1)} µs, scan ${rounds.scan500.at(-1)?.toFixed(1)} µs`);
    }
    const [i5k, s5k, i500, s500] = [median(rounds.index5000), median(rounds.scan5000), median(rounds.index500), median(rounds.scan500)];
    const us = (x: number) => `${x.toFixed(1)} µs`;
    const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / (b[i] as number)));
    const [vs5k, vs500, flat] = [paired(rounds.index5000, rounds.scan5000), paired(rounds.index500, rounds.scan500), paired(rounds.index5000, rounds.index500)];
    return {
      rows: [
        { metric: 'µs per key request, 5,000 accesses: index vs scan', valet: us(i5k), comparison: us(s5k), ratio: fmt.x(vs5k), goal: '–', met: undefined },
        { metric: 'µs per key request, 500 accesses: index vs scan', valet: us(i500), comparison: us(s500), ratio: fmt.x(vs500), goal: '–', met: undefined },
        { metric: 'index cost, 5,000 vs 500 accesses', valet: us(i5k), comparison: us(i500), ratio: fmt.x(flat), goal: '≤ 1.5×', met: flat <= 1.5 },
      ],
      details: { microsecondsPerRequest: { index5000: i5k, scan5000: s5k, index500: i500, scan500: s500 }, rounds, perNamespace: PER_NAMESPACE },
      notes: [`the scan's cost grows ${fmt.x(paired(rounds.scan5000, rounds.scan500))} from 500 to 5,000 accesses; the index's ${fmt.x(flat)}`],
    };
  },
};
