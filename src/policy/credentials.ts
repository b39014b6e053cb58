// Where a store's long-term key may live: only in Valet's own namespace (ADR 0008). A Secret in a
// tenant's namespace can be mounted by anyone there who may create a pod, who then bypasses Valet
// with the store's key. Pure: the controller writes the verdict into the access's conditions, and
// the issuer checks it again before it reads any Secret (fail closed).
import { KINDS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore } from '../api/v1alpha1/index.ts';
import { quote } from './result.ts';

/** The field path and namespace of each Secret a store names (none for auth mode defaultChain). */
function storeSecretRefs(store: AnyDatasetStore): { field: string; namespace: string; name: string }[] {
  const spec = store.spec;
  const refs: { field: string; ref: { name: string; namespace?: string } | undefined }[] = [
    { field: 'spec.auth.secretRef', ref: spec.auth?.mode === 'secret' ? spec.auth.secretRef : undefined },
    { field: 'spec.azureBlob.auth.secretRef', ref: spec.azureBlob?.auth.secretRef },
    { field: 'spec.gcs.auth.secretRef', ref: spec.gcs?.auth.secretRef },
  ];
  return refs.flatMap(({ field, ref }) => {
    if (!ref) return [];
    const namespace = store.kind === KINDS.ClusterDatasetStore ? (ref.namespace ?? '') : (store.metadata.namespace ?? '');
    return [{ field, namespace, name: ref.name }];
  });
}

export type CredentialsPlacement = { ok: true } | { ok: false; message: string };

/**
 * Whether every Secret `store` names is in `valetNamespace`. The message says what to change and
 * names no Secret (Secret names stay out of statuses, Events and responses).
 */
export function checkCredentialsPlacement(store: AnyDatasetStore, valetNamespace: string): CredentialsPlacement {
  const outside = storeSecretRefs(store).find((r) => r.namespace !== valetNamespace);
  if (!outside) return { ok: true };
  const named = `${store.kind} ${quote(store.metadata.name)}`;
  if (store.kind === KINDS.DatasetStore) {
    return {
      ok: false,
      message:
        `${named}: ${outside.field} keeps the store's long-term key in namespace ${quote(outside.namespace)}, where anyone who can create a pod can read it. ` +
        `Move the Secret to Valet's namespace ${quote(valetNamespace)} and the store to a ClusterDatasetStore whose namespaceSelector selects this namespace`,
    };
  }
  return {
    ok: false,
    message: `${named}: ${outside.field}.namespace must be Valet's namespace ${quote(valetNamespace)}, where only the cluster admin and Valet read Secrets; move the Secret there and set ${outside.field}.namespace`,
  };
}
