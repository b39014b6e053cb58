// The pod mutation (ARCHITECTURE.md step 4): a pure, idempotent function from a pod being created
// and what grants it to a JSON patch that adds the valet sidecar as a native sidecar, its volumes,
// and the AWS variables in each app container. Every addition is decided by what the pod already
// has, so running it on its own output yields no patch, and nothing the user set is overwritten.
import { TOKEN_AUDIENCE } from '../api/v1alpha1/index.ts';
import type { InjectionSettings } from '../config/webhook.ts';
import { isPodToken, loaderCapability } from '../policy/index.ts';
import {
  COMPETING_ENV,
  ENV_GROUPS,
  INJECTED_ANNOTATION,
  INJECT_LABEL,
  METRICS_PORT_NAME,
  NOTE_ANNOTATION,
  PATHS,
  SIDECAR_NAME,
  DEFAULT_ACCESS_ANNOTATION,
  POD_TOKEN_ENV,
  REMOVED_ENV_ANNOTATION,
  SKIP_ANNOTATION,
  VALET_ENV,
  VOLUMES,
} from './constants.ts';
import type { PodGrant } from './grants.ts';
import { escapePointer } from './json-patch.ts';
import type { JsonPatchOp } from './json-patch.ts';
import type { Container, EnvVar, Pod, Volume, VolumeMount } from './pod.ts';
import { podDisplayName } from './pod.ts';

export interface InjectionContext {
  settings: InjectionSettings;
  /** The accesses that grant the pod (see matchGrants); AWS_REGION comes from the first with a region. */
  grants: readonly PodGrant[];
  /** Recorded in the valet.dev/injection-note annotation (why the pod will wait for keys). */
  note?: string;
  /**
   * The pod's loopback token for a pod not injected yet (generatePodToken; the caller makes it, so
   * this function stays pure). A pod injected already keeps the one in its sidecar's environment.
   */
  podToken: string;
}

export type MutationResult =
  /** The sidecar and volumes were added, and at least one access grants the pod. */
  | 'Injected'
  /** As Injected, but nothing grants the pod yet: the reason is in the note annotation. */
  | 'InjectedNoAccess'
  /** The pod already carries the sidecar; at most, app containers added since got their variables. */
  | 'AlreadyInjected'
  /** The pod does not carry valet.dev/inject: "true". */
  | 'NotSelected'
  /** The pod cannot be injected safely (a name or port clash, host networking). */
  | 'Refused';

export interface Mutation {
  result: MutationResult;
  /** Empty when nothing changes (then the webhook sends no patch at all). */
  patch: JsonPatchOp[];
  /** Annotations the patch sets. */
  annotations: Record<string, string>;
  /** App containers that were given variables or the shared volume. */
  containers: string[];
  /** Admission warnings for the user (kubectl prints them). */
  warnings: string[];
  /** For logs; for Refused, the reason the pod is refused. */
  message: string;
}


