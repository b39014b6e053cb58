// Writing a custom object's status: a PUT to the /status subresource carrying the object's
// resourceVersion (and uid), so that if the object changed since we read it the server answers 409
// Conflict and the caller requeues, instead of us overwriting a newer status. The body is small: a
// PUT to /status of a custom resource takes only its status, everything else is kept from the
// stored object (the API server copies the old object and sets the new status), so the body names
// the object and carries the status, not the whole cached object. The answer (the whole object) is
// drained unread: under a burst of 5,000 writes, client-node's model round trip of request and
// answer was much of what the operator allocated (docs/performance.md §5). A PUT, not a merge
// patch: the chart's RBAC grants `update` on datasetaccesses/status, nothing more. Deciding whether
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
   * PUTs `body` (JSON) to `path` (a /status subresource). Resolves without reading the object
   * back; rejects with an error whose `code` is the HTTP status (409 on a conflict).
   */
  replaceStatus(path: string, body: string): Promise<void>;
}

/** The /status subresource of `ref`. */
export function statusPath(ref: StatusRef): string {
  const e = encodeURIComponent;
  const base = `/apis/${e(ref.group)}/${e(ref.version)}`;
  return ref.namespace ? `${base}/namespaces/${e(ref.namespace)}/${e(ref.plural)}/${e(ref.name)}/status` : `${base}/${e(ref.plural)}/${e(ref.name)}/status`;
}

/**
 * Replaces the status of `current` (as read, at its resourceVersion) with `status`; `current` is
 * not mutated. Rejects on 409 when the object changed since `current` was read.
 */
export async function writeStatus(api: StatusApi, ref: StatusRef, current: ObjectLike, status: unknown): Promise<void> {
  const { resourceVersion, uid } = current.metadata ?? {};
  // Without a resourceVersion the server would write unconditionally: refuse rather than write blind.
  if (!resourceVersion) throw new Error(`status write for ${ref.plural}/${ref.name} without a resourceVersion`);
  const body = {
    apiVersion: current.apiVersion ?? `${ref.group}/${ref.version}`,
    kind: current.kind,
    metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), resourceVersion, ...(uid ? { uid } : {}) },
    status,
  };
  await api.replaceStatus(statusPath(ref), JSON.stringify(body));
}

/** The controller's status writer for a DatasetAccess (it has already decided that status changed). */
export async function writeAccessStatus(api: StatusApi, access: DatasetAccess, status: DatasetAccessStatus): Promise<void> {
  const ref = { group: GROUP, version: VERSION, plural: PLURALS.DatasetAccess, namespace: access.metadata.namespace, name: access.metadata.name };
  await writeStatus(api, ref, access, status);
}
