// One list/watch per kind, per process: the DatasetAccess, DatasetStore, ClusterDatasetStore and
// Namespace informers that the controller, the issuer's grant source and the webhook all read.
// Readiness is theirs together (synced = every one synced). An index answers "which accesses use
// this ClusterDatasetStore" without scanning every access (the controller asks it on each event).
import { KINDS, PLURALS } from '../api/v1alpha1/index.ts';
import type { ClusterDatasetStore, DatasetAccess, DatasetStore } from '../api/v1alpha1/index.ts';
import type { Logger } from '../platform/logger.ts';
import { ClaimIndex } from '../policy/index.ts';
import type { K8sClients } from './clients.ts';
import type { GrantCaches } from './grants.ts';
import { RestartableInformer, customObjectSource, namespaceSource } from './informer.ts';
import type { InformerSource, ListWatchLike } from './informer.ts';
import type { ObjectLike } from './keys.ts';

export interface NamespaceLike {
  metadata?: { name?: string; labels?: Record<string, string> };
}

export interface SharedInformersOptions {
  clients: Pick<K8sClients, 'kubeConfig' | 'core' | 'customObjects'>;
  logger?: Logger;
  /** Called with the informer's name on each restart after an error (for metrics). */
  onRestart?: (informer: string) => void;
  /** Builds each informer's list-watch; tests and benches pass an in-memory one. Default: client-node's. */
  makeListWatch?: <T extends ObjectLike>(source: InformerSource<T>, delay: (ms: number) => Promise<void>) => ListWatchLike<T>;
}

