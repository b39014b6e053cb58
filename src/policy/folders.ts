// Folder ownership on cluster stores (ADR 0009). A ClusterDatasetStore is shared by the namespaces
// it selects, so without a rule any of them could grant itself another team's folder. Two tools:
// - `{namespace}` as a whole segment of an allowed prefix (`teams/{namespace}/`) gives each
//   namespace a folder of its own, expanded to the access's namespace before the prefix check;
// - outside the store's `sharedPrefixes`, a folder belongs to one namespace at a time: an access
//   whose prefix overlaps (one inside the other) a valid access of another namespace on the same
//   store is refused when that other access is older (creation time, then namespace/name), so the
//   first team to claim a folder keeps it, deterministically, until its accesses are gone.
// Pure: the controller and the issuer pass the claims they see in their caches.
import { KINDS } from '../api/v1alpha1/index.ts';
import type { ClusterDatasetStoreSpec, DatasetAccess } from '../api/v1alpha1/index.ts';
import { findAllowedPrefix } from './prefix.ts';

export const NAMESPACE_PLACEHOLDER = '{namespace}';

/** The store's allowed prefixes as they apply to `namespace`. */
export function expandAllowedPrefixes(allowed: readonly string[], namespace: string): string[] {
  return allowed.map((p) =>
    p
      .split('/')
      .map((segment) => (segment === NAMESPACE_PLACEHOLDER ? namespace : segment))
      .join('/'),
  );
}

/** One DatasetAccess's claim on a folder of a cluster store. */
export interface FolderClaim {
  namespace: string;
  name: string;
  prefix: string;
  /** RFC 3339; compared as text (the API server writes whole seconds, UTC). */
  creationTimestamp?: string;
}

const overlaps = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);
const older = (a: FolderClaim, b: FolderClaim) => {
  const ta = a.creationTimestamp ?? '';
  const tb = b.creationTimestamp ?? '';
  return ta !== tb ? ta < tb : `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}`;
};

/**
 * Whether `claim`'s folder already belongs to another namespace on a cluster store with `spec`:
 * some valid, older claim of another namespace overlaps it, and not both lie inside sharedPrefixes.
 */
export function folderOwnedElsewhere(claim: FolderClaim, claims: readonly FolderClaim[], spec: Pick<ClusterDatasetStoreSpec, 'allowedPrefixes' | 'sharedPrefixes'>): boolean {
  const shared = (p: string) => (spec.sharedPrefixes ?? []).some((s) => p.startsWith(s));
  return claims.some(
    (c) =>
      c.namespace !== claim.namespace &&
      overlaps(c.prefix, claim.prefix) &&
      !(shared(c.prefix) && shared(claim.prefix)) &&
      older(c, claim) &&
      findAllowedPrefix(c.prefix, expandAllowedPrefixes(spec.allowedPrefixes, c.namespace)) !== undefined,
  );
}

/** The claims of `accesses` (any namespaces) on the ClusterDatasetStore named `storeName`. */
export function claimsOnClusterStore(accesses: readonly DatasetAccess[], storeName: string): FolderClaim[] {
  return accesses
    .filter((a) => a.spec.storeRef.kind === KINDS.ClusterDatasetStore && a.spec.storeRef.name === storeName)
    .map((a) => ({ namespace: a.metadata.namespace ?? '', name: a.metadata.name, prefix: a.spec.prefix, ...(a.metadata.creationTimestamp ? { creationTimestamp: a.metadata.creationTimestamp } : {}) }));
}

/**
 * By a scan of `accesses`: those on the ClusterDatasetStore `storeName`, in other namespaces than
 * `namespace`, whose prefix overlaps `prefix`; the only claims folderOwnedElsewhere can count
 * against an access of `namespace` at `prefix`. SharedInformers.overlappingClaims answers the same
 * from its ClaimIndex; this is for callers without one (tests, benches).
 */
export function overlappingClaimsIn(accesses: readonly DatasetAccess[], storeName: string, prefix: string, namespace: string | undefined): DatasetAccess[] {
  return accesses.filter(
    (a) => a.spec.storeRef.kind === KINDS.ClusterDatasetStore && a.spec.storeRef.name === storeName && a.metadata.namespace !== namespace && overlaps(a.spec.prefix, prefix),
  );
}
