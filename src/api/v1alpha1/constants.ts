// Names, limits and patterns of the valet.dev/v1alpha1 API. The CRDs in crds/ are the source of
// truth; schema.test.ts proves that every limit and pattern here equals the one in the CRD.

export const GROUP = 'valet.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = 'valet.dev/v1alpha1';

/** The audience of the pod's projected token: the webhook projects it, the issuer's TokenReview asks for exactly this one. */
export const TOKEN_AUDIENCE = 'valet.dev';

export const KINDS = {
  ClusterDatasetStore: 'ClusterDatasetStore',
  DatasetStore: 'DatasetStore',
  DatasetAccess: 'DatasetAccess',
} as const;
export type Kind = (typeof KINDS)[keyof typeof KINDS];
export type StoreKind = typeof KINDS.ClusterDatasetStore | typeof KINDS.DatasetStore;

export const PLURALS = {
  ClusterDatasetStore: 'clusterdatasetstores',
  DatasetStore: 'datasetstores',
  DatasetAccess: 'datasetaccesses',
} as const satisfies Record<Kind, string>;

/** The verbs a DatasetAccess may grant, in canonical order. */
export const VERBS = ['read', 'list', 'write', 'delete'] as const;
export type Verb = (typeof VERBS)[number];

/** s3: STS keys the pod's SDK uses directly. azureBlob and gcs: the issuer signs per-object URLs (ADR 0006). */
export const PROVIDERS = ['s3', 'azureBlob', 'gcs'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const AZURE_AUTH_MODES = ['accountKey'] as const;
export type AzureAuthMode = (typeof AZURE_AUTH_MODES)[number];

export const GCS_AUTH_MODES = ['serviceAccountKey', 'hmac'] as const;
export type GcsAuthMode = (typeof GCS_AUTH_MODES)[number];

/** The verbs each provider can grant (gcs: V4 signed URLs for GET, HEAD and PUT). */
export const PROVIDER_VERBS: Readonly<Record<Provider, readonly Verb[]>> = {
  s3: VERBS,
  azureBlob: VERBS,
  gcs: ['read', 'write'],
};

export const AUTH_MODES = ['defaultChain', 'secret'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** The pod annotation naming the access GET /v1/credentials serves when a pod has several. */
export const DEFAULT_ACCESS_ANNOTATION = 'valet.dev/default-access';

/** The pod's loopback token (src/policy/pod-token.ts): 32 random bytes, base64url, 43 characters. */
export const POD_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Set by the webhook: per app container, the competing AWS variables it removed (names only). */
export const REMOVED_ENV_ANNOTATION = 'valet.dev/removed-env';

/** Valet's own namespace unless configured (--namespace / POD_NAMESPACE): the only one whose Secrets a store may name. */
export const DEFAULT_VALET_NAMESPACE = 'valet-system';

export const LIMITS = {
  /** STS AssumeRole's minimum and (role-configurable) maximum DurationSeconds. */
  minSessionDurationSeconds: 900,
  maxSessionDurationSeconds: 43200,
  defaultSessionDurationSeconds: 3600,
  minPresignExpirySeconds: 1,
  maxPresignExpirySeconds: 43200,
  /** A prefix is printable ASCII, so characters and bytes agree; 1,024 is S3's key limit. */
  minPrefixLength: 2,
  maxPrefixLength: 1024,
  maxAllowedPrefixes: 32,
  maxServiceAccounts: 64,
  /** S3's limit on an object key, in UTF-8 bytes. */
  maxObjectKeyBytes: 1024,
  /** STS's limit on the plain-text inline session policy, in characters. */
  maxSessionPolicyChars: 2048,
} as const;

/**
 * Patterns shared by the CRDs and the pure checks in src/policy (Go RE2 and ECMAScript agree on
 * these). A prefix is a folder: one or more non-empty segments of the S3 "safe" characters
 * (letters, digits, `! - _ . ' ( )`) plus `=` for Hive-style partitions, each followed by `/`.
 * `*`, `?` and `$` are excluded because IAM reads them as wildcards and policy variables; the
 * `.` and `..` segments are refused by a CEL rule and by checkPrefix.
 */
export const PATTERNS = {
  prefix: "^([A-Za-z0-9._!'()=-]+/)+$",
  /** A ClusterDatasetStore's allowed prefix: a folder whose segments may also be `{namespace}` (ADR 0009). */
  clusterAllowedPrefix: "^(([A-Za-z0-9._!'()=-]+|[{]namespace[}])/)+$",
  bucket: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
  region: '^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$',
  url: '^https?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$',
  roleArn: '^arn:[a-z][a-z0-9-]{0,31}:iam::([0-9]{12})?:role/[A-Za-z0-9+=,.@_/-]{1,512}$',
  externalId: '^[A-Za-z0-9_+=,.@:/-]+$',
  dnsSubdomain: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  dnsLabel: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
} as const;

export const CONDITION_TYPES = {
  /** Summary: True when every other condition is True. */
  Ready: 'Ready',
  /** The referenced store exists, may be used from this namespace. */
  StoreResolved: 'StoreResolved',
  /** spec.prefix is a valid folder inside one of the store's allowedPrefixes. */
  PrefixAllowed: 'PrefixAllowed',
  /** spec.verbs is a subset of the store's allowedVerbs. */
  VerbsAllowed: 'VerbsAllowed',
  /** spec.sessionDurationSeconds and spec.presign.maxExpirySeconds are within limits. */
  DurationAllowed: 'DurationAllowed',
  /** The session policy rendered and fits STS's size limit. */
  PolicyRendered: 'PolicyRendered',
} as const;
export type ConditionType = (typeof CONDITION_TYPES)[keyof typeof CONDITION_TYPES];

/** Condition reasons (CamelCase, stable: tools and alerts match on them). */
export const REASONS = {
  Valid: 'Valid',
  StoreNotFound: 'StoreNotFound',
  StoreInOtherNamespace: 'StoreInOtherNamespace',
  NamespaceNotSelected: 'NamespaceNotSelected',
  /** The store names a Secret outside Valet's namespace (ADR 0008). */
  CredentialsOutsideValetNamespace: 'CredentialsOutsideValetNamespace',
  /** Set on conditions that cannot be evaluated until the store resolves (status Unknown). */
  StoreNotResolved: 'StoreNotResolved',
  PrefixInvalid: 'PrefixInvalid',
  PrefixNotAllowed: 'PrefixNotAllowed',
  /** On a cluster store, another namespace already uses an overlapping folder (ADR 0009). */
  FolderClaimedByOtherNamespace: 'FolderClaimedByOtherNamespace',
  VerbNotAllowed: 'VerbNotAllowed',
  DurationTooLong: 'DurationTooLong',
  DurationInvalid: 'DurationInvalid',
  PresignExpiryTooLong: 'PresignExpiryTooLong',
  PolicyTooLarge: 'PolicyTooLarge',
  PolicyInvalid: 'PolicyInvalid',
  /** Store conditions, set by the controller. */
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];
