// A training team on the lab node, as the node suites, the demo and the job-start benchmark need
// it: Valet installed with Helm, a namespace with a trainer ServiceAccount, a ClusterDatasetStore on the
// lab MinIO (named by its in-cluster Service), a read access to the shards and a write access to
// the checkpoints, shards in the bucket, and Indexed Jobs of plain-boto3 trainers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { S3Client, PutObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { LabError } from '../build.ts';
import { buildTrainerImage, buildValetImage, type LabImage } from '../image.ts';
import type { Lab } from '../index.ts';
import { startWorld, type World } from '../world.ts';
import { waitFor } from '../wait.ts';
import { installValet, RELEASE, RELEASE_NAMESPACE, type ValetRelease } from './install.ts';

export const TEAM = 'ml-team';
export const SHARDS = 'imagenet/shards/';
export const SHARD_COUNT = 8;
export const READ_ACCESS = 'imagenet-read';
export const WRITE_ACCESS = 'checkpoints-write';
export const FORBIDDEN_KEY = 'imagenet-private/a.bin';
/** The team's ClusterDatasetStore: the lab MinIO, named by its in-cluster Service. */
const STORE = 'lab-minio';

export interface TrainingCluster {
  world: World;
  lab: Lab;
  release: ValetRelease;
  valetImage: LabImage;
  trainerImage: LabImage;
  batch: BatchV1Api;
  s3: S3Client;
  stop(): Promise<void>;
}

export interface TrainingJobOptions {
  completions?: number;
  parallelism?: number;
  /** Reads of each shard, and a pause between reads: a Job that runs for a while. */
  epochs?: number;
  pauseSeconds?: number;
  /** Pod labels; by default the injection label. */
  labels?: Record<string, string>;
  serviceAccount?: string;
  /** Static keys instead of Valet (the benchmark's comparison): no label, these in the env. */
  staticKeys?: { accessKeyId: string; secretAccessKey: string; endpoint?: string };
}

/**
 * Starts a world with the lab node (the kit, test/lab/world.ts: no in-process operator, Valet runs
 * in the node's pods), installs Valet with Helm, and sets up the team's namespace, store and
 * accesses through the world once the release's CRDs exist.
 */
export async function startTrainingCluster(): Promise<TrainingCluster> {
  const [world, valetImage, trainerImage] = await Promise.all([startWorld({ lab: { node: true }, crds: false, operator: false }), buildValetImage(), buildTrainerImage()]);
  const { lab } = world;
  const node = lab.node;
  const s3 = new S3Client({ endpoint: lab.s3.endpoint, region: lab.s3.region, forcePathStyle: true, credentials: lab.s3.root });
  try {
    if (!node?.minioUrl) throw new LabError('the training cluster needs the lab node and MinIO');
    await node.importImage(trainerImage.archive);
    const release = await installValet(lab, valetImage);
    for (let i = 0; i < SHARD_COUNT; i++) {
      await s3.send(new PutObjectCommand({ Bucket: lab.s3.bucket, Key: `${SHARDS}shard-${String(i).padStart(4, '0')}.tar`, Body: `shard ${i} `.repeat(1000) }));
    }
    await world.addTenant(TEAM, {
      labels: { team: 'ml' },
      store: { name: STORE, endpoint: node.minioUrl, allowedVerbs: ['read', 'list', 'write'] },
      accesses: { [READ_ACCESS]: { prefix: 'imagenet/', verbs: ['read', 'list'] }, [WRITE_ACCESS]: { prefix: 'checkpoints/', verbs: ['write'] } },
      readyTimeoutMs: 60_000,
    });
    return {
      world,
      lab,
      release,
      valetImage,
      trainerImage,
      batch: lab.kubeConfig.makeApiClient(BatchV1Api),
      s3,
      async stop() {
        s3.destroy();
        await world.stop();
      },
    };
  } catch (err) {
    s3.destroy();
    await world.stop();
    throw err;
  }
}

