// Test fixtures shared by this folder's tests: valid objects to vary one field at a time.
import type { ClusterDatasetStore, DatasetAccess, DatasetStore } from '../../api/v1alpha1/index.ts';

export function clusterStore(spec: Partial<ClusterDatasetStore['spec']> = {}): ClusterDatasetStore {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'ClusterDatasetStore',
    metadata: { name: 'minio', generation: 1 },
    spec: {
      provider: 's3',
      bucket: 'datasets',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      roleArn: 'arn:aws:iam::000000000000:role/valet-lab-issuer',
      auth: { mode: 'secret', secretRef: { name: 'issuer', namespace: 'valet-system' } },
      allowedPrefixes: ['imagenet/', 'coco/'],
      allowedVerbs: ['read', 'list'],
      maxSessionDurationSeconds: 3600,
      namespaceSelector: { matchLabels: { 'valet.dev/datasets': 'enabled' } },
      ...spec,
    },
  };
}

export function namespacedStore(spec: Partial<DatasetStore['spec']> = {}, namespace = 'ml-team'): DatasetStore {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetStore',
    metadata: { name: 'team', namespace, generation: 1 },
    spec: {
      provider: 's3',
      bucket: 'datasets',
      region: 'us-east-1',
      roleArn: 'arn:aws:iam::123456789012:role/valet',
      auth: { mode: 'defaultChain' },
      allowedPrefixes: ['checkpoints/'],
      allowedVerbs: ['read', 'list', 'write', 'delete'],
      maxSessionDurationSeconds: 7200,
      ...spec,
    },
  };
}

export function access(spec: Partial<DatasetAccess['spec']> = {}, namespace = 'ml-team'): DatasetAccess {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name: 'imagenet-read', namespace, generation: 3 },
    spec: {
      storeRef: { kind: 'ClusterDatasetStore', name: 'minio' },
      prefix: 'imagenet/',
      verbs: ['read', 'list'],
      subjects: { serviceAccounts: ['trainer'] },
      sessionDurationSeconds: 3600,
      ...spec,
    },
  };
}

export const selectedNamespace = { 'kubernetes.io/metadata.name': 'ml-team', 'valet.dev/datasets': 'enabled' };
