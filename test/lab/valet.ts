// Valet objects on the lab: the store every suite needs (a ClusterDatasetStore on the lab's MinIO
// whose issuer key sits in a Secret in Valet's namespace), so suites state only what differs.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { DEFAULT_VALET_NAMESPACE } from '../../src/api/v1alpha1/index.ts';
import { join } from 'node:path';
import type { Lab } from './index.ts';
import { startProcess, type ServerProcess } from './process.ts';

export interface LabStoreOptions {
  name?: string;
  secretName?: string;
  allowedPrefixes?: string[];
  allowedVerbs?: string[];
  maxSessionDurationSeconds?: number;
  /** The S3 and STS endpoint the store names; defaults to the lab MinIO on loopback (lab.s3.endpoint). */
  endpoint?: string;
}

/** The namespace Valet runs in (and the only one whose Secrets stores may name, ADR 0008). */
export const LAB_VALET_NAMESPACE = DEFAULT_VALET_NAMESPACE;

const ignoreConflict = (err: unknown) => {
  if ((err as { code?: number }).code !== 409) throw err;
};

/**
 * The s3 spec of a store on the lab MinIO whose issuer key is the Secret `secretName` in Valet's
 * namespace: everything a ClusterDatasetStore needs but its namespaceSelector (and sharedPrefixes).
 */
export function labStoreSpec(lab: Lab, o: Omit<LabStoreOptions, 'name'> & { stsEndpoint?: string } = {}): Record<string, unknown> {
  const endpoint = o.endpoint ?? lab.s3.endpoint;
  return {
    provider: 's3',
    bucket: lab.s3.bucket,
    region: lab.s3.region,
    endpoint,
    stsEndpoint: o.stsEndpoint ?? endpoint,
    roleArn: lab.s3.roleArn,
    auth: { mode: 'secret', secretRef: { name: o.secretName ?? 'minio-issuer', namespace: LAB_VALET_NAMESPACE } },
    allowedPrefixes: o.allowedPrefixes ?? ['imagenet/', 'checkpoints/'],
    allowedVerbs: o.allowedVerbs ?? ['read', 'list', 'write', 'delete'],
    maxSessionDurationSeconds: o.maxSessionDurationSeconds ?? 3600,
  };
}

/**
 * The lab's store, as an admin sets one up: the issuer's MinIO key in a Secret in Valet's own
 * namespace, and a ClusterDatasetStore (named `o.name`, default "lab") that uses it and selects
 * `namespace` by a label this adds. A second call for another namespace only selects that
 * namespace too (the store and Secret are made once, with the first call's options).
 */
export async function createLabStore(lab: Lab, namespace: string, o: LabStoreOptions = {}): Promise<void> {
  const name = o.name ?? 'lab';
  const selectorLabel = `lab.valet.dev/store-${name}`;
  await createStoreWithSecret(lab, name, o, {
    // The lab's namespaces share its folders (ADR 0009: otherwise the first to claim one owns it).
    sharedPrefixes: o.allowedPrefixes ?? ['imagenet/', 'checkpoints/'],
    namespaceSelector: { matchLabels: { [selectorLabel]: 'true' } },
  }).catch(ignoreConflict);
  await lab.core.patchNamespace({ name: namespace, body: [{ op: 'add', path: `/metadata/labels/${selectorLabel.replace('/', '~1')}`, value: 'true' }] });
}

export interface LabOperatorOptions {
  /** Folder with tls.crt and tls.key, served by the issuer (and the webhook, when it runs). */
  tlsDir: string;
  /** No issuer port turns the issuer off (--issuer-address=). */
  ports: { issuer?: number; metrics: number; webhook?: number };
  identity: string;
  /**
   * Instead of tlsDir's files: the Secret (in Valet's namespace) where the operator keeps its own CA
   * and serving certificate (--tls-secret); the webhook then serves that certificate too.
   */
  tlsSecret?: string;
  /** Its log file in the lab's logs folder (default operator.log): each of several replicas needs its own. */
  log?: string;
  /** More flags, after the ones above. */
  extraArgs?: readonly string[];
}

