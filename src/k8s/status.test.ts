import { describe, expect, it } from 'vitest';
import type { DatasetAccess } from '../api/v1alpha1/index.ts';
import { writeAccessStatus, writeStatus, type StatusApi } from './status.ts';

function fakeApi() {
  const calls: Array<{ method: string; param: Record<string, unknown> }> = [];
  const api = {
    replaceNamespacedCustomObjectStatus: async (param: Record<string, unknown>) => (calls.push({ method: 'namespaced', param }), param.body),
    replaceClusterCustomObjectStatus: async (param: Record<string, unknown>) => (calls.push({ method: 'cluster', param }), param.body),
  } as unknown as StatusApi;
  return { api, calls };
}

describe('writeStatus', () => {
  it('PUTs the whole object with its resourceVersion to the namespaced /status endpoint, leaving the input alone', async () => {
    const { api, calls } = fakeApi();
    const current = { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetAccess', metadata: { name: 'imagenet', namespace: 'team-a', resourceVersion: '41' }, status: { old: true } };
    await writeStatus(api, { group: 'valet.dev', version: 'v1alpha1', plural: 'datasetaccesses', namespace: 'team-a', name: 'imagenet' }, current, { sessionPolicy: '{}' });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.method).toBe('namespaced');
    expect(calls[0]?.param).toMatchObject({ group: 'valet.dev', version: 'v1alpha1', plural: 'datasetaccesses', namespace: 'team-a', name: 'imagenet' });
    expect((calls[0]?.param.body as { metadata: { resourceVersion: string }; status: unknown }).metadata.resourceVersion).toBe('41');
    expect((calls[0]?.param.body as { status: unknown }).status).toEqual({ sessionPolicy: '{}' });
    expect(current.status).toEqual({ old: true });
  });

  it('uses the cluster endpoint for cluster-scoped objects and passes conflicts to the caller', async () => {
    const conflict = Object.assign(new Error('Conflict'), { code: 409 });
    const api = {
      replaceClusterCustomObjectStatus: async () => {
        throw conflict;
      },
    } as unknown as StatusApi;
    const store = { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 's', resourceVersion: '9' } };
    await expect(writeStatus(api, { group: 'valet.dev', version: 'v1alpha1', plural: 'clusterdatasetstores', name: 's' }, store, {})).rejects.toBe(conflict);
  });

  it('writes a DatasetAccess status to its namespaced /status endpoint', async () => {
    const { api, calls } = fakeApi();
    const access = { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetAccess', metadata: { name: 'imagenet', namespace: 'team-a', resourceVersion: '3' }, spec: {} } as unknown as DatasetAccess;
    await writeAccessStatus(api, access, { observedGeneration: 1 });
    expect(calls[0]?.param).toMatchObject({ plural: 'datasetaccesses', namespace: 'team-a', name: 'imagenet' });
  });
});
