// The field lists that keep types.ts and crds/*.yaml in step. Each tree names every field of a
// kind's spec and status: `satisfies FieldTree<T>` makes tsc refuse a tree that misses a field of
// T or names one T lacks, and schema.test.ts refuses a tree whose paths differ from the CRD's
// OpenAPI schema. So a field added on one side only fails the build or the test.
import type {
  ClusterDatasetStoreSpec,
  DatasetAccessSpec,
  DatasetAccessStatus,
  DatasetStoreSpec,
  LabelSelector,
  StoreStatus,
} from './types.ts';

/** A leaf: a scalar, a list of scalars, or a string map (additionalProperties). */
export type Leaf = true;

/** Every key of T (optional ones too), nested objects and lists of objects as sub-trees. */
export type FieldTree<T> = { [K in keyof T]-?: FieldNode<NonNullable<T[K]>> };

type FieldNode<V> = V extends readonly (infer E)[]
  ? E extends object
    ? FieldTree<E>
    : Leaf
  : V extends object
    ? string extends keyof V
      ? Leaf
      : FieldTree<V>
    : Leaf;

const labelSelector = {
  matchLabels: true,
  matchExpressions: { key: true, operator: true, values: true },
} as const satisfies FieldTree<LabelSelector>;

const conditions = {
  type: true,
  status: true,
  observedGeneration: true,
  lastTransitionTime: true,
  reason: true,
  message: true,
} as const;

const storeStatus = {
  observedGeneration: true,
  conditions,
} as const satisfies FieldTree<StoreStatus>;

const secretKeys = { name: true, accessKeyIdKey: true, secretAccessKeyKey: true } as const;
const azureSecret = { name: true, accountKeyKey: true } as const;
const gcsSecret = { name: true, serviceAccountKeyKey: true, accessIdKey: true, secretKey: true } as const;

export const datasetStoreSpecFields = {
  provider: true,
  bucket: true,
  region: true,
  endpoint: true,
  stsEndpoint: true,
  roleArn: true,
  externalId: true,
  auth: { mode: true, secretRef: secretKeys },
  azureBlob: { accountName: true, container: true, endpoint: true, auth: { mode: true, secretRef: azureSecret } },
  gcs: { bucket: true, endpoint: true, auth: { mode: true, secretRef: gcsSecret } },
  allowedPrefixes: true,
  allowedVerbs: true,
  maxSessionDurationSeconds: true,
  sessionTags: true,
} as const satisfies FieldTree<DatasetStoreSpec>;

export const clusterDatasetStoreSpecFields = {
  ...datasetStoreSpecFields,
  auth: { mode: true, secretRef: { ...secretKeys, namespace: true } },
  azureBlob: { ...datasetStoreSpecFields.azureBlob, auth: { mode: true, secretRef: { ...azureSecret, namespace: true } } },
  gcs: { ...datasetStoreSpecFields.gcs, auth: { mode: true, secretRef: { ...gcsSecret, namespace: true } } },
  namespaceSelector: labelSelector,
  sharedPrefixes: true,
} as const satisfies FieldTree<ClusterDatasetStoreSpec>;

export const datasetAccessSpecFields = {
  storeRef: { kind: true, name: true },
  prefix: true,
  verbs: true,
  subjects: { serviceAccounts: true, podSelector: labelSelector },
  sessionDurationSeconds: true,
  presign: { enabled: true, maxExpirySeconds: true },
  sharedSession: true,
} as const satisfies FieldTree<DatasetAccessSpec>;

export const datasetAccessStatusFields = {
  ...storeStatus,
  store: true,
  sessionPolicy: true,
  packedPolicySize: true,
} as const satisfies FieldTree<DatasetAccessStatus>;

/** Per kind: the spec and status trees, checked against crds/<plural>.yaml. */
export const FIELDS = {
  ClusterDatasetStore: { spec: clusterDatasetStoreSpecFields, status: storeStatus },
  DatasetStore: { spec: datasetStoreSpecFields, status: storeStatus },
  DatasetAccess: { spec: datasetAccessSpecFields, status: datasetAccessStatusFields },
} as const;

/** Flattens a tree into dotted paths ("spec.auth.secretRef.name"), sorted. */
export function fieldPaths(tree: object, base = ''): string[] {
  const out: string[] = [];
  for (const [key, node] of Object.entries(tree)) {
    const path = base ? `${base}.${key}` : key;
    if (node === true) out.push(path);
    else out.push(...fieldPaths(node as object, path));
  }
  return out.sort();
}
