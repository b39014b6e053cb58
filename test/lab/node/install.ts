// Valet on the lab node, installed as a user installs it: the image built from the Dockerfile is
// imported into the node's containerd (no registry is reachable), `kubectl apply -f crds/`, then
// `helm install` of charts/valet with values for the local image and its pull policy only, and
// `--set crds.install=false` because the CRDs were applied first, as the README's two steps say.
import { join } from 'node:path';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { LabError } from '../build.ts';
import { buildHelm, helmCli, type Helm } from '../helm.ts';
import type { LabImage } from '../image.ts';
import type { Lab } from '../index.ts';
import { waitFor } from '../wait.ts';
import type { RunResult } from '../process.ts';

const root = join(import.meta.dirname, '..', '..', '..');

export const RELEASE = 'valet';
export const RELEASE_NAMESPACE = 'valet-system';

export interface ValetRelease {
  readonly name: string;
  readonly namespace: string;
  readonly helm: Helm;
  /** The values given on install (image and pull policy), for upgrades to repeat. */
  readonly imageValues: readonly string[];
  kubectl(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The operator pod holding the leader Lease, once one does. */
  leader(timeoutMs?: number): Promise<string>;
  /** Waits until `replicas` operator pods are Ready (their real readiness probes). */
  waitReady(replicas?: number, timeoutMs?: number): Promise<string[]>;
}

/** `--set` values for the image built here: its repository and tag, and never pull. */
export function imageValues(image: LabImage): string[] {
  const at = image.ref.lastIndexOf(':');
  return [
    `--set=image.repository=${image.ref.slice(0, at)}`,
    `--set=image.tag=${image.ref.slice(at + 1)}`,
    '--set=image.pullPolicy=Never',
    '--set=sidecar.pullPolicy=Never',
  ];
}

export async function installValet(lab: Lab, image: LabImage, extra: readonly string[] = []): Promise<ValetRelease> {
  const node = lab.node;
  if (!node) throw new LabError('installing Valet needs a lab started with node: true');
  await node.importImage(image.archive);
  const kubectl = node.kubectl;
  const applied = await kubectl(['apply', '-f', join(root, 'crds')]);
  if (applied.code !== 0) throw new LabError(`kubectl apply -f crds/ failed: ${applied.stderr}`);
  const crds = ['crd/datasetaccesses.valet.dev', 'crd/datasetstores.valet.dev', 'crd/clusterdatasetstores.valet.dev'];
  const established = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds], 70_000);
  if (established.code !== 0) throw new LabError(`the CRDs did not become Established: ${established.stderr}`);
  const helm = helmCli(await buildHelm(), join(lab.dir, 'helm'), lab.kubeconfig);
  const values = imageValues(image);
  await helm.ok(
    ['install', RELEASE, join(root, 'charts', 'valet'), '--namespace', RELEASE_NAMESPACE, '--create-namespace', ...values, '--set=crds.install=false', ...extra, '--wait', '--timeout=3m'],
    { timeoutMs: 200_000 },
  );
  const release: ValetRelease = {
    name: RELEASE,
    namespace: RELEASE_NAMESPACE,
    helm,
    imageValues: values,
    kubectl,
    async leader(timeoutMs = 60_000) {
      const coordination = lab.kubeConfig.makeApiClient(CoordinationV1Api);
      return waitFor(
        'an operator replica to hold the leader Lease',
        async () => {
          const lease = await coordination.readNamespacedLease({ namespace: RELEASE_NAMESPACE, name: 'valet-operator' });
          const holder = lease.spec?.holderIdentity;
          if (!holder) return undefined;
          // A holder that is no longer a running pod does not lead.
          const pods = await lab.core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: 'app.kubernetes.io/name=valet' });
          return pods.items.some((p) => p.metadata?.name === holder && !p.metadata?.deletionTimestamp) ? holder : undefined;
        },
        timeoutMs,
        250,
      );
    },
    async waitReady(replicas = 2, timeoutMs = 120_000) {
      return waitFor(
        `${replicas} Ready operator pods`,
        async () => {
          const pods = await lab.core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: 'app.kubernetes.io/name=valet' });
          const ready = pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
          return ready.length === replicas ? ready.map((p) => p.metadata?.name ?? '') : undefined;
        },
        timeoutMs,
        250,
      );
    },
  };
  return release;
}
