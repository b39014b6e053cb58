// Valet objects on the lab: the store every suite needs (a DatasetStore on the lab's MinIO whose
// issuer key sits in a Secret beside it), so suites state only what differs.
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { Lab } from './index.ts';

export interface LabStoreOptions {
  name?: string;
  secretName?: string;
  allowedPrefixes?: string[];
  allowedVerbs?: string[];
  maxSessionDurationSeconds?: number;
}

/** Creates the Secret with the lab issuer's key and a DatasetStore on the lab MinIO that uses it. */
export async function createLabStore(lab: Lab, namespace: string, o: LabStoreOptions = {}): Promise<void> {
  const secretName = o.secretName ?? 'minio-issuer';
  await lab.core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: secretName }, stringData: { accessKeyId: lab.s3.issuer.accessKeyId, secretAccessKey: lab.s3.issuer.secretAccessKey } },
  });
  await lab.kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: 'valet.dev',
    version: 'v1alpha1',
    namespace,
    plural: 'datasetstores',
    body: {
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetStore',
      metadata: { name: o.name ?? 'lab', namespace },
      spec: {
        provider: 's3',
        bucket: lab.s3.bucket,
        region: lab.s3.region,
        endpoint: lab.s3.endpoint,
        stsEndpoint: lab.s3.endpoint,
        roleArn: lab.s3.roleArn,
        auth: { mode: 'secret', secretRef: { name: secretName } },
        allowedPrefixes: o.allowedPrefixes ?? ['imagenet/', 'checkpoints/'],
        allowedVerbs: o.allowedVerbs ?? ['read', 'list', 'write', 'delete'],
        maxSessionDurationSeconds: o.maxSessionDurationSeconds ?? 3600,
      },
    },
  });
}
