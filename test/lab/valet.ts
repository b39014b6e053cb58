// Valet objects on the lab: the store every suite needs (a DatasetStore on the lab's MinIO whose
// issuer key sits in a Secret beside it), so suites state only what differs.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { DatasetAccessController } from '../../src/controller/controller.ts';
import type { K8sClients } from '../../src/k8s/clients.ts';
import { EventRecorder } from '../../src/k8s/events.ts';
import { writeAccessStatus } from '../../src/k8s/status.ts';
import { createControllerMetrics } from '../../src/metrics/controller.ts';
import { systemClock } from '../../src/platform/clock.ts';
import type { Logger } from '../../src/platform/logger.ts';
import type { Lab } from './index.ts';

export interface LabStoreOptions {
  name?: string;
  secretName?: string;
  allowedPrefixes?: string[];
  allowedVerbs?: string[];
  maxSessionDurationSeconds?: number;
  /** The S3 and STS endpoint the store names; defaults to the lab MinIO on loopback (lab.s3.endpoint). */
  endpoint?: string;
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
        endpoint: o.endpoint ?? lab.s3.endpoint,
        stsEndpoint: o.endpoint ?? lab.s3.endpoint,
        roleArn: lab.s3.roleArn,
        auth: { mode: 'secret', secretRef: { name: secretName } },
        allowedPrefixes: o.allowedPrefixes ?? ['imagenet/', 'checkpoints/'],
        allowedVerbs: o.allowedVerbs ?? ['read', 'list', 'write', 'delete'],
        maxSessionDurationSeconds: o.maxSessionDurationSeconds ?? 3600,
      },
    },
  });
}

/** The real DatasetAccess controller, in-process, leading until `signal` aborts (suites that need Ready accesses). */
export function startInProcessController(clients: K8sClients, logger: Logger, signal: AbortSignal): { controller: DatasetAccessController; run: Promise<void> } {
  const controller = new DatasetAccessController({
    clients,
    status: { write: (access, status) => writeAccessStatus(clients.customObjects, access, status) },
    events: new EventRecorder({ core: clients.core, logger }),
    clock: systemClock,
    logger: logger.child({ component: 'controller' }),
    metrics: createControllerMetrics(new Registry()),
    workers: 2,
    resyncSeconds: 5,
  });
  controller.start();
  return { controller, run: controller.lead(signal) };
}
