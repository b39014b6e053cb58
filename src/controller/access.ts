// Reconciling one DatasetAccess: read the current state from the caches, decide with the pure
// validateAccess, write status only when it changed, and emit an Event when Ready flips.
// Level-based (STYLE.md habit 1): the same function runs for every kind of event and for resyncs.
import { PROVIDER_REGISTRY } from '../providers/index.ts';
import { CONDITION_TYPES, KINDS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, DatasetAccess, DatasetAccessStatus } from '../api/v1alpha1/index.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { rfc3339 } from '../platform/time.ts';
import { claimsOnClusterStore, conditionsEqual, mergeConditions, validateAccess } from '../policy/index.ts';

/** Read-only views of the informer caches. */
export interface AccessCaches {
  access(namespace: string, name: string): DatasetAccess | undefined;
  datasetStore(namespace: string, name: string): AnyDatasetStore | undefined;
  clusterStore(name: string): AnyDatasetStore | undefined;
  /** Labels of a namespace, or undefined when it is not (yet) known. */
  namespaceLabels(namespace: string): Record<string, string> | undefined;
  /**
   * The accesses on ClusterDatasetStore `name`, in other namespaces than `namespace`, whose folder
   * overlaps `prefix`: the only claims that can refuse it (ADR 0009; SharedInformers' ClaimIndex).
   */
  overlappingClaims(name: string, prefix: string, namespace: string | undefined): readonly DatasetAccess[];
}

export interface AccessStatusWriter {
  /** Replaces the status of `access` (at its resourceVersion). Throws on conflict. */
  write(access: DatasetAccess, status: DatasetAccessStatus): Promise<void>;
}

export interface EventRecorder {
  record(obj: DatasetAccess, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export interface AccessReconcilerDeps {
  caches: AccessCaches;
  status: AccessStatusWriter;
  events: EventRecorder;
  clock: Clock;
  logger: Logger;
  /** Valet's own namespace: the only one whose Secrets a store may name (ADR 0008); default valet-system. */
  valetNamespace?: string;
  /** Called once per reconcile with its outcome, for metrics. */
  observe?: (outcome: 'unchanged' | 'written' | 'gone') => void;
}

export function splitAccessKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  if (slash <= 0) throw new Error(`DatasetAccess key must be namespace/name, got '${key}'`);
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function resolveStore(caches: AccessCaches, access: DatasetAccess): AnyDatasetStore | undefined {
  const ref = access.spec.storeRef;
  return ref.kind === KINDS.ClusterDatasetStore ? caches.clusterStore(ref.name) : caches.datasetStore(access.metadata.namespace ?? '', ref.name);
}

/** The status `access` should have, keeping transition times of conditions that did not change. */
export function desiredStatus(
  access: DatasetAccess,
  store: AnyDatasetStore | undefined,
  labels: Record<string, string> | undefined,
  now: string,
  valetNamespace?: string,
  /** Accesses that may claim the same folders (overlappingClaims; any superset gives the same answer). */
  candidates: readonly DatasetAccess[] = [],
): DatasetAccessStatus {
  const claims = store?.kind === KINDS.ClusterDatasetStore ? claimsOnClusterStore(candidates, store.metadata.name) : [];
  const v = validateAccess(access, store, labels, { providers: PROVIDER_REGISTRY, valetNamespace, claims });
  const generation = access.metadata.generation ?? 0;
  const status: DatasetAccessStatus = {
    observedGeneration: generation,
    conditions: mergeConditions(access.status?.conditions, v.conditions, generation, now),
  };
  if (v.store !== undefined) status.store = v.store;
  if (v.policy !== undefined) status.sessionPolicy = v.policy;
  if (v.packedSize !== undefined) status.packedPolicySize = v.packedSize;
  return status;
}

export function statusEqual(a: DatasetAccessStatus | undefined, b: DatasetAccessStatus): boolean {
  return (
    a !== undefined &&
    a.observedGeneration === b.observedGeneration &&
    a.store === b.store &&
    a.sessionPolicy === b.sessionPolicy &&
    a.packedPolicySize === b.packedPolicySize &&
    conditionsEqual(a.conditions, b.conditions)
  );
}

const ready = (s: DatasetAccessStatus | undefined) => s?.conditions?.find((c) => c.type === CONDITION_TYPES.Ready);

/** A reconcile of one access key; it may return a delay (ms) after which to be called again. */
export function makeAccessReconciler(deps: AccessReconcilerDeps): (key: string) => Promise<number | void> {
  return async (key) => {
    const { namespace, name } = splitAccessKey(key);
    const access = deps.caches.access(namespace, name);
    if (!access) {
      deps.observe?.('gone');
      return;
    }
    const store = resolveStore(deps.caches, access);
    const labels = deps.caches.namespaceLabels(namespace);
    // Only claims of other namespaces on overlapping folders can refuse this one (ADR 0009): from the
    // index when there is one, not every access of the store per reconcile.
    const onClusterStore =
      store?.kind === KINDS.ClusterDatasetStore
        ? deps.caches.overlappingClaims(store.metadata.name, access.spec.prefix, access.metadata.namespace)
        : undefined;
    const next = desiredStatus(access, store, labels, rfc3339(deps.clock.now()), deps.valetNamespace, onClusterStore ?? []);
    if (statusEqual(access.status, next)) {
      deps.observe?.('unchanged');
      return;
    }
    await deps.status.write(access, next);
    deps.observe?.('written');
    const before = ready(access.status);
    const after = ready(next);
    if (after && (before?.status !== after.status || before.reason !== after.reason)) {
      const log = deps.logger.child({ namespace, datasetAccess: name });
      if (after.status === 'True') {
        log.info('DatasetAccess is Ready', { store: next.store });
        deps.events.record(access, 'Normal', 'Ready', after.message);
      } else {
        log.info('DatasetAccess is not Ready', { reason: after.reason, message: after.message });
        deps.events.record(access, 'Warning', after.reason, after.message);
      }
    }
  };
}

/** The keys of accesses that depend on a store (so a store change re-reconciles them). */
export function accessesUsingStore(all: readonly DatasetAccess[], store: { kind: string; namespace?: string; name: string }): string[] {
  return all
    .filter(
      (a) =>
        a.spec.storeRef.kind === store.kind &&
        a.spec.storeRef.name === store.name &&
        (store.kind === KINDS.ClusterDatasetStore || a.metadata.namespace === store.namespace),
    )
    .map((a) => `${a.metadata.namespace}/${a.metadata.name}`);
}
