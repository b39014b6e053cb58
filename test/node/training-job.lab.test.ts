// Valet as a platform team runs it: installed with `kubectl apply -f crds/` and `helm install` on a
// real node, from the image built from the Dockerfile. The apiserver calls the webhook through its
// Service, the kubelet mounts the projected token and holds the trainer back until the native
// sidecar serves keys, the sidecar reaches the issuer through its Service, each plain-boto3
// trainer of an Indexed Job reads its own shards, writes its checkpoint and is refused outside its
// grant, and the Job reaches Complete. The same cluster then runs the client matrix
// (test/lab/node/client-matrix.ts) and, last, the faults (test/lab/node/faults.ts, which end with
// `helm uninstall`): one helm-installed cluster for all three instead of one each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { isPodToken, loaderCapability } from '../../src/policy/index.ts';
import { describeClientMatrix } from '../lab/node/client-matrix.ts';
import { describeFaults } from '../lab/node/faults.ts';
import { nodeUnsupported } from '../lab/node/node.ts';
import { callIssuerInNode, checkpointKeys, jobOutcome, jobPods, SHARD_COUNT, startTrainingCluster, TEAM, trainerReport, trainingJob, type TrainingCluster } from '../lab/node/training.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { waitFor } from '../lab/wait.ts';

const unsupported = nodeUnsupported();
let cluster: TrainingCluster;

const sidecarOf = (p: V1Pod) => p.spec?.initContainers?.find((c) => c.name === 'valet-sidecar');

