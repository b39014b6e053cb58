// Writing a custom object's status: a JSON merge patch of the /status subresource that carries the
// object's resourceVersion. The server takes a resourceVersion in a patch as a precondition, so if
// the object changed since we read it the answer is 409 Conflict and the caller requeues, instead
// of us overwriting a newer status (as a PUT of the whole object would guard it). The patch holds
// only what changed (the status fields, null for those gone) and the answer is not read back: under
// a burst of 5,000 writes, client-node's model round trip of the whole object (request and
// response) was most of what the operator allocated (docs/performance.md §5). Deciding whether
// status changed (and keeping condition transition times) is the controller's, in
// src/policy/conditions.ts.
import { GROUP, PLURALS, VERSION } from '../api/v1alpha1/index.ts';
import type { DatasetAccess, DatasetAccessStatus } from '../api/v1alpha1/index.ts';
import type { ObjectLike } from './keys.ts';

export interface StatusRef {
  group: string;
  version: string;
  plural: string;
  /** Absent for cluster-scoped kinds. */
  namespace?: string;
  name: string;
}

/** What a status write needs of the API client (src/k8s/clients.ts's customObjects is one). */
export interface StatusApi {
  /**
   * Sends `body`, a JSON merge patch, to `path` (a /status subresource). Resolves without reading
   * the object back; rejects with an error whose `code` is the HTTP status (409 on a conflict).
   */
  mergePatchStatus(path: string, body: string): Promise<void>;
}

/** The /status subresource of `ref`. */
export function statusPath(ref: StatusRef): string {
  const e = encodeURIComponent;
  const base = `/apis/${e(ref.group)}/${e(ref.version)}`;
  return ref.namespace ? `${base}/namespaces/${e(ref.namespace)}/${e(ref.plural)}/${e(ref.name)}/status` : `${base}/${e(ref.plural)}/${e(ref.name)}/status`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The RFC 7386 merge patch that turns `before` into `after`: changed and new keys with their new
 * value, removed keys as null, nested objects patched key by key, arrays and scalars whole.
 * Undefined when nothing changed. (A null in `after` reads as "absent", as merge patch has it.)
 */
export function mergePatch(before: unknown, after: unknown): unknown {
  if (!isPlainObject(before) || !isPlainObject(after)) return JSON.stringify(before) === JSON.stringify(after) ? undefined : (after ?? null);
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(before)) if (before[key] !== undefined && (after[key] === undefined || after[key] === null)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined || value === null) continue;
    const p = before[key] === undefined ? value : mergePatch(before[key], value);
    if (p !== undefined) patch[key] = p;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/**
 * Replaces the status of `current` (as read, at its resourceVersion) with `status`; `current` is
 * not mutated. Rejects on 409 when the object changed since `current` was read.
 */
export async function writeStatus<T extends ObjectLike & { status?: unknown }>(api: StatusApi, ref: StatusRef, current: T, status: unknown): Promise<void> {
  const resourceVersion = current.metadata?.resourceVersion;
  // Without a resourceVersion there would be no guard: refuse rather than write blind.
  if (!resourceVersion) throw new Error(`status write for ${ref.plural}/${ref.name} without a resourceVersion`);
  const patch = { metadata: { resourceVersion }, status: mergePatch(current.status ?? {}, status ?? {}) ?? {} };
  await api.mergePatchStatus(statusPath(ref), JSON.stringify(patch));
}

/** The controller's status writer for a DatasetAccess (it has already decided that status changed). */
export async function writeAccessStatus(api: StatusApi, access: DatasetAccess, status: DatasetAccessStatus): Promise<void> {
  const ref = { group: GROUP, version: VERSION, plural: PLURALS.DatasetAccess, namespace: access.metadata.namespace, name: access.metadata.name };
  await writeStatus(api, ref, access, status);
}
