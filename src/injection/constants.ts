// The names the pod mutation writes and reads: the opt-in label, Valet's annotations, and the
// names and paths of what it adds to a pod. Constants only; settings come from src/config/webhook.ts.

/** A pod opts in with this label set to "true" (the webhook's objectSelector matches it too). */
export const INJECT_LABEL = 'valet.dev/inject';
/** Set to "true" on a pod once Valet has injected it; a pod carrying it gets no second sidecar. */
export const INJECTED_ANNOTATION = 'valet.dev/injected';
/** Why a pod was injected although no DatasetAccess grants it (yet). */
export const NOTE_ANNOTATION = 'valet.dev/injection-note';
/**
 * The access served on /v1/credentials (what SDKs use by default) when the pod has several; the
 * sidecar reads it through the downward API, so the value never lands in the patch itself.
 */
export { DEFAULT_ACCESS_ANNOTATION } from '../api/v1alpha1/index.ts';
/** Comma-separated names of app containers that get no AWS variables and no shared volume. */
export const SKIP_ANNOTATION = 'valet.dev/skip-containers';

/** The projected token's audience; the issuer's TokenReview asks for exactly this one. */
export const TOKEN_AUDIENCE = 'valet.dev';

export const SIDECAR_NAME = 'valet-sidecar';
export const METRICS_PORT_NAME = 'valet-metrics';

export const VOLUMES = {
  token: 'valet-token',
  shared: 'valet-shared',
  issuerCa: 'valet-issuer-ca',
} as const;

/** Paths inside the pod; the same as the sidecar's defaults (src/config/sidecar.ts), and passed explicitly. */
export const PATHS = {
  tokenDir: '/var/run/secrets/valet.dev/serviceaccount',
  token: '/var/run/secrets/valet.dev/serviceaccount/token',
  issuerCaDir: '/var/run/valet/issuer-ca',
  issuerCa: '/var/run/valet/issuer-ca/ca.crt',
  sharedDir: '/var/run/valet/shared',
  authToken: '/var/run/valet/shared/auth-token',
} as const;

/** Variables Valet sets in app containers, in groups: a group the user touched is left to the user. */
export const ENV_GROUPS = {
  /** Where the SDKs fetch keys, and the Authorization value for it: they belong together. */
  credentials: ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN'],
  /** AWS_REGION for the JS/Go/Java SDKs and awscli; AWS_DEFAULT_REGION for boto3. */
  region: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
  endpoint: ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'],
} as const;

/** Static keys in the environment win over container credentials in every AWS SDK's chain. */
export const STATIC_KEY_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE'] as const;