/** An Indexed Job of trainers (test/lab/images/trainer/train.py), labelled for injection by default. */
export function trainingJob(name: string, image: LabImage, bucket: string, o: TrainingJobOptions = {}): V1Job {
  const completions = o.completions ?? 4;
  const env = [
    { name: 'BUCKET', value: bucket },
    { name: 'SHARDS', value: SHARDS },
    { name: 'CHECKPOINTS', value: `checkpoints/${name}/` },
    { name: 'CHECKPOINT_ACCESS', value: WRITE_ACCESS },
    { name: 'FORBIDDEN_KEY', value: FORBIDDEN_KEY },
    { name: 'COMPLETIONS', value: String(completions) },
    { name: 'EPOCHS', value: String(o.epochs ?? 1) },
    { name: 'PAUSE_SECONDS', value: String(o.pauseSeconds ?? 0) },
  ];
  const labels = o.staticKeys ? { app: 'trainer' } : (o.labels ?? { 'valet.dev/inject': 'true', app: 'trainer' });
  return {
    metadata: { name, namespace: TEAM },
    spec: {
      completionMode: 'Indexed',
      completions,
      parallelism: o.parallelism ?? 2,
      backoffLimit: 0,
      template: {
        metadata: { labels, annotations: { 'valet.dev/default-access': READ_ACCESS } },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: o.serviceAccount ?? 'trainer',
          enableServiceLinks: false,
          containers: [
            {
              name: 'train',
              image: image.ref,
              imagePullPolicy: 'Never',
              env: o.staticKeys
                ? [
                    ...env,
                    { name: 'AWS_ACCESS_KEY_ID', value: o.staticKeys.accessKeyId },
                    { name: 'AWS_SECRET_ACCESS_KEY', value: o.staticKeys.secretAccessKey },
                    { name: 'AWS_REGION', value: 'us-east-1' },
                    ...(o.staticKeys.endpoint ? [{ name: 'AWS_ENDPOINT_URL_S3', value: o.staticKeys.endpoint }] : []),
                  ]
                : env,
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
            },
          ],
        },
      },
    },
  };
}

export async function jobPods(lab: Lab, job: string): Promise<V1Pod[]> {
  const pods = await lab.core.listNamespacedPod({ namespace: TEAM, labelSelector: `job-name=${job}` });
  return pods.items.sort((a, b) => Number(annotationIndex(a)) - Number(annotationIndex(b)));
}

function annotationIndex(p: V1Pod): string {
  return p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'] ?? '0';
}

/** Waits for the Job to Complete or Fail, and says which. */
export async function jobOutcome(cluster: TrainingCluster, job: string, timeoutMs = 180_000): Promise<'Complete' | 'Failed'> {
  return waitFor(
    `job ${TEAM}/${job} to finish`,
    async () => {
      const j = await cluster.batch.readNamespacedJob({ namespace: TEAM, name: job });
      const c = j.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
      return c?.type as 'Complete' | 'Failed' | undefined;
    },
    timeoutMs,
    500,
  );
}

/** The JSON lines a trainer printed (its container's log, read through the apiserver). */
export async function trainerReport(lab: Lab, pod: string): Promise<Record<string, unknown>[]> {
  const log = await lab.core.readNamespacedPodLog({ namespace: TEAM, name: pod, container: 'train' });
  return log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function checkpointKeys(cluster: TrainingCluster, job: string): Promise<string[]> {
  const out = await cluster.s3.send(new ListObjectsV2Command({ Bucket: cluster.lab.s3.bucket, Prefix: `checkpoints/${job}/` }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

/**
 * POST /v1/keys to the issuer through its Service, from inside the node (where the Service's
 * address exists), with `token` as the bearer and the CA the sidecars trust. The answer as is.
 */
export async function callIssuerInNode(cluster: TrainingCluster, token: string, body = ''): Promise<{ status: number; body: string }> {
  const { lab } = cluster;
  const node = lab.node;
  if (!node) throw new Error('the lab has no node');
  const svc = await lab.core.readNamespacedService({ namespace: RELEASE_NAMESPACE, name: RELEASE });
  const port = svc.spec?.ports?.find((p) => p.name === 'issuer')?.port;
  const ip = svc.spec?.clusterIP;
  const ca = (await lab.core.readNamespacedConfigMap({ namespace: TEAM, name: 'valet-issuer-ca' })).data?.['ca.crt'];
  if (!port || !ip || !ca) throw new Error('the issuer Service or its CA is missing');
  const dir = mkdtempSync(join(tmpdir(), 'valet-issuer-call-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), ca);
    writeFileSync(join(dir, 'token'), token);
    writeFileSync(join(dir, 'body'), body);
    const script = `const https = require('node:https'); const fs = require('node:fs');
const d = process.argv[1]; const body = fs.readFileSync(d + '/body');
const req = https.request({ host: ${JSON.stringify(ip)}, port: ${port}, servername: 'valet.${RELEASE_NAMESPACE}.svc', path: '/v1/keys', method: 'POST', ca: fs.readFileSync(d + '/ca.crt'),
  headers: { authorization: 'Bearer ' + fs.readFileSync(d + '/token', 'utf8'), 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
  let out = ''; res.on('data', (c) => (out += c)); res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, body: out })); });
});
req.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
req.end(body);`;
    const r = await node.exec(process.execPath, ['-e', script, dir], 20_000);
    if (r.code !== 0) throw new Error(`calling the issuer from the node failed: ${r.stderr.slice(0, 400)}`);
    return JSON.parse(r.stdout) as { status: number; body: string };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
