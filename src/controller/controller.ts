// The DatasetAccess controller: informers on the three kinds and on Namespaces feed a keyed work
// queue; store and namespace changes re-queue the accesses that depend on them; a periodic resync
// re-queues everything (cheap: status is only written when it changes). Only the leader runs the
// workers; every replica keeps its caches warm so a successor starts at once.
import { KINDS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import { aborted } from '../platform/abort.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { SharedInformers } from '../k8s/shared-informers.ts';
import type { K8sClients } from '../k8s/clients.ts';
import { WorkQueue } from '../k8s/workqueue.ts';
import type { ControllerMetrics } from '../metrics/controller.ts';
import { accessesUsingStore, makeAccessReconciler, type AccessStatusWriter, type EventRecorder } from './access.ts';

export interface ControllerOptions {
  clients: K8sClients;
  /** The process's shared informers; absent, the controller makes its own. */
  informers?: SharedInformers;
  status: AccessStatusWriter;
  events: EventRecorder;
  clock: Clock;
  logger: Logger;
  metrics: ControllerMetrics;
  workers: number;
  resyncSeconds: number;
  /** Valet's own namespace: the only one whose Secrets a store may name (ADR 0008); default valet-system. */
  valetNamespace?: string;
}

export class DatasetAccessController {
  readonly informers: SharedInformers;
  private readonly owns: boolean;
  private readonly opts: ControllerOptions;
  private queue: WorkQueue | undefined;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    const { clients, logger, metrics } = opts;
    this.owns = !opts.informers;
    const inf = (this.informers = opts.informers ?? new SharedInformers({ clients, logger, onRestart: (name) => metrics.informerRestarts.inc({ informer: name }) }));

    metrics.trackAccesses(() =>
      inf.accesses.list().map((a) => {
        const ref = a.spec.storeRef;
        const store = ref.kind === KINDS.ClusterDatasetStore ? inf.clusterStores.get(undefined, ref.name) : inf.stores.get(a.metadata.namespace, ref.name);
        return { provider: store?.spec.provider ?? 'unknown', ready: a.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown' };
      }),
    );
    const enqueue = (key: string) => this.queue?.add(key);
    const keyOf = (a: DatasetAccess) => `${a.metadata.namespace}/${a.metadata.name}`;
    // Folder ownership (ADR 0009): a claim that appears, goes away or moves can change the verdict
    // on overlapping claims of other namespaces on the same cluster store (found by the index). A
    // status write is no such change, so 5,000 status writes cost no scans.
    inf.onClaimChange((a) => {
      if (a.spec.storeRef.kind !== KINDS.ClusterDatasetStore) return;
      for (const o of inf.overlappingClaims(a.spec.storeRef.name, a.spec.prefix, a.metadata.namespace)) enqueue(keyOf(o));
    });
    for (const ev of ['add', 'update', 'delete'] as const) {
      inf.accesses.on(ev, (a) => enqueue(keyOf(a)));
      inf.stores.on(ev, (s) => this.storeChanged(s));
      inf.clusterStores.on(ev, (s) => this.storeChanged(s));
      inf.namespaces.on(ev, (n) => {
        const name = n.metadata?.name;
        for (const a of inf.accesses.list(name)) if (a.spec.storeRef.kind === KINDS.ClusterDatasetStore) enqueue(keyOf(a));
      });
    }
  }

  /** Calls `fn` for each namespace the cache learns of (each one at start, then each new one). */
  onNamespaceAdded(fn: (name: string) => void): void {
    this.informers.namespaces.on('add', (n) => {
      if (n.metadata?.name) fn(n.metadata.name);
    });
  }

  private storeChanged(store: AnyDatasetStore): void {
    const ref = { kind: store.kind, namespace: store.metadata.namespace, name: store.metadata.name };
    const candidates = store.kind === KINDS.ClusterDatasetStore ? this.informers.accessesOfClusterStore(store.metadata.name) : this.informers.accesses.list(store.metadata.namespace);
    for (const key of accessesUsingStore(candidates, ref)) this.queue?.add(key);
  }

  /** Starts the informers it made (every replica); shared ones are started by their owner. */
  start(): void {
    if (this.owns) this.informers.start();
  }

  waitForSync(signal?: AbortSignal): Promise<boolean> {
    return this.informers.waitForSync(signal);
  }

  /** Runs the workers until `signal` aborts (the leader only). */
  async lead(signal: AbortSignal): Promise<void> {
    const { logger, metrics, clock } = this.opts;
    const queue = new WorkQueue({ clock });
    this.queue = queue;
    const reconcile = makeAccessReconciler({
      caches: this.informers.grantCaches(),
      status: this.opts.status,
      events: this.opts.events,
      clock,
      logger,
      valetNamespace: this.opts.valetNamespace,
      observe: (outcome) => metrics.reconciles.inc({ kind: 'DatasetAccess', result: outcome }),
    });
    if (!(await this.waitForSync(signal))) return;
    logger.info('leading: caches synced, reconciling', { accesses: this.informers.accesses.list().length });
    const resyncAll = () => {
      for (const a of this.informers.accesses.list()) queue.add(`${a.metadata.namespace}/${a.metadata.name}`);
    };
    resyncAll();
    const resync = setInterval(resyncAll, this.opts.resyncSeconds * 1000);
    const depth = setInterval(() => metrics.queueDepth.set(queue.depth()), 1000);
    const running = queue.run(
      async (key) => {
        const end = metrics.reconcileSeconds.startTimer({ kind: 'DatasetAccess' });
        try {
          // A reconciler's requeue-after (ms) reaches the queue; nothing means done.
          return await reconcile(key);
        } finally {
          end();
        }
      },
      {
        concurrency: this.opts.workers,
        onError: (key, err, retries) => {
          metrics.reconcileErrors.inc({ kind: 'DatasetAccess' });
          const log = retries > 3 ? logger.warn : logger.debug;
          log('reconcile failed; retrying with backoff', { key, retries, error: err instanceof Error ? err.message : String(err) });
        },
      },
    );
    await aborted(signal);
    clearInterval(resync);
    clearInterval(depth);
    await queue.shutdown();
    await running;
    this.queue = undefined;
  }

  async stop(): Promise<void> {
    if (this.owns) await this.informers.stop();
  }
}
