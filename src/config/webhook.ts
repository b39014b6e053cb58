// The admission webhook's configuration and the injection settings it hands to src/injection,
// declared once. The webhook runs inside `valet operator`, which takes these flags next to its own
// (operator.ts); parseWebhookConfig reads them alone. Defaults are pinned by a golden test
// (webhook.test.ts).
import { PATTERNS } from '../api/v1alpha1/index.ts';
import { hostPortOrEmpty, httpsUrlOrEmpty, quantity } from './checks.ts';
import { choice, defaultsOf, integer, string, type Options } from './options.ts';
import { command, invalid, parseConfig, type Env, type FinishContext } from './parse.ts';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** Kubernetes resource quantities (strings, as in a pod spec). */
export interface SidecarResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

/** What the pod mutation needs to know: everything about the sidecar it adds. */
export interface InjectionSettings {
  /** The valet image; the sidecar runs it with args `sidecar …`. */
  readonly image: string;
  readonly imagePullPolicy: PullPolicy;
  /** Port on 127.0.0.1 for /v1/credentials (the app containers' AWS SDKs call it). */
  readonly port: number;
  /** Port on the pod IP for /metrics, /healthz, /readyz (the kubelet's probes call it). */
  readonly metricsPort: number;
  /** https URL of the issuer, as the sidecars reach it (usually the operator's Service). */
  readonly issuerUrl: string;
  /** ConfigMap (in each pod's namespace) holding the CA that signed the issuer's certificate. */
  readonly issuerCaConfigMap: string;
  /** Key of that ConfigMap holding the PEM. */
  readonly issuerCaKey: string;
  /** Lifetime of the projected service-account token (kubelet refreshes it at 80 %). */
  readonly tokenExpirationSeconds: number;
  /** sizeLimit of the in-memory shared volume (auth token, manifest files). */
  readonly sharedVolumeSizeLimit: string;
  /** UID and GID the sidecar runs as (non-root). */
  readonly runAsUser: number;
  /** The startup probe holds the app this long for a first key before the kubelet restarts the sidecar. */
  readonly startupTimeoutSeconds: number;
  readonly resources: SidecarResources;
}

export interface WebhookConfig {
  /** host:port of the webhook's HTTPS endpoint; empty turns the webhook off. */
  readonly address: string;
  /**
   * The webhook serves the operator's own certificate (its files, or the Secret it keeps) and takes
   * its renewals; then tlsCertFile and tlsKeyFile are the operator's files, or empty for the Secret.
   */
  readonly servesOperatorTls: boolean;
  /** PEM files of the webhook's own serving certificate and key, when not the operator's. */
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  /**
   * PEM CA bundle of the client certificates the webhook accepts; empty accepts any caller. Set it
   * and give kube-apiserver a client certificate for the webhook (its AdmissionConfiguration
   * kubeConfigFile) so that only the API server can ask for a review (issue #16).
   */
  readonly clientCaFile: string;
  /** Largest AdmissionReview accepted, in bytes (kube-apiserver sends at most ~3 MiB objects). */
  readonly maxBodyBytes: number;
  /** timeoutSeconds of the MutatingWebhookConfiguration (1..30). */
  readonly timeoutSeconds: number;
  readonly injection: InjectionSettings;
}

/** The webhook's options, flat, named after their flags (the operator's command holds them too). */
export interface WebhookValues {
  readonly webhookAddress: string;
  readonly webhookTlsCertFile: string;
  readonly webhookTlsKeyFile: string;
  readonly webhookClientCaFile: string;
  readonly webhookMaxBodyBytes: number;
  readonly webhookTimeoutSeconds: number;
  readonly sidecarImage: string;
  readonly sidecarImagePullPolicy: PullPolicy;
  readonly sidecarPort: number;
  readonly sidecarMetricsPort: number;
  readonly sidecarIssuerUrl: string;
  readonly issuerCaConfigmap: string;
  readonly issuerCaKey: string;
  readonly sidecarTokenExpirationSeconds: number;
  readonly sidecarSharedVolumeSize: string;
  readonly sidecarRunAsUser: number;
  readonly sidecarStartupTimeoutSeconds: number;
  readonly sidecarCpuRequest: string;
  readonly sidecarMemoryRequest: string;
  readonly sidecarCpuLimit: string;
  readonly sidecarMemoryLimit: string;
}

const IMAGE = /^[a-z0-9][a-z0-9._\-/:@]*$/i;
const resource = (flag: string, dflt: string, description: string) => string({ flag, default: dflt, placeholder: 'QUANTITY', description, check: quantity });

