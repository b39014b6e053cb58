// Which DatasetAccess objects grant a pod that is being created, and what the pod's SDKs need to
// know about their stores (region, endpoint). Pure over a lookup: the operator passes its informer
// caches (src/k8s/grants.ts InformerGrantSource fits by shape), tests pass arrays.
import { CONDITION_TYPES } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import { subjectsMatch } from '../policy/index.ts';
import type { PodIdentity } from '../policy/index.ts';

/** Read-only views of the DatasetAccess and store caches. */
export interface AccessLookup {
  accesses(namespace: string): readonly DatasetAccess[];
  store(access: DatasetAccess): AnyDatasetStore | undefined;
}

/** One DatasetAccess that grants the pod, with what the app containers need from its store. */
export interface PodGrant {
  /** The DatasetAccess's name (in the pod's namespace). */
  access: string;
  /** The store's region; absent when the store is not (yet) known. */
  region?: string;
  /** The S3 endpoint of an S3-compatible store. */
  endpoint?: string;
  /** Whether the access's Ready condition is True (the issuer mints only for ready ones). */
  ready: boolean;
}

export interface GrantMatch {
  /** Granting accesses, by name. */
  grants: PodGrant[];
  /** Set when the pod will wait for keys: no access grants it, or none of those that do is Ready. */
  note?: string;
}

const isReady = (a: DatasetAccess) => a.status?.conditions?.some((c) => c.type === CONDITION_TYPES.Ready && c.status === 'True') ?? false;

/** The accesses of the pod's namespace that grant it (service account, pod selector), by name. */
export function matchGrants(pod: PodIdentity, lookup: AccessLookup): GrantMatch {
  const candidates = [...lookup.accesses(pod.namespace)].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const grants: PodGrant[] = [];
  for (const access of candidates) {
    if (!subjectsMatch(access, pod).ok) continue;
    const store = lookup.store(access);
    grants.push({
      access: access.metadata.name,
      ...(store ? { region: store.spec.region } : {}),
      ...(store?.spec.endpoint ? { endpoint: store.spec.endpoint } : {}),
      ready: isReady(access),
    });
  }
  const who = `service account ${JSON.stringify(pod.serviceAccountName)} in namespace ${JSON.stringify(pod.namespace)}`;
  if (grants.length === 0) {
    const seen = candidates.length === 0 ? 'there is no DatasetAccess in the namespace' : `none of the ${candidates.length} DatasetAccess objects in the namespace lists it (or its pod selector does not match)`;
    return { grants, note: `no DatasetAccess grants ${who} yet: ${seen}; the sidecar waits for one and the app starts once a key is ready` };
  }
  if (!grants.some((g) => g.ready)) {
    const names = grants.map((g) => g.access).join(', ');
    return { grants, note: `DatasetAccess ${names} grants ${who} but is not Ready yet (see its status conditions); the sidecar waits for a key` };
  }
  return { grants };
}
