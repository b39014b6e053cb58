// Writing a custom object's status: a PUT to the /status subresource carrying the object's
// resourceVersion, so that if the object changed since we read it the server answers 409 Conflict
// and the caller requeues, instead of us overwriting a newer status. Deciding whether status
// changed (and keeping condition transition times) is the controller's, in src/policy/conditions.ts.
import type { CustomObjectsApi } from '@kubernetes/client-node';
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

export type StatusApi = Pick<CustomObjectsApi, 'replaceNamespacedCustomObjectStatus' | 'replaceClusterCustomObjectStatus'>;

/** PUTs `current` with `status` to its /status endpoint; `current` is not mutated. Throws on 409. */
export async function writeStatus<T extends ObjectLike>(api: StatusApi, ref: StatusRef, current: T, status: unknown): Promise<T> {
  const body = { ...current, apiVersion: current.apiVersion ?? `${ref.group}/${ref.version}`, status };
  const { group, version, plural, name, namespace } = ref;
  return (namespace
    ? await api.replaceNamespacedCustomObjectStatus({ group, version, plural, namespace, name, body })
    : await api.replaceClusterCustomObjectStatus({ group, version, plural, name, body })) as T;
}

/** The controller's status writer for a DatasetAccess (it has already decided that status changed). */
export async function writeAccessStatus(api: StatusApi, access: DatasetAccess, status: DatasetAccessStatus): Promise<void> {
  const ref = { group: GROUP, version: VERSION, plural: PLURALS.DatasetAccess, namespace: access.metadata.namespace, name: access.metadata.name };
  await writeStatus(api, ref, access, status);
}