const keyOf = (a: DatasetAccess) => `${a.metadata.namespace}/${a.metadata.name}`;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what no reader here uses and what costs the most memory per cached object: managedFields
 * (server-side apply bookkeeping, a few KB each) and kubectl's last-applied copy of the object
 * (controller-runtime's TransformStripManagedFields does the same). The cache holds the object
 * the informer emits, so this changes the cached copy. Status writes (PUT to /status) only change
 * status: the server keeps the object's own metadata.
 */
export function stripForCache(obj: object): void {
  const m = (obj as { metadata?: { managedFields?: unknown; annotations?: Record<string, string> } }).metadata;
  if (!m) return;
  delete m.managedFields;
  if (m.annotations && LAST_APPLIED in m.annotations) {
    delete m.annotations[LAST_APPLIED];
    if (Object.keys(m.annotations).length === 0) delete m.annotations;
  }
}

export class SharedInformers {
  readonly accesses: RestartableInformer<DatasetAccess>;
  readonly stores: RestartableInformer<DatasetStore>;
  readonly clusterStores: RestartableInformer<ClusterDatasetStore>;
  readonly namespaces: RestartableInformer<NamespaceLike>;
  /** ClusterDatasetStore name → the accesses naming it, by key, and their folders; each access's claim. */
  private readonly byClusterStore = new Map<string, { members: Map<string, DatasetAccess>; folders: ClaimIndex }>();
  private readonly claims = new Map<string, { store: string; prefix: string }>();
  private readonly claimListeners: ((a: DatasetAccess) => void)[] = [];

  constructor(opts: SharedInformersOptions) {
    const { clients, logger } = opts;
    const lw = opts.makeListWatch ? { makeListWatch: opts.makeListWatch } : {};
    const custom = <T extends DatasetAccess | DatasetStore | ClusterDatasetStore>(plural: string) =>
      new RestartableInformer<T>({ name: plural, kubeConfig: clients.kubeConfig, ...customObjectSource<T>(clients.customObjects, { plural }), logger, onRestart: () => opts.onRestart?.(plural), ...lw });
    this.accesses = custom<DatasetAccess>(PLURALS.DatasetAccess);
    this.stores = custom<DatasetStore>(PLURALS.DatasetStore);
    this.clusterStores = custom<ClusterDatasetStore>(PLURALS.ClusterDatasetStore);
    this.namespaces = new RestartableInformer<NamespaceLike>({ name: 'namespaces', kubeConfig: clients.kubeConfig, ...namespaceSource(clients.core), logger, onRestart: () => opts.onRestart?.('namespaces'), ...lw });
    // Registered first, so every other handler sees the stripped object and the index updated.
    for (const inf of [this.accesses, this.stores, this.clusterStores, this.namespaces] as RestartableInformer<NamespaceLike>[]) {
      inf.on('add', stripForCache);
      inf.on('update', stripForCache);
    }
    this.accesses.on('add', (a) => this.index(a));
    this.accesses.on('update', (a) => this.index(a));
    this.accesses.on('delete', (a) => this.unindex(keyOf(a), a));
  }

  private index(a: DatasetAccess): void {
    const key = keyOf(a);
    const store = a.spec.storeRef.kind === KINDS.ClusterDatasetStore ? a.spec.storeRef.name : undefined;
    const before = this.claims.get(key);
    if (before && before.store === store && before.prefix === a.spec.prefix) {
      // Same claim (a status write, a label): only the object is newer.
      this.byClusterStore.get(before.store)?.members.set(key, a);
      return;
    }
    if (before) this.unindex(key, a);
    if (store === undefined) return;
    let entry = this.byClusterStore.get(store);
    if (!entry) this.byClusterStore.set(store, (entry = { members: new Map(), folders: new ClaimIndex() }));
    entry.members.set(key, a);
    entry.folders.add(key, a.spec.prefix);
    this.claims.set(key, { store, prefix: a.spec.prefix });
    this.claimChanged(a);
  }

  private unindex(key: string, a: DatasetAccess): void {
    const before = this.claims.get(key);
    if (!before) return;
    this.claims.delete(key);
    const entry = this.byClusterStore.get(before.store);
    entry?.members.delete(key);
    entry?.folders.remove(key, before.prefix);
    if (entry?.members.size === 0) this.byClusterStore.delete(before.store);
    this.claimChanged(a);
  }

  private claimChanged(a: DatasetAccess): void {
    for (const fn of this.claimListeners) fn(a);
  }

  /**
   * Calls `fn` when an access's claim on a ClusterDatasetStore folder appears, goes away, or moves
   * (another store or prefix): what can change other namespaces' verdicts (ADR 0009). A status
   * write does not call it.
   */
  onClaimChange(fn: (a: DatasetAccess) => void): void {
    this.claimListeners.push(fn);
  }

  /** The accesses (of every namespace) that name the ClusterDatasetStore `name`, from the index. */
  accessesOfClusterStore(name: string): readonly DatasetAccess[] {
    const entry = this.byClusterStore.get(name);
    return entry ? [...entry.members.values()] : [];
  }

  /** Those of them whose folder overlaps `prefix` (one inside the other), in other namespaces than `namespace`. */
  overlappingClaims(name: string, prefix: string, namespace: string | undefined): DatasetAccess[] {
    const entry = this.byClusterStore.get(name);
    if (!entry) return [];
    const out: DatasetAccess[] = [];
    for (const key of entry.folders.candidates(prefix, () => entry.members.keys())) {
      const o = entry.members.get(key);
      if (o && o.metadata.namespace !== namespace && (o.spec.prefix.startsWith(prefix) || prefix.startsWith(o.spec.prefix))) out.push(o);
    }
    return out;
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    const n = this.namespaces.get(undefined, namespace);
    return n ? (n.metadata?.labels ?? {}) : undefined;
  }

  /** The read-only views the grant source and the reconciler take. */
  grantCaches(): GrantCaches & { access(namespace: string, name: string): DatasetAccess | undefined } {
    return {
      access: (ns, name) => this.accesses.get(ns, name),
      accesses: (ns) => this.accesses.list(ns),
      overlappingClaims: (name, prefix, namespace) => this.overlappingClaims(name, prefix, namespace),
      datasetStore: (ns, name) => this.stores.get(ns, name),
      clusterStore: (name) => this.clusterStores.get(undefined, name),
      namespaceLabels: (ns) => this.namespaceLabels(ns),
    };
  }

  private all(): RestartableInformer<never>[] {
    return [this.accesses, this.stores, this.clusterStores, this.namespaces] as unknown as RestartableInformer<never>[];
  }

  start(): void {
    for (const i of this.all()) i.start();
  }

  hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    return (await Promise.all(this.all().map((i) => i.waitForSync(signal)))).every(Boolean);
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((i) => i.stop()));
  }
}
