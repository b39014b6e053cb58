// The client matrix (issue #18) on the lab node: the data clients ML teams read with, unmodified
// and pinned (test/lab/images/clients), each in its own pod that the real webhook injected and a
// real kubelet started, with nothing but the environment the pod was given. Each row reads what
// the grant covers and is refused, with the client's own AccessDenied, what it does not. The AWS
// SDK for JavaScript v3 row runs in Valet's own image, which carries Node and the SDK.
//
// Registered by test/node/training-job.lab.test.ts inside its suite, so the matrix runs on that
// suite's cluster instead of starting (and paying for) one of its own.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { V1Job } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildClientsImage, type LabImage } from '../image.ts';
import { makeWdsShard } from '../shards.ts';
import { FORBIDDEN_KEY, jobOutcome, jobPods, READ_ACCESS, TEAM, type TrainingCluster } from './training.ts';

/** A read access with presigning, for the stable loader URLs webdataset reads. */
const LOADER_ACCESS = 'imagenet-loader';
const BLOB = 'imagenet/clients/blob.bin';
const PARQUET = 'imagenet/clients/train.parquet';
const PARQUET_ROWS = 1000;
const WDS = 'imagenet/wds/';
const WDS_SHARDS = 3;
const WDS_SAMPLES = 4;
const FORBIDDEN_PREFIX = 'imagenet-private/';

let cluster: TrainingCluster;
let clientsImage: LabImage;
const blob = randomBytes(256 * 1024);

interface Row {
  client: string;
  args: string[];
}

const common = () => ['--bucket', cluster.lab.s3.bucket, '--forbidden-key', FORBIDDEN_KEY];
const bytes = () => ['--allowed-key', BLOB, '--expect-size', String(blob.length), '--expect-sha256', createHash('sha256').update(blob).digest('hex')];
const listing = ['--allowed-prefix', 'imagenet/clients/', '--forbidden-prefix', FORBIDDEN_PREFIX];
const parquet = ['--parquet-key', PARQUET, '--expect-rows', String(PARQUET_ROWS)];

const ROWS: Row[] = [
  { client: 'boto3', args: [...bytes(), ...listing] },
  { client: 'awscli', args: [...bytes(), ...listing] },
  { client: 'pyarrow', args: [...bytes(), ...parquet, ...listing] },
  { client: 's3fs', args: [...bytes(), ...listing] },
  { client: 'pandas', args: parquet },
  { client: 'polars', args: parquet },
  { client: 's3torchconnector', args: [...bytes(), ...listing] },
  { client: 's5cmd', args: [...bytes(), ...listing] },
  { client: 'go-sdk-v2', args: [...bytes(), ...listing] },
];

/** A Job of one pod, labelled for injection, running `command` in `image`. */
function rowJob(name: string, image: LabImage, command: string[]): V1Job {
  return {
    metadata: { name, namespace: TEAM },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { 'valet.dev/inject': 'true', app: 'client-matrix' }, annotations: { 'valet.dev/default-access': READ_ACCESS } },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: 'trainer',
          enableServiceLinks: false,
          containers: [{ name: 'client', image: image.ref, imagePullPolicy: 'Never', command, resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '1Gi' } } }],
        },
      },
    },
  };
}

interface RowResult {
  outcome: 'Complete' | 'Failed';
  lines: { step: string; outcome: string; variant?: string; failures?: number; error?: string }[];
  log: string;
}

/** Rows run four at a time (their pods mostly wait on I/O); each test awaits its own. */
const started = new Map<string, Promise<RowResult>>();
let running = 0;
const queue: (() => void)[] = [];
function rowResult(name: string, image: LabImage, command: string[]): Promise<RowResult> {
  let p = started.get(name);
  if (!p) {
    p = (async () => {
      if (running >= 4) await new Promise<void>((r) => queue.push(r));
      running++;
      try {
        return await runRow(name, image, command);
      } finally {
        running--;
        queue.shift()?.();
      }
    })();
    started.set(name, p);
  }
  return p;
}

