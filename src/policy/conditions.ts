// Turns condition results into metav1.Conditions for status, keeping lastTransitionTime when a
// condition's status did not change, so that an unchanged result gives equal conditions and the
// controller can skip the status write (STYLE.md habit 10). `now` is passed in (habit 3).
import type { Condition } from '../api/v1alpha1/index.ts';

export interface ConditionInput {
  type: string;
  status: Condition['status'];
  reason: string;
  message: string;
}

/** Conditions for `next`, in its order; types absent from `next` are dropped. */
export function mergeConditions(previous: readonly Condition[] | undefined, next: readonly ConditionInput[], generation: number, now: string): Condition[] {
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : now;
    return { type: c.type, status: c.status, observedGeneration: generation, lastTransitionTime, reason: c.reason, message: c.message };
  });
}

/** Equal as status content (same types in the same order, same fields)? */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return (
    x.length === y.length &&
    x.every((c, i) => {
      const d = y[i];
      return (
        d !== undefined &&
        c.type === d.type &&
        c.status === d.status &&
        c.reason === d.reason &&
        c.message === d.message &&
        c.observedGeneration === d.observedGeneration &&
        c.lastTransitionTime === d.lastTransitionTime
      );
    })
  );
}
