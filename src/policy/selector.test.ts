import { describe, expect, it } from 'vitest';
import type { LabelSelector } from '../api/v1alpha1/index.ts';
import { matchLabelSelector } from './selector.ts';

const labels = { app: 'trainer', tier: 'gpu', 'valet.dev/inject': 'true' };

describe('matchLabelSelector', () => {
  it.each<[string, LabelSelector, boolean]>([
    ['empty selector matches everything', {}, true],
    ['matchLabels equal', { matchLabels: { app: 'trainer' } }, true],
    ['matchLabels different value', { matchLabels: { app: 'web' } }, false],
    ['matchLabels missing key', { matchLabels: { team: 'a' } }, false],
    ['In hit', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['cpu', 'gpu'] }] }, true],
    ['In miss', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['cpu'] }] }, false],
    ['In on a missing key', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn hit', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gpu'] }] }, false],
    ['NotIn miss', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['cpu'] }] }, true],
    ['NotIn on a missing key matches', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    ['Exists missing', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    ['DoesNotExist present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    ['all requirements are ANDed', { matchLabels: { app: 'trainer' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['cpu'] }] }, false],
    ['malformed: In without values matches nothing', { matchExpressions: [{ key: 'app', operator: 'In', values: [] }] }, false],
    ['malformed: NotIn without values matches nothing', { matchExpressions: [{ key: 'zone', operator: 'NotIn' }] }, false],
    ['malformed: Exists with values matches nothing', { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['trainer'] }] }, false],
    ['unknown operator matches nothing', { matchExpressions: [{ key: 'app', operator: 'Gt' as 'In', values: ['1'] }] }, false],
    ['inherited properties are not labels', { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, false],
  ])('%s', (_name, selector, expected) => {
    expect(matchLabelSelector(selector, labels)).toBe(expected);
  });

  it('treats missing labels as none', () => {
    expect(matchLabelSelector({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] })).toBe(true);
    expect(matchLabelSelector({ matchLabels: { a: 'b' } })).toBe(false);
  });
});