async function runRow(name: string, image: LabImage, command: string[]): Promise<RowResult> {
  await cluster.batch.createNamespacedJob({ namespace: TEAM, body: rowJob(name, image, command) });
  const outcome = await jobOutcome(cluster, name, 300_000);
  const [pod] = await jobPods(cluster.lab, name);
  const log = await cluster.lab.core.readNamespacedPodLog({ namespace: TEAM, name: pod?.metadata?.name ?? '', container: 'client' });
  const lines = log.split('\n').filter((l) => l.startsWith('{') && l.endsWith('}')).map((l) => JSON.parse(l) as RowResult['lines'][number]);
  return { outcome, lines, log };
}

/** webdataset over the stable loader URLs (clients.py resolves /… under VALET_LOADER_URL). */
function webdatasetRow(): Promise<RowResult> {
  const pattern = `/${LOADER_ACCESS}/${WDS}shard-{0000..${String(WDS_SHARDS - 1).padStart(4, '0')}}.tar`;
  return rowResult('client-webdataset', clientsImage, [
    'python3',
    '/app/clients.py',
    'webdataset',
    '--urls',
    pattern,
    '--forbidden-urls',
    `/${LOADER_ACCESS}/${FORBIDDEN_PREFIX}shard-0000.tar`,
    '--expect-samples',
    String(WDS_SHARDS * WDS_SAMPLES),
  ]);
}

/** The AWS SDK for JavaScript v3 default chain, in Valet's own image. */
function jsRow(): Promise<RowResult> {
  // forcePathStyle: the endpoint is a Service host name (the one line docs/clients.md gives).
  const script = `import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
  const s3 = new S3Client({ forcePathStyle: true });
  const out = {};
  const body = await (await s3.send(new GetObjectCommand({ Bucket: process.argv[1], Key: process.argv[2] }))).Body.transformToByteArray();
  out.read = body.length;
  try { await s3.send(new GetObjectCommand({ Bucket: process.argv[1], Key: process.argv[3] })); out.forbidden = 'ALLOWED'; } catch (e) { out.forbidden = e.name; out.status = e.$metadata?.httpStatusCode; }
  console.log(JSON.stringify(out));`;
  return rowResult('client-js-sdk-v3', cluster.valetImage, ['node', '--input-type=module', '-e', script, cluster.lab.s3.bucket, BLOB, FORBIDDEN_KEY]);
}

/** `valet doctor` in an injected pod (Valet's image as the app), as a user would run it there. */
function doctorRow(): Promise<RowResult> {
  return rowResult('client-valet-doctor', cluster.valetImage, ['node', '/app/src/cli/main.ts', 'doctor', '--json']);
}

