// Controller metrics, created on the Registry passed in (STYLE.md habit 8: nothing at module level,
// so tests and several controllers in one process each get their own). Labels carry kinds, results
// and informer names only: never object names, prefixes or anything secret.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export interface ControllerMetrics {
  /** valet_controller_reconciles_total{kind, result}: result is what the reconcile did (e.g. written, unchanged, gone, error). */
  reconciles: Counter<'kind' | 'result'>;
  /** valet_controller_reconcile_errors_total{kind}: reconciles that threw and were retried. */
  reconcileErrors: Counter<'kind'>;
  /** valet_controller_reconcile_duration_seconds{kind}. */
  reconcileSeconds: Histogram<'kind'>;
  /** valet_controller_workqueue_depth: keys ready and waiting for a worker. */
  queueDepth: Gauge;
  /** valet_controller_informer_restarts_total{informer}: restarts after watch or list errors. */
  informerRestarts: Counter<'informer'>;
  /** valet_controller_leader: 1 while this replica holds the leader lease. */
  leader: Gauge;
  /** valet_controller_accesses{provider, ready}: DatasetAccess objects by their store's provider (unknown: store not found) and Ready status. */
  accesses: Gauge<'provider' | 'ready'>;
  /** Reads the queue depth at scrape time from `depth` (instead of setting the gauge yourself). */
  trackQueueDepth(depth: (() => number) | undefined): void;
  /** Counts the accesses at scrape time from `list`. */
  trackAccesses(list: (() => readonly { provider: string; ready: string }[]) | undefined): void;
}

export function createControllerMetrics(registry: Registry, prefix = 'valet_'): ControllerMetrics {
  let depthSource: (() => number) | undefined;
  let accessSource: (() => readonly { provider: string; ready: string }[]) | undefined;
  const registers = [registry];
  return {
    reconciles: new Counter({ name: `${prefix}controller_reconciles_total`, help: 'Reconciles, by kind and result.', labelNames: ['kind', 'result'], registers }),
    reconcileErrors: new Counter({ name: `${prefix}controller_reconcile_errors_total`, help: 'Reconciles that failed and were retried with backoff.', labelNames: ['kind'], registers }),
    reconcileSeconds: new Histogram({
      name: `${prefix}controller_reconcile_duration_seconds`,
      help: 'Time spent in one reconcile.',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queueDepth: new Gauge({
      name: `${prefix}controller_workqueue_depth`,
      help: 'Keys waiting in the work queue for a worker.',
      registers,
      collect() {
        if (depthSource) this.set(depthSource());
      },
    }),
    informerRestarts: new Counter({ name: `${prefix}controller_informer_restarts_total`, help: 'Informer restarts after list or watch errors.', labelNames: ['informer'], registers }),
    leader: new Gauge({ name: `${prefix}controller_leader`, help: '1 while this replica holds the leader lease, else 0.', registers }),
    accesses: new Gauge({
      name: `${prefix}controller_accesses`,
      help: "DatasetAccess objects, by their store's provider and Ready status.",
      labelNames: ['provider', 'ready'],
      registers,
      collect() {
        if (!accessSource) return;
        this.reset();
        const counts = new Map<string, number>();
        for (const a of accessSource()) counts.set(`${a.provider}\0${a.ready}`, (counts.get(`${a.provider}\0${a.ready}`) ?? 0) + 1);
        for (const [k, n] of counts) {
          const [provider = '', ready = ''] = k.split('\0');
          this.set({ provider, ready }, n);
        }
      },
    }),
    trackQueueDepth(depth) {
      depthSource = depth;
    },
    trackAccesses(list) {
      accessSource = list;
    },
  };
}
