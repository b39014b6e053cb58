// Where a store's long-term key may live: only in Valet's own namespace (ADR 0008). A Secret in a
// tenant's namespace can be mounted by anyone there who may create a pod, who then bypasses Valet
// with the store's key. Pure: the controller writes the verdict into the access's conditions, and
// the issuer checks it again before it reads any Secret (fail closed).
import { KINDS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore } from '../api/v1alpha1/index.ts';
import type { ProviderRegistry } from './provider.ts';
import { quote } from './result.ts';

/** The namespace of the Secret `store` reads (its provider says which), if it reads one. */
function storeSecretNamespace(store: AnyDatasetStore, providers: ProviderRegistry): { field: string; namespace: string } | undefined {
  const use = providers[store.spec.provider]?.secret(store);
  if (!use || use === 'ambient') return undefined;
  return { field: use.field, namespace: store.kind === KINDS.ClusterDatasetStore ? (use.namespace ?? '') : (store.metadata.namespace ?? '') };
}

export type CredentialsPlacement = { ok: true } | { ok: false; message: string };

/**
 * Whether every Secret `store` names is in `valetNamespace`. The message says what to change and
 * names no Secret (Secret names stay out of statuses, Events and responses).
 */
export function checkCredentialsPlacement(store: AnyDatasetStore, valetNamespace: string, providers: ProviderRegistry): CredentialsPlacement {
  const outside = storeSecretNamespace(store, providers);
  if (!outside || outside.namespace === valetNamespace) return { ok: true };
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
