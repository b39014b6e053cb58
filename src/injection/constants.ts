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

/** Records, per app container, the competing variables the webhook removed (names only, never values). */
export { REMOVED_ENV_ANNOTATION } from '../api/v1alpha1/index.ts';

/** In the sidecar's environment: the pod's loopback token (src/policy/pod-token.ts, ADR 0010). */
export { POD_TOKEN_ENV } from '../config/sidecar.ts';

/**
 * Valet's own variables in every injected app container. They always carry Valet's values: a pod
 * spec's own value for one of them is removed (and reported) like a competing variable.
 * - FULL_URI: a literal loopback address (the AWS C++ SDK under pyarrow refuses `localhost`).
 * - TOKEN_FILE: read by botocore, the JS SDK v3, the C++ SDK and Rust's object_store.
 * - TOKEN: the same value literally, for the Go SDK v1 (s5cmd) and the Java SDK v2, which read only it.
 * - VALET_LOADER_URL: the base of the pod's stable loader URLs (see docs/clients.md).
 */
export const VALET_ENV = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'VALET_LOADER_URL'] as const;

/** Variables Valet sets only where the user set none of the group: a region or endpoint is the user's to choose. */
export const ENV_GROUPS = {
  /** AWS_REGION for the JS/Go/Java SDKs and awscli; AWS_DEFAULT_REGION for boto3. */
  region: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
  endpoint: ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'],
} as const;

/**
 * Variables that make some SDK take its keys from somewhere else than Valet's endpoint: static
 * keys (every SDK reads the environment first), profiles (the shared files come before container
 * credentials), web identity (before container credentials in botocore, the JS and Go SDKs), and
 * the relative URI (which wins over the full one in every SDK). Removed from injected containers.
 */
export const COMPETING_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
] as const;
