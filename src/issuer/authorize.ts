// Which of a namespace's DatasetAccess objects grant a pod: pure (STYLE.md habit 2). An access
// grants when its subjects match the pod, it is Ready for its current generation, and the session
// policy in its status is the one the issuer renders now from the access and its store (fail
// closed on a stale status: a changed store or access is never minted with yesterday's policy).
import { PROVIDER_REGISTRY } from '../providers/index.ts';
import type { AccessRefusal, RefusalReason } from '../api/issuer/v1/index.ts';
import { CONDITION_TYPES, KINDS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import type { ValidateOptions } from '../policy/index.ts';
import { claimsOnClusterStore, matchLabelSelector, subjectsMatch, validateAccess } from '../policy/index.ts';
import { IssuerError } from './errors.ts';
import type { PodIdentity } from './ports.ts';

export interface Grant {
  access: DatasetAccess;
  store: AnyDatasetStore;
  /** The rendered grant (status.sessionPolicy, equal to a fresh render): s3's session policy, or azureBlob's and gcs's signing scope. */
  policy: string;
}

/** How the issuer validates: Valet's namespace, and the claims that may own an access's folder (ADR 0009). */
export interface AuthorizeOptions extends Pick<ValidateOptions, 'valetNamespace'> {
  /** GrantSource.overlappingClaims: other namespaces' accesses on the cluster store whose folder overlaps `prefix`. */
  overlappingClaims?: (clusterStore: string, prefix: string, namespace: string) => readonly DatasetAccess[];
}

export type Authorization = { ok: true; grants: Grant[]; refusals: AccessRefusal[] } | { ok: false; error: IssuerError; refusals: AccessRefusal[] };

/** Refusals of an access that names the pod and may become Ready by itself (the controller catching up). */
const CANDIDATE_PENDING: ReadonlySet<string> = new Set(['NotReady', 'StaleStatus', 'StoreNotFound']);

/** At most this many reasons go into a 403 body. */
export const MAX_REFUSALS = 32;

const accessName = (a: DatasetAccess) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`;

type Verdict = { ok: true; grant: Grant } | { ok: false; reason: RefusalReason; message: string; subjectsMatched: boolean };

function judge(
  pod: PodIdentity,
  access: DatasetAccess,
  resolveStore: (a: DatasetAccess) => AnyDatasetStore | undefined,
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined,
  opts: AuthorizeOptions,
): Verdict {
  const subjects = subjectsMatch(access, { namespace: pod.namespace, serviceAccountName: pod.serviceAccount, labels: pod.labels });
  if (!subjects.ok) {
    const message =
      subjects.reason === 'ServiceAccountNotIncluded'
        ? `subjects do not include service account ${JSON.stringify(pod.serviceAccount)}`
        : subjects.reason === 'PodSelectorMismatch'
          ? "the pod's labels do not match spec.subjects.podSelector"
          : subjects.message;
    return { ok: false, reason: subjects.reason, message, subjectsMatched: false };
  }
  const no = (reason: RefusalReason, message: string): Verdict => ({ ok: false, reason, message, subjectsMatched: true });
  const generation = access.metadata.generation ?? 0;
  const status = access.status;
  const ready = status?.conditions?.find((c) => c.type === CONDITION_TYPES.Ready);
  if (!ready) return no('NotReady', 'not Ready: the controller has not reconciled it yet');
  if (ready.observedGeneration !== generation || (status?.observedGeneration !== undefined && status.observedGeneration !== generation)) {
    return no('StaleStatus', `status is for generation ${ready.observedGeneration ?? 'unknown'}, the access is at generation ${generation}`);
  }
  if (ready.status !== 'True') return no('NotReady', `not Ready: ${ready.reason}`);
  const store = resolveStore(access);
  if (!store) return no('StoreNotFound', `${access.spec.storeRef.kind} ${JSON.stringify(access.spec.storeRef.name)} not found`);
  if (store.kind === KINDS.ClusterDatasetStore) {
    const labels = namespaceLabels(pod.namespace);
    // Fail closed: an unknown namespace, or a selector that does not match it now, grants nothing.
    if (!labels || !matchLabelSelector(store.spec.namespaceSelector, labels)) {
      return no('NamespaceNotSelected', `ClusterDatasetStore ${JSON.stringify(store.metadata.name)} does not select namespace ${JSON.stringify(pod.namespace)}`);
    }
  }
  if (status?.store !== undefined && status.store !== `${store.kind}/${store.metadata.name}`) {
    return no('StaleStatus', `status names store ${JSON.stringify(status.store)}, the access now uses ${store.kind}/${store.metadata.name}`);
  }
  // Authorize from the source: validate the access against the store's current spec (prefix
  // inside allowedPrefixes, verbs inside allowedVerbs, duration within the maximum, policy renders)
  // exactly as the controller does, whatever the status says. A status forged by a principal with
  // status access, or left Ready by a controller that is down while the store was narrowed, mints
  // nothing the store does not allow now.
  // Only other namespaces' claims on overlapping folders can own this one (folderOwnedElsewhere
  // ignores every other claim), so those are all the rule needs: from the index, not a scan.
  const claims = store.kind === KINDS.ClusterDatasetStore ? claimsOnClusterStore(opts.overlappingClaims?.(store.metadata.name, access.spec.prefix, pod.namespace) ?? [], store.metadata.name) : [];
  const now = validateAccess(access, store, namespaceLabels(pod.namespace), { providers: PROVIDER_REGISTRY, ...(opts.valetNamespace ? { valetNamespace: opts.valetNamespace } : {}), claims });
  if (!now.ready) {
    const failed = now.conditions.find((c) => c.type !== CONDITION_TYPES.Ready && c.status !== 'True');
    return no('StoreForbids', `its store does not allow this grant now (${failed?.reason ?? 'Invalid'}): ${failed?.message ?? 'validation failed'}`);
  }
  if (!status?.sessionPolicy || now.policy !== status.sessionPolicy) {
    return no('StaleStatus', 'status.sessionPolicy differs from the policy the access and its store give now; waiting for the controller');
  }
  return { ok: true, grant: { access, store, policy: status.sessionPolicy } };
}

/**
 * The grants of `pod` among `accesses` (the pod's namespace), optionally only those `requested` by
 * name. Every requested name must be granted; without a request, every granting access is.
 */
export function authorize(
  pod: PodIdentity,
  accesses: readonly DatasetAccess[],
  resolveStore: (access: DatasetAccess) => AnyDatasetStore | undefined,
  requested?: readonly string[],
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined = () => undefined,
  opts: AuthorizeOptions = {},
): Authorization {
  const refusals: AccessRefusal[] = [];
  const grants: Grant[] = [];
  let subjectsMatched = false;
  const wanted = requested ? new Set(requested) : undefined;
  const sorted = [...accesses].filter((a) => a.metadata.namespace === pod.namespace).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const access of sorted) {
    if (wanted && !wanted.has(access.metadata.name)) {
      refusals.push({ access: accessName(access), reason: 'NotRequested', message: 'not requested' });
      continue;
    }
    const v = judge(pod, access, resolveStore, namespaceLabels, opts);
    if (v.ok) grants.push(v.grant);
    else {
      subjectsMatched ||= v.subjectsMatched;
      refusals.push({ access: accessName(access), reason: v.reason, message: v.message });
    }
  }
  for (const name of wanted ?? []) {
    if (!sorted.some((a) => a.metadata.name === name)) {
      refusals.push({ access: `${pod.namespace}/${name}`, reason: 'NotFound', message: `no DatasetAccess ${JSON.stringify(name)} in namespace ${JSON.stringify(pod.namespace)}` });
    }
  }
  const missed = refusals.filter((r) => r.reason !== 'NotRequested');
  if (grants.length > 0 && (!wanted || missed.length === 0)) return { ok: true, grants, refusals };
  // Explain the accesses that matter first: refusals of requested or candidate accesses, then the rest.
  const shown = [...missed, ...refusals.filter((r) => r.reason === 'NotRequested')].slice(0, MAX_REFUSALS);
  // Among accesses that name the pod: if the store forbids some and none may still become Ready
  // by itself, say so (retrying cannot help); otherwise the controller may be catching up.
  const forbidden = missed.some((r) => r.reason === 'StoreForbids') && !missed.some((r) => CANDIDATE_PENDING.has(r.reason));
  const code = subjectsMatched && missed.every((r) => r.reason !== 'NotFound') ? (forbidden ? 'StoreForbidsGrant' : 'AccessNotReady') : 'NoGrant';
  const message =
    code === 'StoreForbidsGrant'
      ? `the store of each DatasetAccess in namespace ${JSON.stringify(pod.namespace)} that names service account ${JSON.stringify(pod.serviceAccount)} no longer allows its grant`
      : code === 'AccessNotReady'
      ? `no Ready DatasetAccess in namespace ${JSON.stringify(pod.namespace)} grants service account ${JSON.stringify(pod.serviceAccount)} yet`
      : sorted.length === 0
        ? `no DatasetAccess in namespace ${JSON.stringify(pod.namespace)}`
        : `no DatasetAccess in namespace ${JSON.stringify(pod.namespace)} grants service account ${JSON.stringify(pod.serviceAccount)}${wanted ? ' the requested accesses' : ''}`;
  return { ok: false, error: new IssuerError(code, message, { refusals: shown }), refusals };
}
