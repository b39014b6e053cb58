// TypeScript shapes of the valet.dev/v1alpha1 kinds. They mirror crds/*.yaml field for field:
// fields.ts lists the same fields (tsc holds the list to these types), and schema.test.ts holds
// the list to the CRD schemas.
import type { AuthMode, AzureAuthMode, GcsAuthMode, Provider, StoreKind, Verb } from './constants.ts';

/** The subset of metav1.ObjectMeta that Valet reads. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: LabelSelectorOperator;
  values?: string[];
}

/** metav1.LabelSelector: matchLabels and matchExpressions are ANDed; `{}` selects everything. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  /** RFC 3339 date-time. */
  lastTransitionTime: string;
  reason: string;
  message: string;
}

// ── stores ───────────────────────────────────────────────────────────────────────────────────

/** A Secret in the store's own namespace holding an access key for the issuer. */
export interface SecretKeysRef {
  name: string;
  /** Key in the Secret's data; default `accessKeyId`. */
  accessKeyIdKey?: string;
  /** Key in the Secret's data; default `secretAccessKey`. */
  secretAccessKeyKey?: string;
}

/** The cluster store names the Secret's namespace explicitly. */
export interface ClusterSecretKeysRef extends SecretKeysRef {
  namespace: string;
}

/** How the issuer authenticates to STS: its default AWS chain, or a Secret (required iff mode is secret). */
export interface StoreAuth<Ref extends SecretKeysRef = SecretKeysRef> {
  mode: AuthMode;
  secretRef?: Ref;
}

/** A Secret holding an Azure storage account key (the cluster store names its namespace). */
export interface AzureSecretRef {
  name: string;
  /** Key in the Secret's data; default `accountKey`. */
  accountKeyKey?: string;
}

export interface ClusterAzureSecretRef extends AzureSecretRef {
  namespace: string;
}

export interface AzureBlobSource<Ref extends AzureSecretRef = AzureSecretRef> {
  accountName: string;
  container: string;
  /** Blob service URL; absent means https://<accountName>.blob.core.windows.net. */
  endpoint?: string;
  auth: { mode: AzureAuthMode; secretRef: Ref };
}

/** A Secret holding a GCS service-account JSON key or an HMAC key (the cluster store names its namespace). */
export interface GcsSecretRef {
  name: string;
  /** Key in the Secret's data holding the service account's JSON key; default `key.json`. */
  serviceAccountKeyKey?: string;
  /** Keys in the Secret's data holding an HMAC key; defaults `accessId` and `secret`. */
  accessIdKey?: string;
  secretKey?: string;
}

export interface ClusterGcsSecretRef extends GcsSecretRef {
  namespace: string;
}

export interface GcsSource<Ref extends GcsSecretRef = GcsSecretRef> {
  bucket: string;
  /** Host of the signed URLs; absent means https://storage.googleapis.com. */
  endpoint?: string;
  auth: { mode: GcsAuthMode; secretRef: Ref };
}

/** The S3 fields of a store, present (and required by the CRD) iff provider is s3. */
export interface S3Source<Ref extends SecretKeysRef = SecretKeysRef> {
  bucket: string;
  region: string;
  /** S3 endpoint of an S3-compatible store; absent for AWS. */
  endpoint?: string;
  /** STS endpoint; absent for AWS's regional default. */
  stsEndpoint?: string;
  roleArn: string;
  externalId?: string;
  auth: StoreAuth<Ref>;
  /** Pass namespace, service account and pod as STS session tags. */
  sessionTags?: boolean;
}

interface StoreSpecBase<Ref extends SecretKeysRef, AzRef extends AzureSecretRef, GcsRef extends GcsSecretRef> extends Partial<S3Source<Ref>> {
  provider: Provider;
  /** Required iff provider is azureBlob. */
  azureBlob?: AzureBlobSource<AzRef>;
  /** Required iff provider is gcs. */
  gcs?: GcsSource<GcsRef>;
  /** Folders (each ending in `/`) inside which a DatasetAccess may choose its prefix. */
  allowedPrefixes: string[];
  allowedVerbs: Verb[];
  maxSessionDurationSeconds: number;
}

export type DatasetStoreSpec = StoreSpecBase<SecretKeysRef, AzureSecretRef, GcsSecretRef>;

export interface ClusterDatasetStoreSpec extends StoreSpecBase<ClusterSecretKeysRef, ClusterAzureSecretRef, ClusterGcsSecretRef> {
  /** Namespaces whose DatasetAccess objects may use this store; `{}` selects every namespace. */
  namespaceSelector: LabelSelector;
  /**
   * Folders several namespaces may use at once (e.g. a public dataset); any other folder belongs to
   * the first namespace that claims it. allowedPrefixes may also contain `{namespace}` (ADR 0009).
   */
  sharedPrefixes?: string[];
}

/** Any store's spec, as far as policy rendering and validation care. */
export type StoreSpec = DatasetStoreSpec | ClusterDatasetStoreSpec;

export interface StoreStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ClusterDatasetStore {
  apiVersion: 'valet.dev/v1alpha1';
  kind: 'ClusterDatasetStore';
  metadata: ObjectMeta;
  spec: ClusterDatasetStoreSpec;
  status?: StoreStatus;
}

export interface DatasetStore {
  apiVersion: 'valet.dev/v1alpha1';
  kind: 'DatasetStore';
  metadata: ObjectMeta;
  spec: DatasetStoreSpec;
  status?: StoreStatus;
}

export type AnyDatasetStore = ClusterDatasetStore | DatasetStore;

// ── access ───────────────────────────────────────────────────────────────────────────────────

export interface StoreRef {
  kind: StoreKind;
  name: string;
}

export interface Subjects {
  /** Service accounts in the DatasetAccess's namespace; at least one. */
  serviceAccounts: string[];
  /** If set, the pod's labels must also match. */
  podSelector?: LabelSelector;
}

export interface Presign {
  enabled?: boolean;
  /** Cap on a presigned URL's lifetime; never more than spec.sessionDurationSeconds. */
  maxExpirySeconds?: number;
}

export interface DatasetAccessSpec {
  storeRef: StoreRef;
  /** A folder: relative, ends with `/`, no `.`/`..`/empty segments, no wildcards. */
  prefix: string;
  verbs: Verb[];
  subjects: Subjects;
  /** Default 3600 (applied by the API server). */
  sessionDurationSeconds?: number;
  presign?: Presign;
  /** Pods with the same service account and access share one STS session. */
  sharedSession?: boolean;
}

export interface DatasetAccessStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** The resolved store, "Kind/name". */
  store?: string;
  /** The compact JSON session policy; set only while Ready is True. */
  sessionPolicy?: string;
  /** Length of sessionPolicy in characters (STS limit: 2,048). */
  packedPolicySize?: number;
}

export interface DatasetAccess {
  apiVersion: 'valet.dev/v1alpha1';
  kind: 'DatasetAccess';
  metadata: ObjectMeta;
  spec: DatasetAccessSpec;
  status?: DatasetAccessStatus;
}
