// Status is written only when it changes (STYLE.md habit 10), as a PUT to the /status subresource
// carrying the object's resourceVersion: if the object changed since we read it, the server answers
// 409 Conflict and the caller requeues, instead of us overwriting a newer status.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, PLURALS, VERSION } from '../api/v1alpha1/index.ts';
import type { DatasetAccess, DatasetAccessStatus } from '../api/v1alpha1/index.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import type { ObjectLike } from './keys.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A condition as the Kubernetes API conventions define it (metav1.Condition). */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** What a reconcile decides; the bookkeeping fields are filled in by mergeConditions. */
export type DesiredCondition = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

export interface StatusRef {
  group: string;
  version: string;
  plural: string;
  /** Absent for cluster-scoped kinds. */
  namespace?: string;
  name: string;
}

export type StatusApi = Pick<CustomObjectsApi, 'replaceNamespacedCustomObjectStatus' | 'replaceClusterCustomObjectStatus'>;

/** RFC 3339 in whole seconds, the format of metav1.Time. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * The conditions to write: those desired, in the order given. A condition whose status did not
 * change keeps its lastTransitionTime; a new one or a changed one gets `now`. Each carries the
 * generation it was computed from.
 */
export function mergeConditions(old: readonly (DesiredCondition & { lastTransitionTime?: string })[] | undefined, desired: readonly DesiredCondition[], now: number, observedGeneration?: number): Condition[] {
  return desired.map((d) => {
    const prev = old?.find((c) => c.type === d.type);
    const lastTransitionTime = prev?.lastTransitionTime && prev.status === d.status ? prev.lastTransitionTime : rfc3339(now);
    const c: Condition = { type: d.type, status: d.status, reason: d.reason, message: d.message, lastTransitionTime };
    if (observedGeneration !== undefined) c.observedGeneration = observedGeneration;
    return c;
  });
}

/**
 * Whether two statuses mean the same: plain JSON equality (absent and undefined alike), except that
 * conditions are matched by type in any order and lastTransitionTime is not compared.
 */
export function statusEqual(a: unknown, b: unknown): boolean {
  return jsonEqual(normalizeStatus(a), normalizeStatus(b));
}

function normalizeStatus(s: unknown): unknown {
  if (!isRecord(s) || !Array.isArray(s.conditions)) return s;
  const conditions = (s.conditions as unknown[])
    .map((c) => (isRecord(c) ? { ...c, lastTransitionTime: undefined } : c))
    .sort((x, y) => String(isRecord(x) ? x.type : '').localeCompare(String(isRecord(y) ? y.type : '')));
  return { ...s, conditions };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!jsonEqual(a[k], b[k])) return false;
    return true;
  }
  // undefined and a missing field are the same in JSON; null is not.
  return a === undefined && b === undefined;
}

export interface WriteStatusResult<T> {
  written: boolean;
  /** The object the server returned after a write (with its new resourceVersion). */
  object?: T;
}

/**
 * Writes `desiredStatus` (the whole status; its `conditions` are merged with mergeConditions) if
 * it differs from the current one. `current` is the object as read (from the informer cache is
 * fine; it is not mutated). A 409 from the server is thrown for the caller to requeue.
 */
export async function writeStatusIfChanged<T extends ObjectLike & { status?: unknown }, S extends { conditions?: readonly DesiredCondition[] }>(
  api: StatusApi,
  ref: StatusRef,
  current: T,
  desiredStatus: S,
  opts: { clock?: Clock } = {},
): Promise<WriteStatusResult<T>> {
  const now = (opts.clock ?? systemClock).now();
  const currentStatus = isRecord(current.status) ? current.status : undefined;
  const status: Record<string, unknown> = { ...desiredStatus };
  if (desiredStatus.conditions) {
    const old = Array.isArray(currentStatus?.conditions) ? (currentStatus.conditions as Condition[]) : undefined;
    status.conditions = mergeConditions(old, desiredStatus.conditions, now, current.metadata?.generation);
  }
  if (statusEqual(currentStatus, status)) return { written: false };

  const body = { ...current, apiVersion: current.apiVersion ?? `${ref.group}/${ref.version}`, status };
  const { group, version, plural, name, namespace } = ref;
  const object = (namespace
    ? await api.replaceNamespacedCustomObjectStatus({ group, version, plural, namespace, name, body })
    : await api.replaceClusterCustomObjectStatus({ group, version, plural, name, body })) as T;
  return { written: true, object };
}

/**
 * writeStatusIfChanged for a DatasetAccess, shaped as the controller's status writer (which has
 * already decided that the status changed). Throws on 409 Conflict.
 */
export async function writeAccessStatus(api: StatusApi, access: DatasetAccess, status: DatasetAccessStatus, opts: { clock?: Clock } = {}): Promise<void> {
  const ref = { group: GROUP, version: VERSION, plural: PLURALS.DatasetAccess, namespace: access.metadata.namespace, name: access.metadata.name };
  await writeStatusIfChanged(api, ref, access, status, opts);
}
