// Objects the webhook's unit and fuzz tests share.
import type { DatasetStore } from '../../api/v1alpha1/index.ts';

export const store: DatasetStore = {
  apiVersion: 'valet.dev/v1alpha1',
  kind: 'DatasetStore',
  metadata: { name: 'minio', namespace: 'ml' },
  spec: {
    provider: 's3',
    bucket: 'data',
    region: 'us-east-1',
    endpoint: 'http://minio.storage.svc:9000',
    roleArn: 'arn:aws:iam::123456789012:role/valet',
    auth: { mode: 'defaultChain' },
    allowedPrefixes: ['imagenet/'],
    allowedVerbs: ['read'],
    maxSessionDurationSeconds: 3600,
  },
};
