// Does a DatasetAccess grant a given pod? Used by the issuer after TokenReview has proved the
// pod's identity. Fails closed: wrong namespace, unlisted service account or unmatched labels.
import type { DatasetAccess } from '../api/v1alpha1/index.ts';
import { quote } from './result.ts';
import type { Check } from './result.ts';
import { matchLabelSelector } from './selector.ts';

export interface PodIdentity {
  namespace: string;
  serviceAccountName: string;
  labels?: Readonly<Record<string, string>>;
}

export type SubjectsReason = 'NamespaceMismatch' | 'ServiceAccountNotIncluded' | 'PodSelectorMismatch';

export function subjectsMatch(access: DatasetAccess, pod: PodIdentity): Check<SubjectsReason> {
  const name = `DatasetAccess ${quote(`${access.metadata.namespace ?? ''}/${access.metadata.name}`)}`;
  if (!access.metadata.namespace || pod.namespace !== access.metadata.namespace) {
    return { ok: false, reason: 'NamespaceMismatch', message: `${name} grants only pods in its own namespace, not in ${quote(pod.namespace)}` };
  }
  if (!access.spec.subjects.serviceAccounts.includes(pod.serviceAccountName)) {
    return {
      ok: false,
      reason: 'ServiceAccountNotIncluded',
      message: `spec.subjects.serviceAccounts of ${name} does not include service account ${quote(pod.serviceAccountName)}`,
    };
  }
  const selector = access.spec.subjects.podSelector;
  if (selector && !matchLabelSelector(selector, pod.labels ?? {})) {
    return { ok: false, reason: 'PodSelectorMismatch', message: `the pod's labels do not match spec.subjects.podSelector of ${name}` };
  }
  return { ok: true };
}
