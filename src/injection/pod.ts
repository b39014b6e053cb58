// The part of a v1 Pod the mutation reads and writes. Fields it does not know pass through
// untouched: the mutation answers with a JSON patch, never with a rewritten pod.

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  [field: string]: unknown;
}

export interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  envFrom?: unknown[];
  volumeMounts?: VolumeMount[];
  ports?: ContainerPort[];
  restartPolicy?: string;
  [field: string]: unknown;
}

export interface Volume {
  name: string;
  [field: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  spec?: {
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers?: Container[];
    initContainers?: Container[];
    volumes?: Volume[];
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** A name for logs and messages: the pod's name, or its generateName with `*` (Job and ReplicaSet pods). */
export function podDisplayName(pod: Pod): string {
  return pod.metadata?.name || (pod.metadata?.generateName ? `${pod.metadata.generateName}*` : '(unnamed)');
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Why `obj` does not have the shape of a Pod as far as the mutation reads it, or undefined. The
 * API server always sends well-formed pods, but the webhook's Service is reachable by any client in
 * the cluster: bad input must get a 400, not a crash.
 */
export function podShapeProblem(obj: unknown): string | undefined {
  if (!isRecord(obj)) return 'the object is not a JSON object';
  const stringMap = (v: unknown) => v === undefined || (isRecord(v) && Object.values(v).every((x) => typeof x === 'string'));
  const meta = obj.metadata;
  if (meta !== undefined && !isRecord(meta)) return 'metadata is not an object';
  if (isRecord(meta) && !stringMap(meta.labels)) return 'metadata.labels is not a map of strings';
  if (isRecord(meta) && !stringMap(meta.annotations)) return 'metadata.annotations is not a map of strings';
  const spec = obj.spec;
  if (!isRecord(spec)) return 'spec is not an object';
  const listOfObjects = (v: unknown) => v === undefined || (Array.isArray(v) && v.every(isRecord));
  if (!Array.isArray(spec.containers) || !spec.containers.every(isRecord)) return 'spec.containers is not a list of objects';
  for (const field of ['initContainers', 'volumes'] as const) if (!listOfObjects(spec[field])) return `spec.${field} is not a list of objects`;
  for (const field of ['containers', 'initContainers'] as const) {
    const list = (spec[field] ?? []) as Record<string, unknown>[];
    for (const [i, c] of list.entries()) {
      if (typeof c.name !== 'string') return `spec.${field}[${i}].name is not a string`;
      for (const sub of ['env', 'ports', 'volumeMounts'] as const) if (!listOfObjects(c[sub])) return `spec.${field}[${i}].${sub} is not a list of objects`;
    }
  }
  for (const [i, v] of ((spec.volumes ?? []) as Record<string, unknown>[]).entries()) if (typeof v.name !== 'string') return `spec.volumes[${i}].name is not a string`;
  return undefined;
}