function sidecarContainer(s: InjectionSettings, podToken: string): Container {
  const probe = (path: string) => ({ httpGet: { path, port: s.metricsPort, scheme: 'HTTP' } });
  return {
    name: SIDECAR_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    args: [
      'sidecar',
      `--port=${s.port}`,
      `--metrics-address=0.0.0.0:${s.metricsPort}`,
      `--token-file=${PATHS.token}`,
      `--issuer-ca-file=${PATHS.issuerCa}`,
      `--auth-token-file=${PATHS.authToken}`,
    ],
    env: [
      { name: 'VALET_ISSUER_URL', value: s.issuerUrl },
      // Literal, like AWS_CONTAINER_AUTHORIZATION_TOKEN in the app containers: the same value for the
      // pod's whole life, so a sidecar restart does not break a process that read it (ADR 0010).
      { name: POD_TOKEN_ENV, value: podToken },
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      // Empty when the annotation is absent: the sidecar then serves its first access by default.
      { name: 'VALET_DEFAULT_ACCESS', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${DEFAULT_ACCESS_ANNOTATION}']` } } },
    ],
    ports: [{ name: METRICS_PORT_NAME, containerPort: s.metricsPort, protocol: 'TCP' }],
    // A native sidecar: starts before the app containers, runs beside them, and does not keep a Job alive.
    restartPolicy: 'Always',
    // The app containers start only once the sidecar holds a key (its /readyz).
    startupProbe: { ...probe('/readyz'), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: s.startupTimeoutSeconds },
    livenessProbe: { ...probe('/healthz'), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    resources: { requests: { ...s.resources.requests }, limits: { ...s.resources.limits } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: s.runAsUser,
      runAsGroup: s.runAsUser,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: VOLUMES.token, mountPath: PATHS.tokenDir, readOnly: true },
      { name: VOLUMES.issuerCa, mountPath: PATHS.issuerCaDir, readOnly: true },
      { name: VOLUMES.shared, mountPath: PATHS.sharedDir },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function volumes(s: InjectionSettings): Volume[] {
  return [
    { name: VOLUMES.token, projected: { sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: s.tokenExpirationSeconds, path: 'token' } }] } },
    { name: VOLUMES.shared, emptyDir: { medium: 'Memory', sizeLimit: s.sharedVolumeSizeLimit } },
    { name: VOLUMES.issuerCa, configMap: { name: s.issuerCaConfigMap, items: [{ key: s.issuerCaKey, path: 'ca.crt' }] } },
  ];
}

/** The token an injected pod carries in its sidecar's environment (none for pods injected before ADR 0010). */
function injectedPodToken(pod: Pod): string | undefined {
  const sidecar = (pod.spec?.initContainers ?? []).find((c) => c.name === SIDECAR_NAME);
  const value = sidecar?.env?.find((e) => e.name === POD_TOKEN_ENV)?.value;
  return value !== undefined && isPodToken(value) ? value : undefined;
}

/** Valet's own variables with the values this pod's containers must see. */
function valetEnv(s: InjectionSettings, podToken: string | undefined): Map<string, string> {
  const env = new Map<string, string>([
    ['AWS_CONTAINER_CREDENTIALS_FULL_URI', `http://127.0.0.1:${s.port}/v1/credentials`],
    ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', PATHS.authToken],
  ]);
  if (podToken !== undefined) {
    env.set('AWS_CONTAINER_AUTHORIZATION_TOKEN', podToken);
    env.set('VALET_LOADER_URL', `http://127.0.0.1:${s.port}/v1/loader/${loaderCapability(podToken)}`);
  }
  return env;
}

interface EnvChange {
  /** Indexes into the container's env to remove, highest first (so each stays valid). */
  remove: number[];
  add: EnvVar[];
  /** Names the pod spec set that were removed: competing variables and its own values for Valet's. */
  removed: string[];
}

/**
 * What one app container's environment needs: competing variables out, Valet's variables in with
 * Valet's values, and the region and endpoint where the user chose none.
 */
function appEnv(c: Container, ours: ReadonlyMap<string, string>, grants: readonly PodGrant[], warnings: string[]): EnvChange {
  const env = c.env ?? [];
  const competing = new Set<string>(COMPETING_ENV);
  const valetNames = new Set<string>(VALET_ENV);
  const remove: number[] = [];
  const removed = new Set<string>();
  const kept = new Set<string>();
  env.forEach((e, i) => {
    const mine = ours.get(e.name);
    if (mine !== undefined && e.value === mine && e.valueFrom === undefined && !kept.has(e.name)) return void kept.add(e.name);
    if (competing.has(e.name) || valetNames.has(e.name)) {
      remove.push(i);
      removed.add(e.name);
    }
  });
  const add: EnvVar[] = [...ours].filter(([name]) => !kept.has(name)).map(([name, value]) => ({ name, value }));
  const have = new Set(env.map((e) => e.name));
  const userSet = (group: readonly string[]) => group.some((n) => have.has(n));
  const grant = grants.find((g) => g.region !== undefined);
  if (grant?.region !== undefined && !userSet(ENV_GROUPS.region)) {
    add.push({ name: 'AWS_REGION', value: grant.region });
    add.push({ name: 'AWS_DEFAULT_REGION', value: grant.region });
  }
  if (grant?.endpoint && !userSet(ENV_GROUPS.endpoint)) add.push({ name: 'AWS_ENDPOINT_URL_S3', value: grant.endpoint });
  if (removed.size > 0) warnings.push(`valet: removed ${[...removed].join(', ')} from container ${JSON.stringify(c.name)} so its SDKs use valet's keys`);
  if ((c.envFrom ?? []).length > 0) warnings.push(`valet: container ${JSON.stringify(c.name)} takes variables from envFrom; valet cannot see them, and AWS keys or a profile there would win over valet's`);
  return { remove: remove.reverse(), add, removed: [...removed] };
}

/** `app=AWS_PROFILE,AWS_ACCESS_KEY_ID;worker=AWS_ROLE_ARN`, merged with what an earlier pass recorded. */
function removedEnvValue(previous: string | undefined, now: ReadonlyMap<string, readonly string[]>): string {
  const all = new Map<string, Set<string>>();
  for (const part of (previous ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    all.set(part.slice(0, eq), new Set(part.slice(eq + 1).split(',').filter((n) => n !== '')));
  }
  for (const [container, names] of now) {
    const set = all.get(container) ?? new Set<string>();
    for (const n of names) set.add(n);
    all.set(container, set);
  }
  return [...all].map(([container, names]) => `${container}=${[...names].join(',')}`).join(';');
}

/** Why this pod cannot be injected safely, or undefined. Checked only for pods not yet injected. */
function conflict(pod: Pod, s: InjectionSettings): string | undefined {
  const spec = pod.spec ?? {};
  if (spec.hostNetwork) return "a pod with hostNetwork: true cannot be injected: the sidecar's 127.0.0.1 would be the node's, shared with every host-network pod";
  const all = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  if (all.some((c) => c.name === SIDECAR_NAME)) return `the pod already has a container named ${JSON.stringify(SIDECAR_NAME)} but no ${INJECTED_ANNOTATION} annotation; rename it`;
  const ours = new Set<string>(Object.values(VOLUMES));
  const clash = (spec.volumes ?? []).find((v) => ours.has(v.name));
  if (clash) return `the pod already has a volume named ${JSON.stringify(clash.name)}, which valet adds; rename it`;
  for (const c of all) {
    for (const p of c.ports ?? []) {
      if (p.containerPort === s.port || p.containerPort === s.metricsPort) {
        return `container ${JSON.stringify(c.name)} uses port ${p.containerPort}, which the valet sidecar listens on (ports ${s.port} and ${s.metricsPort}); the pod shares one network namespace`;
      }
      if (p.name === METRICS_PORT_NAME) return `container ${JSON.stringify(c.name)} has a port named ${JSON.stringify(METRICS_PORT_NAME)}, which valet adds; rename it`;
    }
  }
  return undefined;
}

function skipped(pod: Pod): Set<string> {
  const raw = pod.metadata?.annotations?.[SKIP_ANNOTATION] ?? '';
  return new Set(raw.split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

/**
 * The patch that injects `pod`. Pure: the same pod and context always give the same patch, and
 * applying it then calling again gives an empty one.
 */
export function mutatePod(pod: Pod, ctx: InjectionContext): Mutation {
  const s = ctx.settings;
  const name = podDisplayName(pod);
  const none = (result: MutationResult, message: string): Mutation => ({ result, patch: [], annotations: {}, containers: [], warnings: [], message });
  if (pod.metadata?.labels?.[INJECT_LABEL] !== 'true') return none('NotSelected', `pod ${name} does not carry ${INJECT_LABEL}: "true"`);

  const spec = pod.spec ?? {};
  const patch: JsonPatchOp[] = [];
  const warnings: string[] = [];
  const annotations: Record<string, string> = {};
  const already = pod.metadata.annotations?.[INJECTED_ANNOTATION] === 'true';

  if (!already) {
    const why = conflict(pod, s);
    if (why) return none('Refused', why);
    annotations[INJECTED_ANNOTATION] = 'true';
    if (ctx.note) annotations[NOTE_ANNOTATION] = ctx.note;

    const vols = volumes(s);
    if (spec.volumes) for (const v of vols) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
    else patch.push({ op: 'add', path: '/spec/volumes', value: vols });

    // First among init containers: later init containers (and all app containers) start with keys ready.
    const sidecar = sidecarContainer(s, ctx.podToken);
    if (spec.initContainers) patch.push({ op: 'add', path: '/spec/initContainers/0', value: sidecar });
    else patch.push({ op: 'add', path: '/spec/initContainers', value: [sidecar] });
  }

  // App containers: on a fresh pod all of them, on an injected one those a later webhook added
  // (reinvocation); in both cases only what is missing.
  const ours = valetEnv(s, already ? injectedPodToken(pod) : ctx.podToken);
  const skip = skipped(pod);
  const containers: string[] = [];
  const removedByContainer = new Map<string, readonly string[]>();
  (spec.containers ?? []).forEach((c, i) => {
    if (skip.has(c.name)) return;
    const base = `/spec/containers/${i}`;
    const env = appEnv(c, ours, ctx.grants, warnings);
    for (const j of env.remove) patch.push({ op: 'remove', path: `${base}/env/${j}` });
    if (env.add.length > 0) {
      if (c.env) for (const e of env.add) patch.push({ op: 'add', path: `${base}/env/-`, value: e });
      else patch.push({ op: 'add', path: `${base}/env`, value: env.add });
    }
    if (env.removed.length > 0) removedByContainer.set(c.name, env.removed);
    const mounts = c.volumeMounts ?? [];
    const hasMount = mounts.some((m) => m.name === VOLUMES.shared || m.mountPath === PATHS.sharedDir);
    if (!hasMount) {
      const mount: VolumeMount = { name: VOLUMES.shared, mountPath: PATHS.sharedDir, readOnly: true };
      patch.push(c.volumeMounts ? { op: 'add', path: `${base}/volumeMounts/-`, value: mount } : { op: 'add', path: `${base}/volumeMounts`, value: [mount] });
    } else if (!mounts.some((m) => m.name === VOLUMES.shared)) {
      warnings.push(`valet: container ${JSON.stringify(c.name)} mounts something else at ${PATHS.sharedDir}; it cannot reach valet's keys`);
    }
    if (env.add.length > 0 || env.remove.length > 0 || !hasMount) containers.push(c.name);
  });
  for (const n of skip) if (!(spec.containers ?? []).some((c) => c.name === n)) warnings.push(`valet: ${SKIP_ANNOTATION} names ${JSON.stringify(n)}, which is no container of this pod`);
  // Names only: the issuer reads this and puts a CompetingCredentialsRemoved Event on the pod.
  if (removedByContainer.size > 0) annotations[REMOVED_ENV_ANNOTATION] = removedEnvValue(pod.metadata.annotations?.[REMOVED_ENV_ANNOTATION], removedByContainer);
  const annotationOps: JsonPatchOp[] = pod.metadata.annotations
    ? Object.entries(annotations).map(([k, v]) => ({ op: 'add', path: `/metadata/annotations/${escapePointer(k)}`, value: v }))
    : Object.keys(annotations).length > 0
      ? [{ op: 'add', path: '/metadata/annotations', value: { ...annotations } }]
      : [];
  patch.unshift(...annotationOps);

  if (already) {
    return { result: 'AlreadyInjected', patch, annotations, containers, warnings, message: patch.length ? `pod ${name} was injected already; gave ${containers.join(', ')} the valet variables` : `pod ${name} was injected already` };
  }
  const result: MutationResult = ctx.grants.length > 0 ? 'Injected' : 'InjectedNoAccess';
  // Admission warnings are cut at 120 characters; the whole reason is in the annotation.
  if (ctx.note) warnings.push(`valet: the app will wait for keys; see annotation ${NOTE_ANNOTATION} on the pod`);
  return { result, patch, annotations, containers, warnings, message: `injected pod ${name}` };
}
