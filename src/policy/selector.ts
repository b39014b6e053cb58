// metav1.LabelSelector matching, as k8s.io/apimachinery/pkg/labels does it: matchLabels and every
// matchExpressions requirement must all hold; `{}` matches everything. A malformed requirement
// (In/NotIn without values, Exists/DoesNotExist with values, an unknown operator) matches nothing:
// fail closed. Callers decide what an absent selector means.
import type { LabelSelector, LabelSelectorRequirement } from '../api/v1alpha1/index.ts';

function requirementMatches(r: LabelSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const values = r.values ?? [];
  const has = Object.hasOwn(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case 'In':
      return values.length > 0 && value !== undefined && values.includes(value);
    case 'NotIn':
      return values.length > 0 && (value === undefined || !values.includes(value));
    case 'Exists':
      return values.length === 0 && has;
    case 'DoesNotExist':
      return values.length === 0 && !has;
    default:
      return false;
  }
}

/** Does `selector` select an object with `labels`? */
export function matchLabelSelector(selector: LabelSelector, labels: Readonly<Record<string, string>> = {}): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  }
  return (selector.matchExpressions ?? []).every((r) => requirementMatches(r, labels));
}
