// validateAccess: everything the controller decides about one DatasetAccess, as data. The
// controller fetches the access, its store and the namespace's labels, calls this, and writes the
// conditions (plus the policy, when Ready) to status.
import { CONDITION_TYPES, DEFAULT_VALET_NAMESPACE, KINDS, LIMITS, REASONS } from '../api/v1alpha1/index.ts';
import { checkCredentialsPlacement } from './credentials.ts';
import { expandAllowedPrefixes, folderOwnedElsewhere } from './folders.ts';
import type { FolderClaim } from './folders.ts';
import type { AnyDatasetStore, ConditionStatus, ConditionType, DatasetAccess, Reason } from '../api/v1alpha1/index.ts';
import { checkPrefix, findAllowedPrefix } from './prefix.ts';
import { quote, quoteList } from './result.ts';
import { matchLabelSelector } from './selector.ts';
import { renderGrant } from './grant.ts';
import type { ProviderRegistry } from './provider.ts';

/** A condition without its bookkeeping (time, generation): see mergeConditions. */
export interface ConditionResult {
  type: ConditionType;
  status: ConditionStatus;
  reason: Reason;
  message: string;
}

export interface AccessValidation {
  /** True iff every condition is True. */
  ready: boolean;
  /** In this order: Ready, StoreResolved, PrefixAllowed, VerbsAllowed, DurationAllowed, PolicyRendered. */
  conditions: ConditionResult[];
  /** The resolved store, "Kind/name"; set once StoreResolved is True. */
  store?: string;
  /** The compact JSON grant (s3: the session policy; azureBlob, gcs: the signing scope); set only when ready (fail closed). */
  policy?: string;
  /** The rendered policy's length, set whenever it rendered (also when too large). */
  packedSize?: number;
}

const T = CONDITION_TYPES;
const R = REASONS;
const ok = (type: ConditionType, message: string): ConditionResult => ({ type, status: 'True', reason: R.Valid, message });
const no = (type: ConditionType, reason: Reason, message: string): ConditionResult => ({ type, status: 'False', reason, message });
const unknown = (type: ConditionType): ConditionResult => ({
  type,
  status: 'Unknown',
  reason: R.StoreNotResolved,
  message: 'not evaluated until spec.storeRef resolves',
});

export interface ValidateOptions {
  /** The storage providers (src/providers' PROVIDER_REGISTRY): what each store's grant becomes. */
  providers: ProviderRegistry;
  /** Valet's own namespace, the only one whose Secrets a store may name (ADR 0008). Default valet-system. */
  valetNamespace?: string;
  /** For a ClusterDatasetStore: the DatasetAccess claims on it, of every namespace (ADR 0009). */
  claims?: readonly FolderClaim[];
}

function resolveStore(access: DatasetAccess, store: AnyDatasetStore | undefined, namespaceLabels: Readonly<Record<string, string>> | undefined, valetNamespace: string, providers: ProviderRegistry): ConditionResult {
  const found = resolveStoreRef(access, store, namespaceLabels);
  if (found.status !== 'True' || !store) return found;
  const placement = checkCredentialsPlacement(store, valetNamespace, providers);
  return placement.ok ? found : no(T.StoreResolved, R.CredentialsOutsideValetNamespace, `spec.storeRef: ${placement.message}`);
}

function resolveStoreRef(access: DatasetAccess, store: AnyDatasetStore | undefined, namespaceLabels: Readonly<Record<string, string>> | undefined): ConditionResult {
  const ref = access.spec.storeRef;
  const namespace = access.metadata.namespace ?? '';
  const named = `${ref.kind} ${quote(ref.name)}`;
  if (!store || store.kind !== ref.kind || store.metadata.name !== ref.name) {
    const where = ref.kind === KINDS.DatasetStore ? ` in namespace ${quote(namespace)}` : '';
    return no(T.StoreResolved, R.StoreNotFound, `spec.storeRef: ${named} not found${where}`);
  }
  if (store.kind === KINDS.DatasetStore) {
    if (store.metadata.namespace !== namespace) {
      return no(
        T.StoreResolved,
        R.StoreInOtherNamespace,
        `spec.storeRef: ${named} is in namespace ${quote(store.metadata.namespace ?? '')}; a DatasetAccess may use only a DatasetStore in its own namespace ${quote(namespace)}, or a ClusterDatasetStore that selects it`,
      );
    }
    return ok(T.StoreResolved, `spec.storeRef: using ${named}`);
  }
  // A cluster store with no selector, or a namespace we could not read, selects nothing.
  const selector = store.spec.namespaceSelector;
  if (!selector || !namespaceLabels || !matchLabelSelector(selector, namespaceLabels)) {
    return no(T.StoreResolved, R.NamespaceNotSelected, `spec.storeRef: namespace ${quote(namespace)} is not selected by the spec.namespaceSelector of ${named}`);
  }
  return ok(T.StoreResolved, `spec.storeRef: using ${named}`);
}

/**
 * Validates `access` against `store` (undefined when not found) for a namespace with
 * `namespaceLabels` (undefined when the Namespace could not be read). Every check runs, so status
 * shows every problem at once; Ready carries the first failure's reason and message.
 */
