// 5. Controller scale: 5,000 DatasetAccess objects applied at once (as fast as the API server takes
// them, 32 creates in flight) to a freshly started `valet operator` (controller, issuer and
// webhook, as shipped: the issuer's informers cache the accesses too). A raw watch here sees each
// one turn Ready; the operator's RSS (VmRSS) is sampled throughout. The comparison is the API
// server's own pace: how long the 5,000 creates took.
// Goals: all Ready within 60 s; operator RSS under 300 MB.
// Alone: node bench/run.ts controller-scale
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { DatasetAccess } from '../src/api/v1alpha1/index.ts';
import { accessBody, cluster, ensureNamespace, G, isReady, storeBody } from './lib/cluster.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { cpuAccount, inBatches, rssOf, sampleRss, sleep } from './lib/stats.ts';

const ACCESSES = 5000;
const SCALE_NS = 'scale';
const GOAL_MS = 60_000;
const LIMIT_MS = 150_000;
const RSS_GOAL = 300 * 1024 * 1024;

/**
 * A raw watch (JSON lines parsed here, not through client-node's model classes, which would cost
 * this process more CPU than the controller), restarted from the last resourceVersion whenever the
 * server ends it. Calls `onObject` for every object it sees.
 */
async function watchAccesses(kc: KubeConfig, namespace: string, onObject: (a: DatasetAccess) => void): Promise<{ stop(): void }> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  let stopped = false;
  let rv = '';
  let current: ReturnType<typeof request> | undefined;
  const open = () => {
    if (stopped) return;
    const path = `/apis/${G.group}/${G.version}/namespaces/${namespace}/datasetaccesses?watch=1&timeoutSeconds=600${rv ? `&resourceVersion=${rv}` : ''}`;
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

export const controllerScale: Benchmark = {
  name: 'controller-scale',
  title: `Controller scale: ${ACCESSES} DatasetAccess objects at once`,
  async run(ctx) {
    const c = await cluster(ctx.log);
    await ensureNamespace(c.lab, SCALE_NS);
    await c.custom.createClusterCustomObject({ ...G, plural: 'clusterdatasetstores', body: storeBody(c.lab, 'scale', SCALE_NS) });
    // A fresh operator: its memory before and after is the controller's doing.
    const op = await c.startOperator();
    await sleep(2000);
    const rssIdle = await rssOf(op.proc.pid);

    const ready = new Set<string>();
    let lastReadyAt = 0;
    const t0 = performance.now();
    const watch = await watchAccesses(c.lab.kubeConfig, SCALE_NS, (obj) => {
      if (isReady(obj) && !ready.has(obj.metadata.name)) {
        ready.add(obj.metadata.name);
        lastReadyAt = performance.now();
      }
    });
    const rss = sampleRss(op.proc.pid, 200);
    const cpu = await cpuAccount(c.pids());
    try {
      ctx.log(`applying ${ACCESSES} DatasetAccess objects`);
      const names = Array.from({ length: ACCESSES }, (_, i) => `dsa-${i}`);
      await inBatches(names, 32, (name) => c.custom.createNamespacedCustomObject({ ...G, namespace: SCALE_NS, plural: 'datasetaccesses', body: accessBody(name, SCALE_NS, 'scale') }));
      const applyMs = performance.now() - t0;
      ctx.log(`applied in ${fmt.s(applyMs)}; ${ready.size} Ready so far`);
      let logged = performance.now();
      while (ready.size < ACCESSES && performance.now() - t0 < LIMIT_MS) {
        await sleep(100);
        if (performance.now() - logged > 10_000) {
          logged = performance.now();
          ctx.log(`${ready.size} Ready after ${fmt.s(logged - t0)}`);
        }
      }
      const allReadyMs = ready.size >= ACCESSES ? lastReadyAt - t0 : NaN;
      const { peak } = await rss.stop();
      const cpuSeconds = await cpu();
      await sleep(3000);
      const rssAfter = await rssOf(op.proc.pid);
      ctx.log(`${ready.size} Ready after ${fmt.s(performance.now() - t0)}; RSS idle ${fmt.mb(rssIdle)}, peak ${fmt.mb(peak)}, after ${fmt.mb(rssAfter)}; CPU s ${JSON.stringify(cpuSeconds)}`);
      return {
        rows: [
          {
            metric: `all ${ACCESSES} Ready (from first apply)`,
            valet: Number.isFinite(allReadyMs) ? fmt.s(allReadyMs) : `${fmt.int(ready.size)} Ready at ${fmt.s(LIMIT_MS)}`,
            comparison: `${fmt.s(applyMs)} to apply`,
            ratio: Number.isFinite(allReadyMs) ? fmt.x(allReadyMs / applyMs) : '',
            goal: '≤ 60 s',
            met: allReadyMs <= GOAL_MS,
          },
          { metric: 'operator RSS, peak', valet: fmt.mb(peak), comparison: `${fmt.mb(rssIdle)} before`, ratio: fmt.x(peak / rssIdle), goal: '< 300 MB', met: peak < RSS_GOAL },
        ],
        details: { accesses: ACCESSES, applyMs, allReadyMs, readyCount: ready.size, limitMs: LIMIT_MS, readyPerSecondOverall: ready.size / ((lastReadyAt - t0) / 1000), rssBytes: { idle: rssIdle, peak, after: rssAfter }, cpuSeconds },
        notes: [],
      };
    } finally {
      watch.stop();
      await rss.stop();
    }
  },
};
