// 8. Job start on a real node: an Indexed Job of 8 plain-boto3 trainers, all at once, on the lab
// node with Valet installed by helm. Measured: from the Job's creation to every pod's first
// successful read (the trainer's `list` line, as the kubelet timestamps it in the pod log). The
// comparison is the same Job given static keys in its environment (no label, so no sidecar, no
// webhook call, no issuer), run in the same cluster. Runs alternate, static first, ROUNDS each; the
// figure is the median. Goal: Valet ≤ 1.5× the static-key Job.
// Alone: node bench/run.ts job-start-node (root: it needs the lab node).
import type { Benchmark } from './lib/report.ts';
import { fmt } from './lib/report.ts';
import { percentile } from './lib/stats.ts';
import { nodeUnsupported } from '../test/lab/node/node.ts';
import { jobOutcome, jobPods, startTrainingCluster, TEAM, trainingJob, type TrainingCluster } from '../test/lab/node/training.ts';
import { waitFor } from '../test/lab/wait.ts';

const PODS = 8;
const ROUNDS = 3;
const GOAL = 1.5;


/** Milliseconds from creating the Job to the last of its pods' first successful read. */
async function timeToFirstReads(c: TrainingCluster, name: string, staticKeys: boolean): Promise<number> {
  const job = trainingJob(name, c.trainerImage, c.lab.s3.bucket, {
    completions: PODS,
    parallelism: PODS,
    ...(staticKeys ? { staticKeys: { ...c.lab.s3.issuer, endpoint: c.lab.node?.minioUrl } } : {}),
  });
  const created = Date.now();
  await c.batch.createNamespacedJob({ namespace: TEAM, body: job });
  const firstReads = await waitFor(
    `every pod of ${name} to read`,
    async () => {
      const pods = await jobPods(c.lab, name);
      if (pods.length < PODS) return undefined;
      const times: number[] = [];
      for (const p of pods) {
        const log = await c.lab.core.readNamespacedPodLog({ namespace: TEAM, name: p.metadata?.name ?? '', container: 'train', timestamps: true }).catch(() => '');
        const line = log.split('\n').find((l) => l.includes('"step": "list"') && l.includes('"outcome": "ok"'));
        if (!line) return undefined;
        times.push(Date.parse(line.slice(0, line.indexOf(' '))));
      }
      return times;
    },
    180_000,
    200,
  );
  await jobOutcome(c, name).catch(() => undefined);
  await c.batch.deleteNamespacedJob({ namespace: TEAM, name, propagationPolicy: 'Foreground' });
  return Math.max(...firstReads) - created;
}

export const nodeJobStart: Benchmark = {
  name: 'job-start-node',
  title: `Job start on the lab node: ${PODS} trainers from Job creation to every first read, Valet vs static keys`,
  async run(ctx) {
    const why = nodeUnsupported();
    if (why) throw new Error(why);
    ctx.log('starting the lab with its node and installing Valet with helm');
    const c = await startTrainingCluster();
    try {
      const valet: number[] = [];
      const plain: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        plain.push(await timeToFirstReads(c, `static-${i}`, true));
        valet.push(await timeToFirstReads(c, `valet-${i}`, false));
        ctx.log(`round ${i + 1}: static keys ${fmt.s(plain.at(-1) ?? NaN)}, Valet ${fmt.s(valet.at(-1) ?? NaN)}`);
      }
      const v = percentile(valet, 50);
      const p = percentile(plain, 50);
      const ratio = v / p;
      return {
        rows: [{ metric: `${PODS} pods: Job created → every first read (median of ${ROUNDS})`, valet: fmt.s(v), comparison: `${fmt.s(p)} (static keys)`, ratio: fmt.x(ratio), goal: `≤ ${GOAL}×`, met: ratio <= GOAL }],
        details: { pods: PODS, rounds: ROUNDS, valetMs: valet, staticMs: plain },
        notes: [`Valet's Job waits for each pod's sidecar to start, fetch keys from the issuer (TokenReview, STS) and pass its startup probe before the trainer starts; the static-key Job has no sidecar.`],
      };
    } finally {
      await c.stop();
    }
  },
};
