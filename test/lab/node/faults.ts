// Faults on real pods, in the order an operator meets them: a sidecar container killed under a
// running trainer, the issuer cut off from the pods for a while, the leading operator pod deleted,
// `helm upgrade` while a Job runs, and `helm uninstall`. Each trainer reads its shards over and
// over for a while; a failed read raises in the trainer, so its Job fails, and the test with it.
//
// Registered last by test/node/training-job.lab.test.ts (it ends with `helm uninstall`), so these
// run on that suite's cluster instead of starting one of their own.
import { beforeAll, describe, expect, it } from 'vitest';
import { CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { jobOutcome, jobPods, SHARD_COUNT, TEAM, trainerReport, trainingJob, type TrainingCluster } from './training.ts';
import { waitFor } from '../wait.ts';

let cluster: TrainingCluster;
/** A single trainer that reads for about `seconds`: every shard once a pass, a second after each read. */
const long = (seconds: number) => ({ completions: 1, parallelism: 1, epochs: Math.max(1, Math.round(seconds / SHARD_COUNT)), pauseSeconds: 1 });
const readsOf = (o: ReturnType<typeof long>) => o.epochs * SHARD_COUNT;

async function startJob(name: string, o: ReturnType<typeof long>): Promise<V1Pod> {
  await cluster.batch.createNamespacedJob({ namespace: TEAM, body: trainingJob(name, cluster.trainerImage, cluster.lab.s3.bucket, o) });
  // Running: the sidecar served keys, the trainer started.
  return waitFor(
    `the trainer of ${name} to run`,
    async () => {
      const [pod] = await jobPods(cluster.lab, name);
      return pod?.status?.containerStatuses?.find((c) => c.name === 'train')?.state?.running ? pod : undefined;
    },
    120_000,
    250,
  );
}

/** Completes with every read done and every refusal as expected (the trainer's own verdict). */
async function expectCleanRun(name: string, reads: number): Promise<void> {
  const outcome = await jobOutcome(cluster, name);
  const [pod] = await jobPods(cluster.lab, name);
  const report = await trainerReport(cluster.lab, pod?.metadata?.name ?? '');
  expect(outcome, JSON.stringify(report)).toBe('Complete');
  expect(report.find((r) => r.step === 'read')).toMatchObject({ outcome: 'ok', reads });
  expect(report.at(-1)).toMatchObject({ step: 'done', outcome: 'ok', failures: 0 });
}

const sidecarStatus = (p: V1Pod) => p.status?.initContainerStatuses?.find((c) => c.name === 'valet-sidecar');

/** The node's iptables: drop pod traffic to the operator's issuer port, as a network partition would. */
async function cutIssuer(on: boolean): Promise<void> {
  const rule = ['FORWARD', '-p', 'tcp', '--dport', '8443', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
  const r = await cluster.lab.node?.exec('iptables', [on ? '-I' : '-D', ...rule]);
  if (r?.code !== 0) throw new Error(`iptables ${on ? 'insert' : 'delete'} failed: ${r?.stderr}`);
}

/** Registers the fault suite; `current` gives the running training cluster. Leaves Valet uninstalled. */
export function describeFaults(current: () => TrainingCluster): void {
    describe('faults on real pods', { timeout: 300_000 }, () => {
    beforeAll(() => {
      cluster = current();
    });

    it('a killed sidecar container is restarted by the kubelet and the trainer keeps reading: no failed read', async () => {
      const pod = await startJob('sidecar-killed', long(16));
      await new Promise((r) => setTimeout(r, 3000));
      const id = sidecarStatus(pod)?.containerID?.replace(/^containerd:\/\//, '');
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      const killed = await cluster.lab.node?.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id ?? '']);
      expect(killed?.code, killed?.stderr).toBe(0);
      await waitFor(
        'the kubelet to restart the sidecar',
        async () => {
          const [now] = await jobPods(cluster.lab, 'sidecar-killed');
          return now && (sidecarStatus(now)?.restartCount ?? 0) >= 1;
        },
        60_000,
        250,
      );
      await expectCleanRun('sidecar-killed', readsOf(long(16)));
    });

    it('with the issuer unreachable, a running trainer keeps its keys and reads on; a new pod waits, then starts once the issuer is back', async () => {
      await startJob('through-outage', long(24));
      await cutIssuer(true);
      try {
        await cluster.batch.createNamespacedJob({ namespace: TEAM, body: trainingJob('during-outage', cluster.trainerImage, cluster.lab.s3.bucket, long(2)) });
        await waitFor('the pod created during the outage to be scheduled', async () => (await jobPods(cluster.lab, 'during-outage'))[0]?.spec?.nodeName);
        // Held back while the issuer cannot be reached: its trainer has not started.
        await new Promise((r) => setTimeout(r, 8000));
        const [held] = await jobPods(cluster.lab, 'during-outage');
        const train = held?.status?.containerStatuses?.find((c) => c.name === 'train')?.state;
        expect(train?.running ?? train?.terminated).toBeUndefined();
      } finally {
        await cutIssuer(false);
      }
      await expectCleanRun('during-outage', readsOf(long(2)));
      await expectCleanRun('through-outage', readsOf(long(24)));
    });

    it('deleting the leading operator pod hands the lead to the other replica, and a new labelled pod is still injected and served', async () => {
      const before = await cluster.release.leader();
      await cluster.lab.core.deleteNamespacedPod({ namespace: cluster.release.namespace, name: before });
      const after = await waitFor('another replica to lead', async () => {
        const l = await cluster.release.leader();
        return l !== before ? l : undefined;
      }, 90_000, 500);
      expect(after).not.toBe(before);
      await cluster.batch.createNamespacedJob({ namespace: TEAM, body: trainingJob('after-failover', cluster.trainerImage, cluster.lab.s3.bucket, long(2)) });
      await expectCleanRun('after-failover', readsOf(long(2)));
      const [pod] = await jobPods(cluster.lab, 'after-failover');
      expect(pod?.spec?.initContainers?.map((c) => c.name)).toEqual(['valet-sidecar']);
    });

    it('`helm upgrade` with a changed value rolls the operator while a Job runs, with no failed read', async () => {
      const podsBefore = (await cluster.lab.core.listNamespacedPod({ namespace: cluster.release.namespace })).items.map((p) => p.metadata?.name);
      await startJob('through-upgrade', long(24));
      const { release } = cluster;
      await release.helm.ok(['upgrade', release.name, `${import.meta.dirname}/../../../charts/valet`, '--namespace', release.namespace, ...release.imageValues, '--set=crds.install=false', '--set=operator.logLevel=debug', '--wait', '--timeout=3m'], { timeoutMs: 200_000 });
      const podsAfter = await release.waitReady(2);
      expect(podsAfter.filter((p) => podsBefore.includes(p))).toEqual([]);
      await expectCleanRun('through-upgrade', readsOf(long(24)));
    });

    it('`helm uninstall` keeps the CRDs and every DatasetAccess; a labelled pod created afterwards is not blocked: it runs, unmodified and without keys', async () => {
      const { release, lab } = cluster;
      const custom = lab.kubeConfig.makeApiClient(CustomObjectsApi);
      const list = async () => ((await custom.listNamespacedCustomObject({ group: 'valet.dev', version: 'v1alpha1', namespace: TEAM, plural: 'datasetaccesses' })) as { items: { metadata: { name: string } }[] }).items.map((a) => a.metadata.name).sort();
      const before = await list();
      expect(before).toEqual(expect.arrayContaining(['checkpoints-write', 'imagenet-read']));
      await release.helm.ok(['uninstall', release.name, '--namespace', release.namespace, '--wait', '--timeout=2m'], { timeoutMs: 150_000 });
      expect(await list()).toEqual(before);
      const webhooks = await lab.node?.kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name']);
      expect(webhooks?.stdout.trim()).toBe('');
      const job = trainingJob('after-uninstall', cluster.trainerImage, lab.s3.bucket, long(2));
      const c = job.spec?.template.spec?.containers[0];
      if (c) c.command = ['python3', '-c', 'import os, json, boto3; print(json.dumps({"aws": sorted(k for k in os.environ if k.startswith("AWS_")), "credentials": boto3.Session().get_credentials() is not None}))'];
      await cluster.batch.createNamespacedJob({ namespace: TEAM, body: job });
      expect(await jobOutcome(cluster, 'after-uninstall')).toBe('Complete');
      const [pod] = await jobPods(lab, 'after-uninstall');
      expect(pod?.metadata?.labels?.['valet.dev/inject']).toBe('true');
      expect(pod?.spec?.initContainers ?? []).toEqual([]);
      const log = await lab.core.readNamespacedPodLog({ namespace: TEAM, name: pod?.metadata?.name ?? '', container: 'train' });
      expect(JSON.parse(log.trim())).toEqual({ aws: [], credentials: false });
    });
  });
}