/** Registers the matrix; `current` gives the running training cluster. */
export function describeClientMatrix(current: () => TrainingCluster): void {
  describe('the client matrix: each data client in its own injected pod, with only the pod\'s environment', () => {
    beforeAll(async () => {
      cluster = current();
      clientsImage = await buildClientsImage();
      await cluster.lab.node?.importImage(clientsImage.archive);
      const { lab, s3 } = cluster;
      const dir = mkdtempSync(join(tmpdir(), 'valet-clients-'));
      try {
        const put = (Key: string, Body: Buffer | string) => s3.send(new PutObjectCommand({ Bucket: lab.s3.bucket, Key, Body }));
        await put(BLOB, blob);
        await put(PARQUET, readFileSync(join(import.meta.dirname, '..', 'fixtures', 'train.parquet')));
        // What every row must be refused: an object and a folder that exist, outside the grant.
        await put(FORBIDDEN_KEY, 'not yours');
        await put(`${FORBIDDEN_PREFIX}shard-0000.tar`, 'not yours');
        for (let i = 0; i < WDS_SHARDS; i++) await put(`${WDS}shard-${String(i).padStart(4, '0')}.tar`, makeWdsShard(dir, i, WDS_SAMPLES));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      await cluster.world.createAccess(LOADER_ACCESS, { prefix: 'imagenet/', verbs: ['read', 'list'], presign: { enabled: true } }, TEAM);
      await cluster.world.waitReady(LOADER_ACCESS, 'True', TEAM, 60_000);
      // Start every row now; each test below awaits its own (failures surface there, not here).
      for (const r of ROWS) void rowResult(`client-${r.client}`, clientsImage, ['python3', '/app/clients.py', r.client, ...common(), ...r.args]).catch(() => undefined);
      void webdatasetRow().catch(() => undefined);
      void jsRow().catch(() => undefined);
      void doctorRow().catch(() => undefined);
    }, 900_000);

    it.each(ROWS.map((r) => [r.client, r] as const))('%s reads inside the grant and is refused outside it, with only the pod\'s environment', async (client, row) => {
      const r = await rowResult(`client-${client}`, clientsImage, ['python3', '/app/clients.py', client, ...common(), ...row.args]);
      expect(r.outcome, r.log).toBe('Complete');
      const steps = r.lines.filter((l) => l.step !== 'done');
      // Every variant of the row read what it was given, and was refused the forbidden object.
      expect(steps.filter((l) => l.outcome !== 'ok' && l.outcome !== 'refused'), r.log).toEqual([]);
      expect(steps.some((l) => l.step.startsWith('read') && !l.step.includes('forbidden') && l.outcome === 'ok'), r.log).toBe(true);
      expect(steps.filter((l) => l.step.includes('forbidden')).map((l) => l.outcome), r.log).toContain('refused');
      expect(steps.filter((l) => l.step.includes('forbidden') && l.outcome !== 'refused'), r.log).toEqual([]);
      expect(r.lines.at(-1), r.log).toMatchObject({ step: 'done', outcome: 'ok', failures: 0 });
    });

    it('webdataset reads every sample through the stable loader URLs, and a shard outside the grant is refused', async () => {
      const r = await webdatasetRow();
      expect(r.outcome, r.log).toBe('Complete');
      expect(r.lines.find((l) => l.step === 'read'), r.log).toMatchObject({ outcome: 'ok' });
      expect(r.lines.filter((l) => l.step.startsWith('read-forbidden')).map((l) => l.outcome), r.log).toEqual(['refused', 'refused']);
      expect(r.lines.at(-1), r.log).toMatchObject({ step: 'done', failures: 0 });
    });

    it('the AWS SDK for JavaScript v3 (in Valet\'s own image, which has Node and the SDK) reads inside the grant and gets AccessDenied outside it', async () => {
      const r = await jsRow();
      expect(r.outcome, r.log).toBe('Complete');
      expect(JSON.parse(r.log.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}'), r.log).toEqual({ read: blob.length, forbidden: 'AccessDenied', status: 403 });
    });

    it('valet doctor, run inside an injected pod, finds every SDK family served and nothing wrong', async () => {
      const r = await doctorRow();
      expect(r.outcome, r.log).toBe('Complete');
      // The report is pretty-printed JSON from its first line '{' to the end; anything before it is a warning.
      const lines = r.log.split('\n');
      expect(lines.indexOf('{'), r.log).toBeGreaterThanOrEqual(0);
      const report = JSON.parse(lines.slice(lines.indexOf('{')).join('\n')) as { problems: number; families: { family: string; ok: boolean }[]; findings: { level: string; what: string }[] };
      expect(report.problems, r.log).toBe(0);
      expect(report.families.filter((f) => !f.ok), r.log).toEqual([]);
      expect(report.findings.map((f) => f.what), r.log).toContainEqual(expect.stringMatching(/^the sidecar serves a key, valid for \d+ more minutes$/));
      expect(report.findings.map((f) => f.what), r.log).toContainEqual(expect.stringMatching(/^this clock is \d+\.\d s (ahead of|behind) the store's$/));
    });
  });
}
