import { describe, expect, it } from 'vitest';
import { PROVIDER_REGISTRY } from '../providers/index.ts';
import { conditionsEqual, mergeConditions } from './conditions.ts';
import { access, clusterStore, selectedNamespace } from './testdata/fixtures.ts';
import { validateAccess } from './validate.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:05:00Z';

describe('mergeConditions', () => {
  it('stamps new conditions with now and the generation', () => {
    const c = mergeConditions(undefined, [{ type: 'Ready', status: 'True', reason: 'Valid', message: 'ok' }], 4, T0);
    expect(c).toEqual([{ type: 'Ready', status: 'True', observedGeneration: 4, lastTransitionTime: T0, reason: 'Valid', message: 'ok' }]);
  });

  it('keeps lastTransitionTime while the status is unchanged, so a resync changes nothing', () => {
    const results = validateAccess(access(), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY }).conditions;
    const first = mergeConditions(undefined, results, 3, T0);
    const again = mergeConditions(first, results, 3, T1);
    expect(conditionsEqual(first, again)).toBe(true);
  });

  it('moves lastTransitionTime when the status flips, and not when only the message changes', () => {
    const before = mergeConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'StoreNotFound', message: 'a' }], 1, T0);
    const flipped = mergeConditions(before, [{ type: 'Ready', status: 'True', reason: 'Valid', message: 'b' }], 1, T1);
    expect(flipped[0]?.lastTransitionTime).toBe(T1);
    const reworded = mergeConditions(before, [{ type: 'Ready', status: 'False', reason: 'StoreNotFound', message: 'c' }], 1, T1);
    expect(reworded[0]?.lastTransitionTime).toBe(T0);
    expect(conditionsEqual(before, reworded)).toBe(false);
  });
});
