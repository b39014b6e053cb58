// The pod mutation (ARCHITECTURE.md step 4): a pure, idempotent function from a pod being created
// and what grants it to a JSON patch that adds the valet sidecar as a native sidecar, its volumes,
// and the AWS variables in each app container. Every addition is decided by what the pod already
// has, so running it on its own output yields no patch, and nothing the user set is overwritten.
import type { InjectionSettings } from '../config/webhook.ts';
import {
  ENV_GROUPS,
  INJECTED_ANNOTATION,
  INJECT_LABEL,
  METRICS_PORT_NAME,
  NOTE_ANNOTATION,
  PATHS,
  SIDECAR_NAME,
  DEFAULT_ACCESS_ANNOTATION,
  SKIP_ANNOTATION,
  STATIC_KEY_VARS,
  TOKEN_AUDIENCE,
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

const envNames = (c: Container) => new Set((c.env ?? []).map((e) => e.name));

function sidecarContainer(s: InjectionSettings): Container {
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

/** The variables one app container gets, group by group; a group the user set any member of is theirs. */
function appEnv(c: Container, s: InjectionSettings, grants: readonly PodGrant[], warnings: string[]): EnvVar[] {
  const have = envNames(c);
  const userSet = (group: readonly string[]) => group.filter((n) => have.has(n));
  const out: EnvVar[] = [];
  const creds = userSet(ENV_GROUPS.credentials);
  if (creds.length === 0) {
    out.push({ name: 'AWS_CONTAINER_CREDENTIALS_FULL_URI', value: `http://127.0.0.1:${s.port}/v1/credentials` });
    out.push({ name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', value: PATHS.authToken });
  } else if (!have.has('AWS_CONTAINER_CREDENTIALS_FULL_URI') || !have.has('AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE')) {
    warnings.push(`valet: container ${JSON.stringify(c.name)} sets ${creds.join(', ')}; its SDKs may not use valet's keys`);
  }
  const grant = grants.find((g) => g.region !== undefined);
  if (grant?.region !== undefined && userSet(ENV_GROUPS.region).length === 0) {
    out.push({ name: 'AWS_REGION', value: grant.region });
    out.push({ name: 'AWS_DEFAULT_REGION', value: grant.region });
  }
  if (grant?.endpoint && userSet(ENV_GROUPS.endpoint).length === 0) out.push({ name: 'AWS_ENDPOINT_URL_S3', value: grant.endpoint });
  const statics = STATIC_KEY_VARS.filter((n) => have.has(n));
  if (statics.length > 0) warnings.push(`valet: container ${JSON.stringify(c.name)} sets ${statics.join(', ')}, which SDKs use before valet's keys`);
  return out;
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
    if (pod.metadata.annotations) for (const [k, v] of Object.entries(annotations)) patch.push({ op: 'add', path: `/metadata/annotations/${escapePointer(k)}`, value: v });
    else patch.push({ op: 'add', path: '/metadata/annotations', value: { ...annotations } });

    const vols = volumes(s);
    if (spec.volumes) for (const v of vols) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
    else patch.push({ op: 'add', path: '/spec/volumes', value: vols });

    // First among init containers: later init containers (and all app containers) start with keys ready.
    const sidecar = sidecarContainer(s);
    if (spec.initContainers) patch.push({ op: 'add', path: '/spec/initContainers/0', value: sidecar });
    else patch.push({ op: 'add', path: '/spec/initContainers', value: [sidecar] });
  }

  // App containers: on a fresh pod all of them, on an injected one those a later webhook added
  // (reinvocation); in both cases only what is missing.
  const skip = skipped(pod);
  const containers: string[] = [];
  (spec.containers ?? []).forEach((c, i) => {
    if (skip.has(c.name)) return;
    const base = `/spec/containers/${i}`;
    const env = appEnv(c, s, ctx.grants, warnings);
    if (env.length > 0) {
      if (c.env) for (const e of env) patch.push({ op: 'add', path: `${base}/env/-`, value: e });
      else patch.push({ op: 'add', path: `${base}/env`, value: env });
    }
    const mounts = c.volumeMounts ?? [];
    const hasMount = mounts.some((m) => m.name === VOLUMES.shared || m.mountPath === PATHS.sharedDir);
    if (!hasMount) {
      const mount: VolumeMount = { name: VOLUMES.shared, mountPath: PATHS.sharedDir, readOnly: true };
      patch.push(c.volumeMounts ? { op: 'add', path: `${base}/volumeMounts/-`, value: mount } : { op: 'add', path: `${base}/volumeMounts`, value: [mount] });
    } else if (!mounts.some((m) => m.name === VOLUMES.shared)) {
      warnings.push(`valet: container ${JSON.stringify(c.name)} mounts something else at ${PATHS.sharedDir}; it cannot reach valet's keys`);
    }
    if (env.length > 0 || !hasMount) containers.push(c.name);
  });
  for (const n of skip) if (!(spec.containers ?? []).some((c) => c.name === n)) warnings.push(`valet: ${SKIP_ANNOTATION} names ${JSON.stringify(n)}, which is no container of this pod`);

  if (already) {
    return { result: 'AlreadyInjected', patch, annotations, containers, warnings, message: patch.length ? `pod ${name} was injected already; gave ${containers.join(', ')} the valet variables` : `pod ${name} was injected already` };
  }
  const result: MutationResult = ctx.grants.length > 0 ? 'Injected' : 'InjectedNoAccess';
  // Admission warnings are cut at 120 characters; the whole reason is in the annotation.
  if (ctx.note) warnings.push(`valet: the app will wait for keys; see annotation ${NOTE_ANNOTATION} on the pod`);
  return { result, patch, annotations, containers, warnings, message: `injected pod ${name}` };
}
