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
