// 5. Controller scale: 5,000 DatasetAccess objects created in 50 namespaces (as fast as the API
// server takes them, 32 creates in flight) for a freshly started `valet operator` (controller,
// issuer and webhook, as shipped, on one set of shared informers). Each namespace has its own
// folder on one ClusterDatasetStore (`scale/{namespace}/`), the way a platform team hands tenants
// a bucket. A raw cluster-wide watch here sees each access turn Ready; per access, the time from its
// create returning to Ready. The operator's RSS (VmRSS) is sampled throughout, its CPU measured for
// 10 s once all are Ready (steady state). The comparisons are the API server's own: how long the
// 5,000 creates took, and how long one LIST of all 5,000 takes.
// Goals: each Ready within 15 s of its create (p99); all Ready within 20 s of the last create;
// operator RSS under 300 MB; steady-state CPU near zero. The operator runs with the Helm chart's
// Node options (operator.nodeOptions), as shipped.
// Alone: node bench/run.ts controller-scale
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { DatasetAccess } from '../src/api/v1alpha1/index.ts';
import { labStoreSpec } from '../test/lab/valet.ts';
import { accessBody, chartNodeOptions, cluster, ensureNamespace, G, get, isReady, metricSum } from './lib/cluster.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { cpuAccount, inBatches, percentile, rssOf, sampleRss, sleep } from './lib/stats.ts';

const ACCESSES = 5000;
const NAMESPACES = 50;
const SCALE_LABEL = 'valet.dev/bench-scale';
const P99_GOAL_MS = 15_000;
const AFTER_LAST_GOAL_MS = 20_000;
const LIMIT_MS = 150_000;
const RSS_GOAL = 300 * 1024 * 1024;
const STEADY_MS = 10_000;

/**
 * A raw watch (JSON lines parsed here, not through client-node's model classes, which would cost
 * this process more CPU than the controller), restarted from the last resourceVersion whenever the
 * server ends it. Calls `onObject` for every object it sees.
 */
async function watchAccesses(kc: KubeConfig, onObject: (a: DatasetAccess) => void): Promise<{ stop(): void }> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  let stopped = false;
  let rv = '';
  let current: ReturnType<typeof request> | undefined;
  const open = () => {
    if (stopped) return;
    const path = `/apis/${G.group}/${G.version}/datasetaccesses?watch=1&timeoutSeconds=600${rv ? `&resourceVersion=${rv}` : ''}`;
    current = request(`${server}${path}`, { ca: tls.ca, cert: tls.cert, key: tls.key }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as { type: string; object: DatasetAccess };
          if (ev.type === 'ERROR') {
            rv = '';
            continue;
          }
          rv = ev.object.metadata.resourceVersion ?? rv;
          onObject(ev.object);
        }
      });
      res.on('end', () => setTimeout(open, 100));
      res.on('error', () => setTimeout(open, 100));
    });
    current.on('error', () => setTimeout(open, 500));
    current.end();
  };
  open();
  return {
    stop() {
      stopped = true;
      current?.destroy();
    },
  };
}

/** Milliseconds one cluster-wide LIST of the DatasetAccess objects takes (the API server's own pace). */
async function timeList(kc: KubeConfig): Promise<{ ms: number; items: number }> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const t = performance.now();
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(`${server}/apis/${G.group}/${G.version}/datasetaccesses`, { ca: tls.ca, cert: tls.cert, key: tls.key }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (b += c));
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    req.end();
  });
  return { ms: performance.now() - t, items: (JSON.parse(body) as { items: unknown[] }).items.length };
}

