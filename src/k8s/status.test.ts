import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import type { DatasetAccess } from '../api/v1alpha1/index.ts';
import { mergeConditions, rfc3339, statusEqual, writeAccessStatus, writeStatusIfChanged } from './status.ts';
import type { Condition, StatusApi } from './status.ts';

const T0 = '2025-12-31T00:00:00Z';
type Cond = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };
const ready = (status: Condition['status'], reason: string, extra: Partial<Condition> = {}): Cond => ({ type: 'Ready', status, reason, message: reason, ...extra });

describe('mergeConditions', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0, 456);

  it('stamps a new condition with now (whole seconds) and the observed generation', () => {
    expect(mergeConditions(undefined, [ready('True', 'Ready')], now, 3)).toEqual([
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'Ready', lastTransitionTime: '2026-01-01T12:00:00Z', observedGeneration: 3 },
    ]);
  });

  it('keeps lastTransitionTime when the status did not change, even if reason and message did', () => {
    const old = [ready('False', 'StoreNotFound', { lastTransitionTime: T0, observedGeneration: 1 })];
    const [c] = mergeConditions(old, [ready('False', 'VerbNotAllowed')], now, 2);
    expect(c).toMatchObject({ reason: 'VerbNotAllowed', lastTransitionTime: T0, observedGeneration: 2 });
  });

  it('moves lastTransitionTime when the status flips', () => {
    const old = [ready('False', 'StoreNotFound', { lastTransitionTime: T0 })];
    expect(mergeConditions(old, [ready('True', 'Ready')], now)[0]?.lastTransitionTime).toBe(rfc3339(now));
  });

  it('drops conditions no longer desired and keeps the desired order', () => {
    const old = [ready('True', 'Ready', { lastTransitionTime: T0 }), { type: 'Old', status: 'True', reason: 'X', message: '' } as Cond];
    const out = mergeConditions(old, [{ type: 'StoreResolved', status: 'True', reason: 'Found', message: '' }, ready('True', 'Ready')], now, 1);
    expect(out.map((c) => c.type)).toEqual(['StoreResolved', 'Ready']);
  });
});

describe('statusEqual', () => {
  it('ignores condition order and lastTransitionTime, and undefined fields', () => {
    const a = { policy: 'p', extra: undefined, conditions: [ready('True', 'Ready', { lastTransitionTime: T0 }), { type: 'B', status: 'True', reason: 'r', message: '' }] };
    const b = { policy: 'p', conditions: [{ type: 'B', status: 'True', reason: 'r', message: '' }, ready('True', 'Ready', { lastTransitionTime: '2026-01-01T00:00:00Z' })] };
    expect(statusEqual(a, b)).toBe(true);
  });

  it('sees a changed reason, message, generation or field', () => {
    const base = { size: 10, conditions: [ready('True', 'Ready', { observedGeneration: 1 })] };
    expect(statusEqual(base, { ...base, size: 11 })).toBe(false);
    expect(statusEqual(base, { ...base, conditions: [ready('True', 'Ready', { observedGeneration: 2 })] })).toBe(false);
    expect(statusEqual(base, { ...base, conditions: [ready('True', 'Ready', { message: 'other', observedGeneration: 1 })] })).toBe(false);
    expect(statusEqual(base, { conditions: base.conditions })).toBe(false);
    expect(statusEqual(undefined, base)).toBe(false);
  });
});

describe('writeStatusIfChanged', () => {
  const ref = { group: 'valet.dev', version: 'v1alpha1', plural: 'datasetaccesses', namespace: 'team-a', name: 'imagenet' };

  function fakeApi() {
    const calls: Array<{ method: string; param: Record<string, unknown> }> = [];
    const api = {
      replaceNamespacedCustomObjectStatus: async (param: Record<string, unknown>) => (calls.push({ method: 'namespaced', param }), param.body),
      replaceClusterCustomObjectStatus: async (param: Record<string, unknown>) => (calls.push({ method: 'cluster', param }), param.body),
    } as unknown as StatusApi;
    return { api, calls };
  }

  const object = (status?: unknown) => ({
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name: 'imagenet', namespace: 'team-a', generation: 2, resourceVersion: '41' },
    spec: { prefix: 'imagenet/' },
    status,
  });

  it('does not write when nothing changed (a resync keeps the resourceVersion)', async () => {
    const { api, calls } = fakeApi();
    const current = object({ sessionPolicy: '{}', conditions: [ready('True', 'Ready', { lastTransitionTime: T0, observedGeneration: 2 })] });
    const result = await writeStatusIfChanged(api, ref, current, { sessionPolicy: '{}', conditions: [ready('True', 'Ready')] }, { clock: new FakeClock() });
    expect(result).toEqual({ written: false });
    expect(calls).toEqual([]);
  });

  it('writes the whole object with its resourceVersion when the status changed', async () => {
    const { api, calls } = fakeApi();
    const clock = new FakeClock(Date.UTC(2026, 0, 2));
    const current = object({ conditions: [ready('False', 'StoreNotFound', { lastTransitionTime: T0, observedGeneration: 1 })] });
    const result = await writeStatusIfChanged(api, ref, current, { sessionPolicy: '{}', conditions: [ready('True', 'Ready')] }, { clock });
    expect(result.written).toBe(true);
    expect(calls).toHaveLength(1);
    const param = calls[0]?.param as { name: string; namespace: string; body: ReturnType<typeof object> };
    expect(param).toMatchObject({ group: 'valet.dev', version: 'v1alpha1', plural: 'datasetaccesses', namespace: 'team-a', name: 'imagenet' });
    expect(param.body.metadata.resourceVersion).toBe('41');
    expect(param.body.status).toEqual({
      sessionPolicy: '{}',
      conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Ready', lastTransitionTime: '2026-01-02T00:00:00Z', observedGeneration: 2 }],
    });
    expect(current.status).toEqual({ conditions: [ready('False', 'StoreNotFound', { lastTransitionTime: T0, observedGeneration: 1 })] });
  });

  it('uses the cluster endpoint for cluster-scoped objects and passes conflicts to the caller', async () => {
    const conflict = Object.assign(new Error('Conflict'), { code: 409 });
    const api = {
      replaceClusterCustomObjectStatus: async () => {
        throw conflict;
      },
    } as unknown as StatusApi;
    const store = { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 's', generation: 1, resourceVersion: '9' } };
    await expect(writeStatusIfChanged(api, { group: 'valet.dev', version: 'v1alpha1', plural: 'clusterdatasetstores', name: 's' }, store, { conditions: [ready('True', 'Ready')] })).rejects.toBe(conflict);
  });
});

describe('writeAccessStatus', () => {
  it('writes a DatasetAccess status to its namespaced /status endpoint', async () => {
    const calls: unknown[] = [];
    const api = { replaceNamespacedCustomObjectStatus: async (p: unknown) => void calls.push(p) } as unknown as StatusApi;
    const access = {
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetAccess',
      metadata: { name: 'imagenet', namespace: 'team-a', generation: 1, resourceVersion: '3' },
      spec: {},
    } as unknown as DatasetAccess;
    await writeAccessStatus(api, access, { observedGeneration: 1, conditions: [{ ...ready('True', 'Ready'), lastTransitionTime: T0 }] }, { clock: new FakeClock() });
    expect(calls).toMatchObject([{ group: 'valet.dev', version: 'v1alpha1', plural: 'datasetaccesses', namespace: 'team-a', name: 'imagenet' }]);
  });
});