export const WEBHOOK_OPTIONS: Options<WebhookValues> = {
  webhookAddress: string({ flag: 'webhook-address', default: '0.0.0.0:9443', placeholder: 'HOST:PORT', description: "host:port of the admission webhook's HTTPS endpoint; empty turns the webhook off.", check: hostPortOrEmpty }),
  webhookTlsCertFile: string({ flag: 'webhook-tls-cert-file', default: '', placeholder: 'PATH', description: "PEM file of the webhook's serving certificate (required when the webhook runs)." }),
  webhookTlsKeyFile: string({ flag: 'webhook-tls-key-file', default: '', placeholder: 'PATH', description: "PEM file of the webhook's serving key (required when the webhook runs)." }),
  webhookClientCaFile: string({
    flag: 'webhook-client-ca-file',
    default: '',
    defaultText: 'any caller',
    placeholder: 'PATH',
    description: "PEM CA bundle of the client certificates the webhook accepts. Set it, and give kube-apiserver a client certificate for the webhook (its AdmissionConfiguration kubeConfigFile), so that only the API server can ask for a review.",
  }),
  webhookMaxBodyBytes: integer({ flag: 'webhook-max-body-bytes', default: 4 * 1024 * 1024, min: 64 * 1024, max: 64 * 1024 * 1024, placeholder: 'BYTES', description: 'Largest AdmissionReview accepted (kube-apiserver sends objects of at most about 3 MiB).' }),
  webhookTimeoutSeconds: integer({ flag: 'webhook-timeout-seconds', default: 5, min: 1, max: 30, placeholder: 'SECONDS', description: "timeoutSeconds of the MutatingWebhookConfiguration (the API server's limit is 30)." }),
  sidecarImage: string({
    flag: 'sidecar-image',
    env: 'VALET_SIDECAR_IMAGE',
    default: '',
    defaultText: 'none (required when the webhook runs)',
    placeholder: 'IMAGE',
    description: 'The valet image the webhook injects as the sidecar (run with args `sidecar …`).',
    check: (v) => (v === '' || (v.length <= 512 && IMAGE.test(v)) ? undefined : 'must be an image reference'),
  }),
  sidecarImagePullPolicy: choice(['Always', 'IfNotPresent', 'Never'], { flag: 'sidecar-image-pull-policy', default: 'IfNotPresent', description: "The sidecar's imagePullPolicy." }),
  sidecarPort: integer({ flag: 'sidecar-port', default: 8760, min: 1, max: 65535, placeholder: 'PORT', description: "Port on 127.0.0.1 for the sidecar's /v1/credentials (the app containers' SDKs call it)." }),
  sidecarMetricsPort: integer({ flag: 'sidecar-metrics-port', default: 8761, min: 1, max: 65535, placeholder: 'PORT', description: "Port on the pod IP for the sidecar's /metrics, /healthz and /readyz (the kubelet's probes call it)." }),
  sidecarIssuerUrl: string({
    flag: 'sidecar-issuer-url',
    env: 'VALET_SIDECAR_ISSUER_URL',
    default: '',
    defaultText: 'none (required when the webhook runs)',
    placeholder: 'URL',
    description: "https:// URL of the issuer as the sidecars reach it (usually the operator's Service), e.g. https://valet-issuer.valet-system.svc:8443.",
    check: httpsUrlOrEmpty,
  }),
  issuerCaConfigmap: string({
    flag: 'issuer-ca-configmap',
    default: 'valet-issuer-ca',
    placeholder: 'NAME',
    description: "ConfigMap, in each pod's namespace, holding the CA that signed the issuer's certificate.",
    check: (v) => (v.length <= 253 && new RegExp(PATTERNS.dnsSubdomain).test(v) ? undefined : 'must be a ConfigMap name'),
  }),
  issuerCaKey: string({ flag: 'issuer-ca-key', default: 'ca.crt', placeholder: 'KEY', description: 'Key of that ConfigMap holding the PEM.', check: (v) => (/^[-._a-zA-Z0-9]{1,253}$/.test(v) ? undefined : 'must be a ConfigMap key') }),
  // The API server refuses projected tokens shorter than 10 minutes; kubelet refreshes at 80 %.
  sidecarTokenExpirationSeconds: integer({ flag: 'sidecar-token-expiration-seconds', default: 3600, min: 600, max: 86400, placeholder: 'SECONDS', description: 'Lifetime of the projected service-account token (the kubelet refreshes it at 80 %).' }),
  sidecarSharedVolumeSize: resource('sidecar-shared-volume-size', '16Mi', 'sizeLimit of the in-memory volume shared with the app containers (auth token, manifest files).'),
  sidecarRunAsUser: integer({ flag: 'sidecar-run-as-user', default: 65532, placeholder: 'UID', description: 'UID and GID the sidecar runs as.', check: (v) => (v < 1 ? 'must not be 0: the sidecar runs as non-root' : undefined) }),
  sidecarStartupTimeoutSeconds: integer({ flag: 'sidecar-startup-timeout-seconds', default: 300, min: 10, max: 3600, placeholder: 'SECONDS', description: 'The startup probe holds the app containers this long for a first key before the kubelet restarts the sidecar.' }),
  sidecarCpuRequest: resource('sidecar-cpu-request', '10m', "The sidecar's CPU request."),
  sidecarMemoryRequest: resource('sidecar-memory-request', '64Mi', "The sidecar's memory request."),
  sidecarCpuLimit: resource('sidecar-cpu-limit', '500m', "The sidecar's CPU limit."),
  sidecarMemoryLimit: resource('sidecar-memory-limit', '256Mi', "The sidecar's memory limit."),
};