/** `valet operator` as its own process against the lab, its log in the lab's logs folder. */
export function startLabOperator(lab: Lab, o: LabOperatorOptions): ServerProcess {
  const webhookFiles = o.tlsSecret ? [] : [`--webhook-tls-cert-file=${join(o.tlsDir, 'tls.crt')}`, `--webhook-tls-key-file=${join(o.tlsDir, 'tls.key')}`];
  const webhook = o.ports.webhook ? [`--webhook-address=127.0.0.1:${o.ports.webhook}`, ...webhookFiles] : ['--webhook-address='];
  const tls = o.tlsSecret ? [`--tls-secret=${o.tlsSecret}`] : [`--tls-cert-file=${join(o.tlsDir, 'tls.crt')}`, `--tls-key-file=${join(o.tlsDir, 'tls.key')}`];
  return startOperatorCommand(
    lab,
    [
      `--kubeconfig=${lab.kubeconfig}`,
      `--namespace=${LAB_VALET_NAMESPACE}`,
      `--identity=${o.identity}`,
      `--metrics-address=127.0.0.1:${o.ports.metrics}`,
      `--issuer-address=${o.ports.issuer ? `127.0.0.1:${o.ports.issuer}` : ''}`,
      ...tls,
      ...webhook,
      ...(o.extraArgs ?? []),
    ],
    { log: o.log ?? 'operator.log' },
  );
}

/**
 * `valet operator` with exactly `args` (a Deployment's own, say) as its own process, `env` its
 * added to this process's environment, its log `log` in the lab's logs folder.
 */
export function startOperatorCommand(lab: Lab, args: readonly string[], o: { log: string; env?: Record<string, string> }): ServerProcess {
  return startProcess({
    name: o.log.replace(/\.log$/, ''),
    command: process.execPath,
    args: [join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts'), 'operator', ...args],
    ...(o.env ? { env: o.env } : {}),
    log: join(lab.logsDir, o.log),
  });
}

/**
 * A ClusterDatasetStore `name` on the lab MinIO (labStoreSpec; its issuer key in the Secret
 * `secretName` in Valet's namespace, made when missing) that selects the namespaces named, with only
 * `sharedPrefixes` open to every one of them: the store suites on folder ownership (ADR 0009) use.
 * createLabStore's store shares every folder instead.
 */
export async function createLabClusterStore(lab: Lab, name: string, namespaces: readonly string[], o: Omit<LabStoreOptions, 'name'> & { sharedPrefixes?: string[] } = {}): Promise<void> {
  await createStoreWithSecret(lab, name, o, {
    ...(o.sharedPrefixes ? { sharedPrefixes: o.sharedPrefixes } : {}),
    namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [...namespaces] }] },
  });
}

/**
 * Valet's namespace and the issuer's MinIO key in it (Secret `o.secretName`, default minio-issuer),
 * each made when missing, then the ClusterDatasetStore `name` over the lab MinIO (labStoreSpec)
 * with `spec` added. Rejects as the create does (409 when the store exists).
 */
async function createStoreWithSecret(lab: Lab, name: string, o: Omit<LabStoreOptions, 'name'>, spec: Record<string, unknown>): Promise<void> {
  await lab.core.createNamespace({ body: { metadata: { name: LAB_VALET_NAMESPACE } } }).catch(ignoreConflict);
  await lab.core
    .createNamespacedSecret({
      namespace: LAB_VALET_NAMESPACE,
      body: { metadata: { name: o.secretName ?? 'minio-issuer' }, stringData: { accessKeyId: lab.s3.issuer.accessKeyId, secretAccessKey: lab.s3.issuer.secretAccessKey } },
    })
    .catch(ignoreConflict);
  await lab.kubeConfig.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: 'valet.dev',
    version: 'v1alpha1',
    plural: 'clusterdatasetstores',
    body: { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name }, spec: { ...labStoreSpec(lab, o), ...spec } },
  });
}
