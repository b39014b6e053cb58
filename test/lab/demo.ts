// `npm run demo`: the whole mission on a real node. Start the lab with its node; build Valet's image
// from the Dockerfile and a plain-boto3 training image; install Valet with `kubectl apply -f crds/`
// and `helm install`; an admin declares a store, the team two accesses (read-only shards,
// write-only checkpoints); an Indexed Job of 4 trainers (2 at a time), labelled for injection, runs
// to Complete on the kubelet. Show what the webhook injected, what each trainer did and was
// refused, and a one-line verdict; then stop everything and check that nothing is left.
import { randomUUID } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { cgroupPrefix, cgroupRootsOf, nodeUnsupported } from './node/node.ts';
import { checkpointKeys, jobOutcome, jobPods, READ_ACCESS, SHARD_COUNT, startTrainingCluster, TEAM, trainerReport, trainingJob, WRITE_ACCESS } from './node/training.ts';
import { findRunProcesses } from './reaper.ts';

const out = (s = '') => process.stdout.write(s + '\n');
const step = (s: string) => out(`\n== ${s}`);
const COMPLETIONS = 4;
const PARALLELISM = 2;

function showInjected(pod: V1Pod): void {
  const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'valet-sidecar');
  const app = pod.spec?.containers?.find((c) => c.name === 'train');
  out(`pod ${pod.metadata?.name} (serviceAccount ${pod.spec?.serviceAccountName}):`);
  if (sidecar) {
    out(`  initContainers[0] ${sidecar.name}: image ${sidecar.image}, restartPolicy ${sidecar.restartPolicy} (a native sidecar),`);
    out(`    startupProbe ${sidecar.startupProbe?.httpGet?.path} on :${sidecar.startupProbe?.httpGet?.port} (the trainer waits for keys)`);
  }
  for (const v of pod.spec?.volumes ?? []) {
    const token = v.projected?.sources?.find((s) => s.serviceAccountToken?.audience)?.serviceAccountToken;
    if (token) out(`  volume ${v.name}: projected service-account token, audience ${token.audience}, ${token.expirationSeconds} s`);
    else if (v.configMap || v.emptyDir) out(`  volume ${v.name}: ${v.configMap ? `ConfigMap ${v.configMap.name}` : 'in-memory emptyDir'}`);
  }
  out(`  container ${app?.name}: the variables the webhook added (the trainer passes nothing to boto3):`);
  for (const e of app?.env ?? []) if (e.name.startsWith('AWS_')) out(`    ${e.name}=${e.value}`);
}

function showReport(index: number, lines: Record<string, unknown>[]): boolean {
  let good = false;
  for (const r of lines) {
    const { worker: _w, step: s, outcome, ...rest } = r;
    const detail = Object.entries(rest)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    out(`  [trainer ${index}] ${String(outcome).padEnd(8)} ${String(s)}${detail ? `  (${detail})` : ''}`);
    if (s === 'done' && outcome === 'ok') good = true;
  }
  return good;
}

export async function demo(): Promise<number> {
  const started = Date.now();
  const unsupported = nodeUnsupported();
  if (unsupported) {
    process.stderr.write(`demo: ${unsupported}\n`);
    return 1;
  }
  // Mark what this demo starts, to check at the end that all of it stopped.
  process.env.VALET_LAB_RUN ??= randomUUID();
  const run = process.env.VALET_LAB_RUN;
  step('Starting the lab: kube-apiserver, etcd, MinIO and a real node (kubelet, containerd, kube-proxy, CoreDNS); building the images from their Dockerfiles; helm install');
  out('(the first run builds everything it needs and shows its progress; later runs use the cache)');
  const cluster = await startTrainingCluster();
  let good: boolean;
  try {
    const { lab, release } = cluster;
    const v = await lab.versions();
    const node = await lab.core.readNode({ name: lab.node?.name ?? '' });
    out(`kube-apiserver ${v.kubeApiserver}, node ${node.metadata?.name} kubelet ${node.status?.nodeInfo?.kubeletVersion} on ${node.status?.nodeInfo?.containerRuntimeVersion}, MinIO ${v.minio}`);
    out(`images: ${cluster.valetImage.ref} (Valet, from the Dockerfile), ${cluster.trainerImage.ref} (Python + boto3)`);
    const replicas = await release.waitReady(2);
    out(`helm release ${release.name} in ${release.namespace}: ${replicas.length} operator pods Ready, ${await release.leader()} leads`);

    step('An admin declared a store; the team declared two accesses');
    out(`ClusterDatasetStore lab-minio (selects ${TEAM}) -> bucket ${lab.s3.bucket} at ${lab.node?.minioUrl}`);
    out(`DatasetAccess ${READ_ACCESS}: read+list on imagenet/ (the pod's default); DatasetAccess ${WRITE_ACCESS}: write on checkpoints/`);

    step(`An Indexed Job of ${COMPLETIONS} trainers, ${PARALLELISM} at a time, labelled valet.dev/inject=true`);
    const jobStarted = Date.now();
    await cluster.batch.createNamespacedJob({ namespace: TEAM, body: trainingJob('train', cluster.trainerImage, lab.s3.bucket, { completions: COMPLETIONS, parallelism: PARALLELISM }) });
    const outcome = await jobOutcome(cluster, 'train');
    const seconds = Math.round((Date.now() - jobStarted) / 1000);
    const pods = await jobPods(lab, 'train');
    if (pods[0]) {
      step('What the webhook injected (the first pod, in short)');
      showInjected(pods[0]);
    }
    step(`What the trainers did (each reads its ${SHARD_COUNT / COMPLETIONS} of ${SHARD_COUNT} shards)`);
    let trainersGood = 0;
    for (const [i, p] of pods.entries()) if (showReport(i, await trainerReport(lab, p.metadata?.name ?? ''))) trainersGood++;
    const checkpoints = await checkpointKeys(cluster, 'train');
    out(`checkpoints in the bucket: ${checkpoints.join(', ')}`);
    good = outcome === 'Complete' && trainersGood === COMPLETIONS && checkpoints.length === COMPLETIONS;
    out(
      good
        ? `\nVERDICT: Job train Complete in ${seconds} s on a real kubelet: ${COMPLETIONS} pods read their shards and wrote their checkpoints with short-lived keys that could do nothing else.`
        : `\nVERDICT: UNEXPECTED: Job ${outcome}, ${trainersGood}/${COMPLETIONS} trainers as expected, ${checkpoints.length} checkpoints (logs: ${lab.logsDir}).`,
    );
  } finally {
    await cluster.stop();
  }
  const left = findRunProcesses(run);
  const cgroups = cgroupRootsOf(cgroupPrefix(run));
  if (left.length > 0 || cgroups.length > 0) {
    out(`LEFT BEHIND: ${[...left.map((p) => `${p.pid} ${p.command}`), ...cgroups.map((c) => `cgroup ${c}`)].join(', ')}`);
    return 1;
  }
  out(`Everything stopped; nothing left running. (${Math.round((Date.now() - started) / 1000)} s in all)`);
  return good ? 0 : 1;
}