/** The checks between the webhook's options, then its configuration. */
export function toWebhookConfig(v: WebhookValues, { name }: Pick<FinishContext<WebhookValues>, 'name'>, servesOperatorTls = false): WebhookConfig {
  if (v.sidecarPort === v.sidecarMetricsPort) throw invalid(`${name('sidecarPort')} and ${name('sidecarMetricsPort')} must differ, got ${v.sidecarPort} for both`);
  if (v.webhookAddress) {
    const off = 'or --webhook-address= to turn it off';
    if (!servesOperatorTls && (!v.webhookTlsCertFile || !v.webhookTlsKeyFile)) throw invalid(`the webhook serves only over TLS: give ${name('webhookTlsCertFile')} and ${name('webhookTlsKeyFile')}, ${off}`);
    if (!v.sidecarImage) throw invalid(`the webhook injects the valet image as the sidecar: give ${name('sidecarImage')}, ${off}`);
    if (!v.sidecarIssuerUrl) throw invalid(`the sidecars need the issuer's address: give ${name('sidecarIssuerUrl')} (e.g. https://valet-issuer.valet-system.svc:8443), ${off}`);
  }
  return shape(v, servesOperatorTls);
}

/** The flat values, nested as src/injection and the webhook server take them. */
function shape(v: WebhookValues, servesOperatorTls: boolean): WebhookConfig {
  return {
    address: v.webhookAddress,
    servesOperatorTls,
    tlsCertFile: v.webhookTlsCertFile,
    tlsKeyFile: v.webhookTlsKeyFile,
    clientCaFile: v.webhookClientCaFile,
    maxBodyBytes: v.webhookMaxBodyBytes,
    timeoutSeconds: v.webhookTimeoutSeconds,
    injection: {
      image: v.sidecarImage,
      imagePullPolicy: v.sidecarImagePullPolicy,
      port: v.sidecarPort,
      metricsPort: v.sidecarMetricsPort,
      issuerUrl: v.sidecarIssuerUrl,
      issuerCaConfigMap: v.issuerCaConfigmap,
      issuerCaKey: v.issuerCaKey,
      tokenExpirationSeconds: v.sidecarTokenExpirationSeconds,
      sharedVolumeSizeLimit: v.sidecarSharedVolumeSize,
      runAsUser: v.sidecarRunAsUser,
      startupTimeoutSeconds: v.sidecarStartupTimeoutSeconds,
      resources: { requests: { cpu: v.sidecarCpuRequest, memory: v.sidecarMemoryRequest }, limits: { cpu: v.sidecarCpuLimit, memory: v.sidecarMemoryLimit } },
    },
  };
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}

export const WEBHOOK_DEFAULTS: WebhookConfig = deepFreeze(shape(defaultsOf(WEBHOOK_OPTIONS), false));

/** The webhook's flags alone (`valet operator` reads them with its own: OPERATOR_COMMAND). */
export const WEBHOOK_COMMAND = command<WebhookValues, WebhookConfig>({
  name: 'operator',
  usage: 'valet operator [webhook flags]',
  summary: 'The admission webhook that injects the sidecar; it runs inside valet operator.',
  options: WEBHOOK_OPTIONS,
  finish: toWebhookConfig,
});

/** Parses the webhook's `--flag=value` / `--flag value` arguments over the environment and the defaults. */
export function parseWebhookConfig(argv: readonly string[], env: Env = {}): WebhookConfig {
  return parseConfig(WEBHOOK_COMMAND, argv, env);
}
