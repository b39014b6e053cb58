// 4. Admission: pods created through the real kube-apiserver, 500 labelled valet.dev/inject=true
// (the API server calls Valet's webhook in `valet operator` over TLS, failurePolicy Fail) and 500
// without the label (no webhook call), interleaved in one run at a fixed concurrency, so both see
// the same API server and the same noise. The added latency is the labelled p99 minus the
// unlabelled p99. The pods' service account is granted an access, so injection is complete.
// Goal: added p99 under 20 ms.
// Alone: node bench/run.ts admission
import type { V1Pod } from '@kubernetes/client-node';
import { deleteMutatingWebhookConfiguration, applyMutatingWebhookConfiguration } from '../src/k8s/webhook-config.ts';
import { podWebhookConfiguration, WEBHOOK_CONFIGURATION_NAME } from '../src/webhook/index.ts';
import { accessBody, cluster, G, get, metricSum, NS, OPERATOR_NS, SA, waitReadyAccess } from './lib/cluster.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { inBatches, percentile, until } from './lib/stats.ts';

const EACH = 500;
const CONCURRENCY = 4;
const GOAL_MS = 20;

export const admission: Benchmark = {
  name: 'admission',
  title: 'Admission: added latency of the pod webhook',
  async run(ctx) {
    const c = await cluster(ctx.log);
    await c.custom.createNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', body: accessBody('admission', NS, 'lab') }).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
    const op = c.operator ?? (await c.startOperator());
    await waitReadyAccess(c, NS, 'admission');
    await applyMutatingWebhookConfiguration(c.lab.kubeConfig, podWebhookConfiguration({ caPem: c.ca.certPem, url: op.webhookUrl, excludeNamespaces: [OPERATOR_NS], timeoutSeconds: 5 }));
    const body = (name: string, labelled: boolean): V1Pod => ({
      metadata: { name, labels: labelled ? { app: 'train', 'valet.dev/inject': 'true' } : { app: 'train' } as Record<string, string> },
      spec: { serviceAccountName: SA, restartPolicy: 'Never', containers: [{ name: 'train', image: 'python:3.12' }] },
    });
    try {
      // The API server loads webhook configurations through an informer: wait until it calls ours.
      await until(
        'the API server to call the webhook',
        async () => (await c.lab.core.createNamespacedPod({ namespace: NS, body: body(`adm-probe-${Date.now()}`, true), dryRun: 'All' })).metadata?.annotations?.['valet.dev/injected'] === 'true',
        30_000,
        200,
      );
      const create = async (name: string, labelled: boolean) => {
        const t0 = performance.now();
        const pod = await c.lab.core.createNamespacedPod({ namespace: NS, body: body(name, labelled) });
        const ms = performance.now() - t0;
        if (labelled && pod.metadata?.annotations?.['valet.dev/injected'] !== 'true') throw new Error(`pod ${name} was not injected`);
        return { labelled, ms };
      };
      // Warm-up (connections, caches), then the measured run: labelled and unlabelled alternate.
      await inBatches(Array.from({ length: 40 }, (_, i) => i), CONCURRENCY, (i) => create(`adm-warm-${i}`, i % 2 === 0));
      const before = (await get(`${op.metricsUrl}/metrics`)).body;
      const plan = Array.from({ length: 2 * EACH }, (_, i) => ({ name: `adm-${i % 2 === 0 ? 'l' : 'u'}-${i >> 1}`, labelled: i % 2 === 0 }));
      const t0 = Date.now();
      const results = await inBatches(plan, CONCURRENCY, (p) => create(p.name, p.labelled));
      ctx.log(`${2 * EACH} pods created in ${fmt.s(Date.now() - t0)}`);
      const after = (await get(`${op.metricsUrl}/metrics`)).body;
      const lab = results.filter((r) => r.labelled).map((r) => r.ms);
      const plain = results.filter((r) => !r.labelled).map((r) => r.ms);
      const [l50, l99, u50, u99] = [percentile(lab, 50), percentile(lab, 99), percentile(plain, 50), percentile(plain, 99)];
      const whSum = metricSum(after, 'valet_webhook_admission_duration_seconds_sum') - metricSum(before, 'valet_webhook_admission_duration_seconds_sum');
      const whCount = metricSum(after, 'valet_webhook_admission_duration_seconds_count') - metricSum(before, 'valet_webhook_admission_duration_seconds_count');
      const added = l99 - u99;
      return {
        rows: [
          { metric: `pod create p99 (${EACH} + ${EACH}, conc. ${CONCURRENCY})`, valet: fmt.ms(l99), comparison: fmt.ms(u99), ratio: fmt.x(l99 / u99), goal: '', met: undefined },
          { metric: 'added p99 latency', valet: fmt.ms(added), comparison: '', ratio: '', goal: `< ${GOAL_MS} ms`, met: added < GOAL_MS },
          { metric: 'pod create p50', valet: fmt.ms(l50), comparison: fmt.ms(u50), ratio: fmt.x(l50 / u50), goal: '', met: undefined },
          { metric: "webhook's own time (mean)", valet: fmt.ms((whSum / Math.max(1, whCount)) * 1000), comparison: '', ratio: '', goal: '', met: undefined },
        ],
        details: { each: EACH, concurrency: CONCURRENCY, labelledMs: { p50: l50, p99: l99 }, unlabelledMs: { p50: u50, p99: u99 }, addedP99Ms: added, addedP50Ms: l50 - u50, webhookCalls: whCount, webhookMeanMs: (whSum / Math.max(1, whCount)) * 1000 },
        notes: [],
      };
    } finally {
      await deleteMutatingWebhookConfiguration(c.lab.kubeConfig, WEBHOOK_CONFIGURATION_NAME);
    }
  },
};
