// The DatasetAccess controller: informers on the three kinds and on Namespaces feed a keyed work
// queue; store and namespace changes re-queue the accesses that depend on them; a periodic resync
// re-queues everything (cheap: status is only written when it changes). Only the leader runs the
// workers; every replica keeps its caches warm so a successor starts at once.
import { KINDS, PLURALS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, ClusterDatasetStore, DatasetAccess, DatasetStore } from '../api/v1alpha1/index.ts';
import { aborted } from '../platform/abort.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { RestartableInformer, customObjectSource, namespaceSource } from '../k8s/informer.ts';
import type { K8sClients } from '../k8s/clients.ts';
import { WorkQueue } from '../k8s/workqueue.ts';
import type { ControllerMetrics } from '../metrics/controller.ts';
import { accessesUsingStore, makeAccessReconciler, type AccessStatusWriter, type EventRecorder } from './access.ts';

export interface ControllerOptions {
  clients: K8sClients;
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

interface NamespaceLike {
  metadata?: { name?: string; labels?: Record<string, string> };
}

export class DatasetAccessController {
  private readonly accesses: RestartableInformer<DatasetAccess>;
  private readonly stores: RestartableInformer<DatasetStore>;
  private readonly clusterStores: RestartableInformer<ClusterDatasetStore>;
  private readonly namespaces: RestartableInformer<NamespaceLike>;
  private readonly opts: ControllerOptions;
  private queue: WorkQueue | undefined;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    const { clients, logger, metrics } = opts;
    const onRestart = (name: string) => () => metrics.informerRestarts.inc({ informer: name });
    const custom = <T extends DatasetAccess | DatasetStore | ClusterDatasetStore>(plural: string) =>
      new RestartableInformer<T>({ name: plural, kubeConfig: clients.kubeConfig, ...customObjectSource<T>(clients.customObjects, { plural }), logger, onRestart: onRestart(plural) });
    this.accesses = custom<DatasetAccess>(PLURALS.DatasetAccess);
    this.stores = custom<DatasetStore>(PLURALS.DatasetStore);
    this.clusterStores = custom<ClusterDatasetStore>(PLURALS.ClusterDatasetStore);
    this.namespaces = new RestartableInformer<NamespaceLike>({ name: 'namespaces', kubeConfig: clients.kubeConfig, ...namespaceSource(clients.core), logger, onRestart: onRestart('namespaces') });

    metrics.trackAccesses(() =>
      this.accesses.list().map((a) => {
        const ref = a.spec.storeRef;
        const store = ref.kind === KINDS.ClusterDatasetStore ? this.clusterStores.get(undefined, ref.name) : this.stores.get(a.metadata.namespace, ref.name);
        return { provider: store?.spec.provider ?? 'unknown', ready: a.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown' };
      }),
    );
    const enqueue = (key: string) => this.queue?.add(key);
    const keyOf = (a: DatasetAccess) => `${a.metadata.namespace}/${a.metadata.name}`;
    for (const ev of ['add', 'update', 'delete'] as const) {
      this.accesses.on(ev, (a) => {
        enqueue(keyOf(a));
        // Folder ownership (ADR 0009): a claim that appears or goes away can change the verdict on
        // overlapping claims of other namespaces on the same cluster store.
        if (a.spec.storeRef.kind === KINDS.ClusterDatasetStore) {
          for (const o of this.accesses.list()) {
            if (o.metadata.namespace !== a.metadata.namespace && o.spec.storeRef.kind === KINDS.ClusterDatasetStore && o.spec.storeRef.name === a.spec.storeRef.name && (o.spec.prefix.startsWith(a.spec.prefix) || a.spec.prefix.startsWith(o.spec.prefix))) enqueue(keyOf(o));
          }
        }
      });
      this.stores.on(ev, (s) => this.storeChanged(s));
      this.clusterStores.on(ev, (s) => this.storeChanged(s));
      this.namespaces.on(ev, (n) => {
        const name = n.metadata?.name;
        for (const a of this.accesses.list(name)) if (a.spec.storeRef.kind === KINDS.ClusterDatasetStore) enqueue(keyOf(a));
      });
    }
  }

  /** Calls `fn` for each namespace the cache learns of (each one at start, then each new one). */
  onNamespaceAdded(fn: (name: string) => void): void {
    this.namespaces.on('add', (n) => {
      if (n.metadata?.name) fn(n.metadata.name);
    });
  }

  private storeChanged(store: AnyDatasetStore): void {
    const ref = { kind: store.kind, namespace: store.metadata.namespace, name: store.metadata.name };
    for (const key of accessesUsingStore(this.accesses.list(), ref)) this.queue?.add(key);
  }

  /** Starts the informers (every replica). */
  start(): void {
    for (const inf of [this.accesses, this.stores, this.clusterStores, this.namespaces]) inf.start();
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const all = await Promise.all([this.accesses, this.stores, this.clusterStores, this.namespaces].map((i) => i.waitForSync(signal)));
    return all.every(Boolean);
  }

  /** Runs the workers until `signal` aborts (the leader only). */
  async lead(signal: AbortSignal): Promise<void> {
    const { logger, metrics, clock } = this.opts;
    const queue = new WorkQueue({ clock });
    this.queue = queue;
    const reconcile = makeAccessReconciler({
      caches: {
        access: (ns, name) => this.accesses.get(ns, name),
        datasetStore: (ns, name) => this.stores.get(ns, name),
        clusterStore: (name) => this.clusterStores.get(undefined, name),
        namespaceLabels: (ns) => {
          const n = this.namespaces.get(undefined, ns);
          return n ? (n.metadata?.labels ?? {}) : undefined;
        },
        allAccesses: () => this.accesses.list(),
      },
      status: this.opts.status,
      events: this.opts.events,
      clock,
      logger,
      valetNamespace: this.opts.valetNamespace,
      observe: (outcome) => metrics.reconciles.inc({ kind: 'DatasetAccess', result: outcome }),
    });
    if (!(await this.waitForSync(signal))) return;
    logger.info('leading: caches synced, reconciling', { accesses: this.accesses.list().length });
    const resyncAll = () => {
      for (const a of this.accesses.list()) queue.add(`${a.metadata.namespace}/${a.metadata.name}`);
    };
    resyncAll();
    const resync = setInterval(resyncAll, this.opts.resyncSeconds * 1000);
    const depth = setInterval(() => metrics.queueDepth.set(queue.depth()), 1000);
    const running = queue.run(
      async (key) => {
        const end = metrics.reconcileSeconds.startTimer({ kind: 'DatasetAccess' });
        try {
          await reconcile(key);
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
    await Promise.all([this.accesses, this.stores, this.clusterStores, this.namespaces].map((i) => i.stop()));
  }
}