describe.skipIf(unsupported !== undefined)(`a training Job on the lab node${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  beforeAll(async () => {
    cluster = await startTrainingCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  useLabLogs(() => cluster?.lab);

  it('installs with helm: both operator replicas Ready through their probes, one of them leading', async () => {
    const ready = await cluster.release.waitReady(2);
    expect(ready).toHaveLength(2);
    expect(ready).toContain(await cluster.release.leader());
  });

  it('runs an Indexed Job of 4 plain-boto3 trainers, 2 at a time, to Complete: own shards read, checkpoints written, everything else refused', async () => {
    const { lab, batch, trainerImage } = cluster;
    await batch.createNamespacedJob({ namespace: TEAM, body: trainingJob('train', trainerImage, lab.s3.bucket, { completions: 4, parallelism: 2 }) });
    const outcome = await jobOutcome(cluster, 'train');
    const pods = await jobPods(lab, 'train');
    const reports = await Promise.all(pods.map(async (p) => trainerReport(lab, p.metadata?.name ?? '')));
    expect(outcome, JSON.stringify(reports)).toBe('Complete');
    expect(pods).toHaveLength(4);
    for (const [i, report] of reports.entries()) {
      expect(report.find((r) => r.step === 'list')).toMatchObject({ outcome: 'ok', shards: SHARD_COUNT, mine: SHARD_COUNT / 4 });
      expect(report.find((r) => r.step === 'read')).toMatchObject({ outcome: 'ok', reads: SHARD_COUNT / 4 });
      expect(report.find((r) => r.step === 'checkpoint')).toMatchObject({ outcome: 'ok', key: `checkpoints/train/rank-${i}.pt` });
      expect(report.filter((r) => r.outcome === 'refused').map((r) => [r.step, r.code])).toEqual([
        ['read outside the grant', 'AccessDenied'],
        ['write with the read-only key', 'AccessDenied'],
        ['read with the write-only key', 'AccessDenied'],
      ]);
      expect(report.at(-1)).toMatchObject({ step: 'done', outcome: 'ok', failures: 0 });
    }
    expect(await checkpointKeys(cluster, 'train')).toEqual([0, 1, 2, 3].map((i) => `checkpoints/train/rank-${i}.pt`));
  });

  it('each trainer pod got the native sidecar, the projected valet.dev token and the AWS variables, and started only once keys were served; the sidecar then stopped', async () => {
    const pods = await jobPods(cluster.lab, 'train');
    const tokens = new Set<string>();
    for (const pod of pods) {
      const sidecar = sidecarOf(pod);
      expect(sidecar?.restartPolicy).toBe('Always');
      expect(sidecar?.startupProbe?.httpGet?.path).toBe('/readyz');
      // The sidecar mounts a projected token for the valet.dev audience, at the path it reads.
      const mount = sidecar?.volumeMounts?.find((m) => m.name === 'valet-token');
      expect(mount?.mountPath).toBe('/var/run/secrets/valet.dev/serviceaccount');
      const volume = pod.spec?.volumes?.find((v) => v.name === 'valet-token');
      expect(volume?.projected?.sources?.map((s) => s.serviceAccountToken?.audience)).toEqual(['valet.dev']);
      const env = Object.fromEntries((pod.spec?.containers?.[0]?.env ?? []).map((e) => [e.name, e.value]));
      expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/credentials$/);
      expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).toBeTruthy();
      expect(env.AWS_ENDPOINT_URL_S3).toBe(cluster.lab.node?.minioUrl);
      // One token per pod, the same in the sidecar and the app (ADR 0010), and the loader URL made from it.
      const token = sidecar?.env?.find((e) => e.name === 'VALET_POD_AUTH_TOKEN')?.value ?? '';
      expect(isPodToken(token)).toBe(true);
      expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN).toBe(token);
      expect(env.VALET_LOADER_URL).toBe(`${String(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).replace(/\/v1\/credentials$/, '')}/v1/loader/${loaderCapability(token)}`);
      tokens.add(token);
      // The startup probe held the trainer: it started after the pod was Initialized (sidecar ready).
      const initialized = pod.status?.conditions?.find((c) => c.type === 'Initialized');
      const trainStarted = pod.status?.containerStatuses?.find((c) => c.name === 'train')?.state?.terminated?.startedAt;
      expect(initialized?.status).toBe('True');
      expect(trainStarted && initialized?.lastTransitionTime && new Date(trainStarted) >= new Date(initialized.lastTransitionTime)).toBe(true);
      expect(pod.status?.containerStatuses?.find((c) => c.name === 'train')?.state?.terminated?.exitCode).toBe(0);
      // The sidecar stopped when the trainer was done (the Job could complete).
      const sidecarState = pod.status?.initContainerStatuses?.find((c) => c.name === 'valet-sidecar')?.state;
      expect(sidecarState?.terminated, JSON.stringify(sidecarState)).toBeDefined();
    }
    expect(tokens.size).toBe(pods.length);
  });

  it('the token of a finished trainer pod mints nothing: the kubelet marked it Succeeded, and the issuer answers 403 PodFinished', async () => {
    const { lab } = cluster;
    const pod = (await jobPods(lab, 'train'))[0];
    const name = pod?.metadata?.name ?? '';
    const uid = pod?.metadata?.uid ?? '';
    expect((await lab.core.readNamespacedPod({ namespace: TEAM, name })).status?.phase).toBe('Succeeded');
    // A token bound to that pod, as anyone who kept a copy of its projected token would hold.
    const tr = await lab.core.createNamespacedServiceAccountToken({
      namespace: TEAM,
      name: 'trainer',
      body: { spec: { audiences: ['valet.dev'], expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid } } },
    });
    const r = await callIssuerInNode(cluster, tr.status?.token ?? '');
    expect(r.status, r.body).toBe(403);
    expect((JSON.parse(r.body) as { error?: { code?: string } }).error?.code).toBe('PodFinished');
    expect(r.body).not.toContain('ASIA');
  });

  it('a namespace created after the install gets the issuer CA before its first pod needs it (no failed mount)', async () => {
    const events = await cluster.lab.core.listNamespacedEvent({ namespace: TEAM, fieldSelector: 'reason=FailedMount' });
    expect(events.items.map((e) => e.message)).toEqual([]);
  });

  it('leaves a pod that is not labelled alone: no sidecar, no AWS variables', async () => {
    const { lab, batch, trainerImage } = cluster;
    const job = trainingJob('unlabelled', trainerImage, lab.s3.bucket, { completions: 1, parallelism: 1, labels: { app: 'trainer' } });
    const c = job.spec?.template.spec?.containers[0];
    if (c) c.command = ['python3', '-c', 'import os, json; print(json.dumps(sorted(k for k in os.environ if k.startswith("AWS_"))))'];
    await batch.createNamespacedJob({ namespace: TEAM, body: job });
    expect(await jobOutcome(cluster, 'unlabelled')).toBe('Complete');
    const [pod] = await jobPods(lab, 'unlabelled');
    expect(pod && sidecarOf(pod)).toBeUndefined();
    const log = await lab.core.readNamespacedPodLog({ namespace: TEAM, name: pod?.metadata?.name ?? '', container: 'train' });
    expect(JSON.parse(log.trim())).toEqual([]);
  });

  it("a pod spec's own static keys and profile do not win: the webhook removes them, the trainer uses Valet's keys, and the pod gets a CompetingCredentialsRemoved Event naming them", async () => {
    const { lab, batch, trainerImage } = cluster;
    const job = trainingJob('competing', trainerImage, lab.s3.bucket, { completions: 1, parallelism: 1 });
    const c = job.spec?.template.spec?.containers[0];
    // Wrong keys and a profile that does not exist: either would fail every boto3 call.
    c?.env?.push({ name: 'AWS_ACCESS_KEY_ID', value: 'AKIAWRONGWRONGWRONG' }, { name: 'AWS_SECRET_ACCESS_KEY', value: 'wrong-secret-value' }, { name: 'AWS_PROFILE', value: 'no-such-profile' });
    const created = await batch.createNamespacedJob({ namespace: TEAM, body: job });
    expect(created.metadata?.name).toBe('competing');
    const outcome = await jobOutcome(cluster, 'competing');
    const [pod] = await jobPods(lab, 'competing');
    const name = pod?.metadata?.name ?? '';
    expect(outcome, JSON.stringify(await trainerReport(lab, name))).toBe('Complete');
    expect(pod?.metadata?.annotations?.['valet.dev/removed-env']).toBe('train=AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_PROFILE');
    const names = (pod?.spec?.containers?.[0]?.env ?? []).map((e) => e.name);
    expect(names.filter((n) => ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE'].includes(n))).toEqual([]);
    const event = await waitFor(`a CompetingCredentialsRemoved Event on ${name}`, async () => {
      const events = await lab.core.listNamespacedEvent({ namespace: TEAM, fieldSelector: `involvedObject.name=${name}` });
      return events.items.find((e: CoreV1Event) => e.reason === 'CompetingCredentialsRemoved');
    });
    expect(event.type).toBe('Warning');
    expect(event?.message).toMatch(/\(train=AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_PROFILE\)/);
    expect(event.message).not.toMatch(/AKIAWRONG|wrong-secret-value/);
  });

  it('holds back a labelled pod that no DatasetAccess grants: no key, the trainer never starts, and a Warning Event on the pod says why', async () => {
    const { lab, batch, trainerImage } = cluster;
    await lab.core.createNamespacedServiceAccount({ namespace: TEAM, body: { metadata: { name: 'stranger' } } });
    await batch.createNamespacedJob({ namespace: TEAM, body: trainingJob('ungranted', trainerImage, lab.s3.bucket, { completions: 1, parallelism: 1, serviceAccount: 'stranger' }) });
    const pod = await waitFor('the ungranted pod', async () => (await jobPods(lab, 'ungranted'))[0]);
    const name = pod.metadata?.name ?? '';
    const event = await waitFor(
      `a KeyRefusedNoGrant Event on ${name}`,
      async () => {
        const events = await lab.core.listNamespacedEvent({ namespace: TEAM, fieldSelector: `involvedObject.name=${name}` });
        return events.items.find((e: CoreV1Event) => e.reason === 'KeyRefusedNoGrant');
      },
      60_000,
      500,
    );
    expect(event.type).toBe('Warning');
    expect(event.message).toMatch(/^valet sidecar holds no key: no DatasetAccess in namespace ml-team grants this pod \(checkpoints-write: ServiceAccountNotIncluded; imagenet-read: ServiceAccountNotIncluded\)/);
    const now = await lab.core.readNamespacedPod({ namespace: TEAM, name });
    const train = now.status?.containerStatuses?.find((c) => c.name === 'train');
    expect(train?.state?.running ?? train?.state?.terminated).toBeUndefined();
    expect(now.status?.initContainerStatuses?.find((c) => c.name === 'valet-sidecar')?.started).toBe(false);
    await batch.deleteNamespacedJob({ namespace: TEAM, name: 'ungranted', propagationPolicy: 'Background' });
  });

  // Last: its FailedMount Event is on purpose (the CA test above counts FailedMount Events).
  it("a tenant's pod cannot reach the store's key: no Secret in the team's namespace holds it, and a pod that mounts the Secret's name never starts", async () => {
    const { lab } = cluster;
    const secrets = await lab.core.listNamespacedSecret({ namespace: TEAM });
    const holding = secrets.items.filter((s) => Object.values(s.data ?? {}).some((v) => Buffer.from(v, 'base64').toString('utf8') === lab.s3.issuer.secretAccessKey));
    expect(holding.map((s) => s.metadata?.name)).toEqual([]);
    await lab.core.createNamespacedPod({
      namespace: TEAM,
      body: {
        metadata: { name: 'key-thief' },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'thief', image: cluster.trainerImage.ref, imagePullPolicy: 'Never', command: ['cat', '/stolen/secretAccessKey'], volumeMounts: [{ name: 'stolen', mountPath: '/stolen' }] }],
          volumes: [{ name: 'stolen', secret: { secretName: 'minio-issuer' } }],
        },
      },
    });
    const event = await waitFor(
      'a FailedMount Event on key-thief',
      async () => (await lab.core.listNamespacedEvent({ namespace: TEAM, fieldSelector: 'involvedObject.name=key-thief' })).items.find((e: CoreV1Event) => e.reason === 'FailedMount'),
      60_000,
      500,
    );
    expect(event.message).toContain('"minio-issuer" not found');
    const now = await lab.core.readNamespacedPod({ namespace: TEAM, name: 'key-thief' });
    expect(now.status?.phase).toBe('Pending');
    expect(now.status?.containerStatuses?.[0]?.state?.running ?? now.status?.containerStatuses?.[0]?.state?.terminated).toBeUndefined();
    await lab.core.deleteNamespacedPod({ namespace: TEAM, name: 'key-thief', gracePeriodSeconds: 0 });
  });
  describeClientMatrix(() => cluster);
  // Last: it ends with `helm uninstall`.
  describeFaults(() => cluster);
});