export function validateAccess(
  access: DatasetAccess,
  store: AnyDatasetStore | undefined,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  opts: ValidateOptions,
): AccessValidation {
  const spec = access.spec;
  const storeCondition = resolveStore(access, store, namespaceLabels, opts.valetNamespace ?? DEFAULT_VALET_NAMESPACE, opts.providers);
  const resolved = storeCondition.status === 'True' && store !== undefined ? store : undefined;

  // Prefix: a valid folder, inside one of the store's allowed folders.
  const prefixCheck = checkPrefix(spec.prefix);
  let prefixCondition: ConditionResult;
  if (!prefixCheck.ok) prefixCondition = no(T.PrefixAllowed, R.PrefixInvalid, prefixCheck.message);
  else if (!resolved) prefixCondition = unknown(T.PrefixAllowed);
  else {
    const cluster = resolved.kind === KINDS.ClusterDatasetStore ? resolved : undefined;
    const namespace = access.metadata.namespace ?? '';
    const allowed = cluster ? expandAllowedPrefixes(cluster.spec.allowedPrefixes, namespace) : resolved.spec.allowedPrefixes;
    const within = findAllowedPrefix(spec.prefix, allowed);
    const claim = { namespace, name: access.metadata.name, prefix: spec.prefix, ...(access.metadata.creationTimestamp ? { creationTimestamp: access.metadata.creationTimestamp } : {}) };
    prefixCondition = !within
      ? no(T.PrefixAllowed, R.PrefixNotAllowed, `spec.prefix ${quote(spec.prefix)} is not inside any of the store's allowedPrefixes ${quoteList(allowed)}`)
      : cluster && folderOwnedElsewhere(claim, opts.claims ?? [], cluster.spec)
        ? no(
            T.PrefixAllowed,
            R.FolderClaimedByOtherNamespace,
            `spec.prefix ${quote(spec.prefix)} overlaps a folder that another namespace already uses on ${cluster.kind} ${quote(cluster.metadata.name)}; ask the store's admin for a folder of your own ({namespace} in allowedPrefixes) or to list it in sharedPrefixes`,
          )
        : ok(T.PrefixAllowed, `spec.prefix ${quote(spec.prefix)} is inside the store's allowed prefix ${quote(within)}`);
  }

  // Verbs: a subset of the store's allowed verbs.
  let verbsCondition: ConditionResult;
  if (!resolved) verbsCondition = unknown(T.VerbsAllowed);
  else {
    const allowed = new Set<string>(resolved.spec.allowedVerbs);
    const refused = spec.verbs.filter((v) => !allowed.has(v));
    verbsCondition =
      refused.length === 0
        ? ok(T.VerbsAllowed, `spec.verbs [${spec.verbs.join(', ')}] are allowed by the store`)
        : no(T.VerbsAllowed, R.VerbNotAllowed, `spec.verbs ${quoteList(refused)} not in the store's allowedVerbs ${quoteList(resolved.spec.allowedVerbs)}`);
  }

  // Durations: the session within the store's maximum, presigned URLs within the session.
  const session = spec.sessionDurationSeconds ?? LIMITS.defaultSessionDurationSeconds;
  const presignMax = spec.presign?.maxExpirySeconds;
  let durationCondition: ConditionResult;
  if (!Number.isInteger(session) || session < LIMITS.minSessionDurationSeconds || session > LIMITS.maxSessionDurationSeconds) {
    durationCondition = no(T.DurationAllowed, R.DurationInvalid, `spec.sessionDurationSeconds ${session} must be an integer from ${LIMITS.minSessionDurationSeconds} to ${LIMITS.maxSessionDurationSeconds}`);
  } else if (presignMax !== undefined && presignMax > session) {
    durationCondition = no(T.DurationAllowed, R.PresignExpiryTooLong, `spec.presign.maxExpirySeconds ${presignMax} exceeds spec.sessionDurationSeconds ${session}`);
  } else if (!resolved) durationCondition = unknown(T.DurationAllowed);
  else if (session > resolved.spec.maxSessionDurationSeconds) {
    durationCondition = no(T.DurationAllowed, R.DurationTooLong, `spec.sessionDurationSeconds ${session} exceeds the store's maxSessionDurationSeconds ${resolved.spec.maxSessionDurationSeconds}`);
  } else durationCondition = ok(T.DurationAllowed, `spec.sessionDurationSeconds ${session} is within the store's maximum ${resolved.spec.maxSessionDurationSeconds}`);

  // Policy: rendered and within STS's limit.
  let policyCondition: ConditionResult;
  let policy: string | undefined;
  let packedSize: number | undefined;
  if (!resolved) policyCondition = unknown(T.PolicyRendered);
  else {
    const rendered = renderGrant(resolved, access, opts.providers);
    if (rendered.ok) {
      policy = rendered.policy;
      packedSize = rendered.packedSize;
      policyCondition = ok(T.PolicyRendered, opts.providers[resolved.spec.provider].describe(rendered.packedSize));
    } else if (rendered.reason === 'PolicyTooLarge') {
      packedSize = rendered.packedSize;
      policyCondition = no(T.PolicyRendered, R.PolicyTooLarge, rendered.message);
    } else {
      policyCondition = no(T.PolicyRendered, rendered.reason === 'PrefixInvalid' ? R.PrefixInvalid : R.PolicyInvalid, rendered.message);
    }
  }

  const checks = [storeCondition, prefixCondition, verbsCondition, durationCondition, policyCondition];
  const firstProblem = checks.find((c) => c.status === 'False') ?? checks.find((c) => c.status !== 'True');
  const ready: ConditionResult = firstProblem
    ? { type: T.Ready, status: 'False', reason: firstProblem.reason, message: firstProblem.message }
    : ok(T.Ready, `keys grant [${spec.verbs.join(', ')}] on ${quote(spec.prefix)}`);
  const isReady = firstProblem === undefined;
  const result: AccessValidation = { ready: isReady, conditions: [ready, ...checks] };
  if (resolved) result.store = `${resolved.kind}/${resolved.metadata.name}`;
  if (packedSize !== undefined) result.packedSize = packedSize;
  if (isReady && policy !== undefined) result.policy = policy;
  return result;
}