export const controllerScale: Benchmark = {
  name: 'controller-scale',
  title: `Controller scale: ${ACCESSES} DatasetAccess objects in ${NAMESPACES} namespaces`,
  async run(ctx) {
    const c = await cluster(ctx.log);
    const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `scale-${String(i).padStart(2, '0')}`);
    for (const ns of namespaces) {
      await ensureNamespace(c.lab, ns);
      await c.lab.core.patchNamespace({ name: ns, body: [{ op: 'add', path: `/metadata/labels/${SCALE_LABEL.replace('/', '~1')}`, value: 'true' }] });
    }
    await c.custom.createClusterCustomObject({
      ...G,
      plural: 'clusterdatasetstores',
      body: {
        apiVersion: 'valet.dev/v1alpha1',
        kind: 'ClusterDatasetStore',
        metadata: { name: 'scale' },
        spec: { ...labStoreSpec(c.lab, { allowedPrefixes: ['scale/{namespace}/'], allowedVerbs: ['read', 'list'] }), namespaceSelector: { matchLabels: { [SCALE_LABEL]: 'true' } } },
      },
    });
    // A fresh operator: its memory before and after is the controller's doing.
    // BENCH_OPERATOR_ARGS='--workers=8': more flags for the operator (compare settings in one session).
    const op = await c.startOperator((process.env.BENCH_OPERATOR_ARGS ?? '').split(' ').filter(Boolean));
    await sleep(2000);
    const rssIdle = await rssOf(op.proc.pid);

    const created = new Map<string, number>();
    const readyAt = new Map<string, number>();
    const t0 = performance.now();
    const watch = await watchAccesses(c.lab.kubeConfig, (obj) => {
      const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
      if (isReady(obj) && !readyAt.has(key)) readyAt.set(key, performance.now());
    });
    const rss = sampleRss(op.proc.pid, 200);
    const cpu = await cpuAccount(c.pids());
    try {
      ctx.log(`creating ${ACCESSES} DatasetAccess objects in ${NAMESPACES} namespaces`);
      const items = Array.from({ length: ACCESSES }, (_, i) => ({ ns: namespaces[i % NAMESPACES] ?? '', name: `dsa-${i}` }));
      await inBatches(items, 32, async ({ ns, name }) => {
        await c.custom.createNamespacedCustomObject({ ...G, namespace: ns, plural: 'datasetaccesses', body: accessBody(name, ns, 'scale', { prefix: `scale/${ns}/` }) });
        created.set(`${ns}/${name}`, performance.now());
      });
      const lastCreate = performance.now();
      const applyMs = lastCreate - t0;
      ctx.log(`created in ${(applyMs / 1000).toFixed(1)} s (${Math.round(ACCESSES / (applyMs / 1000))}/s); ${readyAt.size} Ready so far`);
      let logged = performance.now();
      while (readyAt.size < ACCESSES && performance.now() - t0 < LIMIT_MS) {
        await sleep(100);
        if (performance.now() - logged > 10_000) {
          logged = performance.now();
          ctx.log(`${readyAt.size} Ready after ${fmt.s(logged - t0)}`);
        }
      }
      const lastReady = Math.max(...readyAt.values());
      const allReady = readyAt.size >= ACCESSES;
      const latencies = [...created].map(([k, at]) => (readyAt.get(k) ?? Infinity) - at);
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const afterLast = allReady ? lastReady - lastCreate : NaN;
      const { peak } = await rss.stop();
      const cpuDuring = await cpu();
      // What of the RSS is live JavaScript heap (prom-client's default metrics), as all turn Ready.
      const heap = (async () => {
        const text = (await get(`${op.metricsUrl}/metrics`)).body;
        return { used: metricSum(text, 'nodejs_heap_size_used_bytes'), total: metricSum(text, 'nodejs_heap_size_total_bytes'), external: metricSum(text, 'nodejs_external_memory_bytes') };
      })();
      const heapAtReady = await heap;
      // BENCH_OPERATOR_NODE_OPTIONS='--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>': a heap
      // snapshot of the operator as all turn Ready (where its memory is).
      if (process.env.BENCH_OPERATOR_NODE_OPTIONS?.includes('--heapsnapshot-signal=SIGUSR2')) {
        process.kill(op.proc.pid, 'SIGUSR2');
        await sleep(15_000);
      }
      // Steady state: everything Ready, nothing changing.
      const steady = await cpuAccount({ operator: op.proc.pid });
      await sleep(STEADY_MS);
      const steadyCpu = (await steady()).operator ?? NaN;
      const rssAfter = await rssOf(op.proc.pid);
      const list = await timeList(c.lab.kubeConfig);
      ctx.log(`heap at all Ready: used ${fmt.mb(heapAtReady.used)} of ${fmt.mb(heapAtReady.total)}, external ${fmt.mb(heapAtReady.external)}`);
      ctx.log(`${readyAt.size} Ready; latency p50 ${fmt.s(p50)}, p99 ${fmt.s(p99)}; all Ready ${fmt.s(afterLast)} after the last create; RSS idle ${fmt.mb(rssIdle)}, peak ${fmt.mb(peak)}, after ${fmt.mb(rssAfter)}; CPU s ${JSON.stringify(cpuDuring)}, steady ${steadyCpu} s in ${STEADY_MS / 1000} s`);
      return {
        rows: [
          {
            metric: 'each access: create → Ready, p99',
            valet: Number.isFinite(p99) ? fmt.s(p99) : `${fmt.int(readyAt.size)} Ready at ${fmt.s(LIMIT_MS)}`,
            comparison: `${fmt.s(applyMs / ACCESSES)} per create (${fmt.s(applyMs)} for all)`,
            ratio: '',
            goal: '≤ 15 s',
            met: p99 <= P99_GOAL_MS,
          },
          { metric: 'each access: create → Ready, p50', valet: fmt.s(p50), comparison: '', ratio: '', goal: '–', met: undefined },
          {
            metric: 'all Ready, after the last create',
            valet: Number.isFinite(afterLast) ? fmt.s(afterLast) : 'not all',
            comparison: `${fmt.s(list.ms)} for one LIST of all ${list.items}`,
            ratio: Number.isFinite(afterLast) ? fmt.x(afterLast / list.ms) : '',
            goal: '≤ 20 s',
            met: afterLast <= AFTER_LAST_GOAL_MS,
          },
          { metric: 'operator RSS, peak', valet: fmt.mb(peak), comparison: `${fmt.mb(rssIdle)} before`, ratio: fmt.x(peak / rssIdle), goal: '< 300 MB', met: peak < RSS_GOAL },
          { metric: `operator CPU, steady state (${STEADY_MS / 1000} s, all Ready)`, valet: `${steadyCpu.toFixed(2)} s`, comparison: `${(cpuDuring.operator ?? NaN).toFixed(1)} s while creating`, ratio: '', goal: 'near zero', met: steadyCpu < 0.05 * (STEADY_MS / 1000) },
        ],
        details: { accesses: ACCESSES, namespaces: NAMESPACES, applyMs, listMs: list.ms, p50, p99, afterLastMs: afterLast, readyCount: readyAt.size, limitMs: LIMIT_MS, rssBytes: { idle: rssIdle, peak, after: rssAfter }, heapAtReady, cpuSeconds: cpuDuring, steadyCpuSeconds: steadyCpu, nodeOptions: [chartNodeOptions(), process.env.BENCH_OPERATOR_NODE_OPTIONS ?? ''].join(' ').trim() },
        notes: [],
      };
    } finally {
      watch.stop();
      await rss.stop();
    }
  },
};
