// The admission webhook's configuration and the injection settings it hands to src/injection:
// flags (and the environment, passed in by the CLI) turned into a frozen, validated object.
// `valet operator` takes these flags next to its own: splitWebhookArgs() separates them, so
// parseOperatorConfig never sees a flag it does not know. Defaults are pinned by a golden test
// (webhook.test.ts).
import { PATTERNS } from '../api/v1alpha1/index.ts';
import { ValetError } from '../platform/errors.ts';

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
  /** PEM files of the webhook's serving certificate and key (required when the webhook runs). */
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

export const WEBHOOK_DEFAULTS: WebhookConfig = {
  address: '0.0.0.0:9443',
  tlsCertFile: '',
  tlsKeyFile: '',
  clientCaFile: '',
  maxBodyBytes: 4 * 1024 * 1024,
  timeoutSeconds: 5,
  injection: {
    image: '',
    imagePullPolicy: 'IfNotPresent',
    port: 8760,
    metricsPort: 8761,
    issuerUrl: '',
    issuerCaConfigMap: 'valet-issuer-ca',
    issuerCaKey: 'ca.crt',
    tokenExpirationSeconds: 3600,
    sharedVolumeSizeLimit: '16Mi',
    runAsUser: 65532,
    startupTimeoutSeconds: 300,
    resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
  },
};

type Kind = 'string' | 'int';
type Path = readonly [string] | readonly ['injection', string] | readonly ['injection', 'resources', 'requests' | 'limits', string];

const FLAGS: Record<string, { path: Path; kind: Kind }> = {
  '--webhook-address': { path: ['address'], kind: 'string' },
  '--webhook-tls-cert-file': { path: ['tlsCertFile'], kind: 'string' },
  '--webhook-tls-key-file': { path: ['tlsKeyFile'], kind: 'string' },
  '--webhook-client-ca-file': { path: ['clientCaFile'], kind: 'string' },
  '--webhook-max-body-bytes': { path: ['maxBodyBytes'], kind: 'int' },
  '--webhook-timeout-seconds': { path: ['timeoutSeconds'], kind: 'int' },
  '--sidecar-image': { path: ['injection', 'image'], kind: 'string' },
  '--sidecar-image-pull-policy': { path: ['injection', 'imagePullPolicy'], kind: 'string' },
  '--sidecar-port': { path: ['injection', 'port'], kind: 'int' },
  '--sidecar-metrics-port': { path: ['injection', 'metricsPort'], kind: 'int' },
  '--sidecar-issuer-url': { path: ['injection', 'issuerUrl'], kind: 'string' },
  '--issuer-ca-configmap': { path: ['injection', 'issuerCaConfigMap'], kind: 'string' },
  '--issuer-ca-key': { path: ['injection', 'issuerCaKey'], kind: 'string' },
  '--sidecar-token-expiration-seconds': { path: ['injection', 'tokenExpirationSeconds'], kind: 'int' },
  '--sidecar-shared-volume-size': { path: ['injection', 'sharedVolumeSizeLimit'], kind: 'string' },
  '--sidecar-run-as-user': { path: ['injection', 'runAsUser'], kind: 'int' },
  '--sidecar-startup-timeout-seconds': { path: ['injection', 'startupTimeoutSeconds'], kind: 'int' },
  '--sidecar-cpu-request': { path: ['injection', 'resources', 'requests', 'cpu'], kind: 'string' },
  '--sidecar-memory-request': { path: ['injection', 'resources', 'requests', 'memory'], kind: 'string' },
  '--sidecar-cpu-limit': { path: ['injection', 'resources', 'limits', 'cpu'], kind: 'string' },
  '--sidecar-memory-limit': { path: ['injection', 'resources', 'limits', 'memory'], kind: 'string' },
};

export const WEBHOOK_FLAGS = Object.keys(FLAGS);

/** Environment fallbacks (a flag wins): the chart sets the image from its own values. */
const ENV: Record<string, string> = {
  VALET_SIDECAR_IMAGE: '--sidecar-image',
  VALET_SIDECAR_ISSUER_URL: '--sidecar-issuer-url',
};

function bad(message: string): ValetError {
  return new ValetError('InvalidConfig', message, 400);
}

/**
 * Splits a command line into the webhook's flags and the rest, in order, keeping `--flag value`
 * pairs together. Every webhook flag takes a value.
 */
export function splitWebhookArgs(argv: readonly string[]): { webhook: string[]; rest: string[] } {
  const webhook: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const name = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    if (!(name in FLAGS)) {
      rest.push(arg);
      continue;
    }
    webhook.push(arg);
    if (!arg.includes('=') && i + 1 < argv.length) webhook.push(argv[++i] ?? '');
  }
  return { webhook, rest };
}

const QUANTITY = /^([0-9]+(\.[0-9]+)?)(m|Ki|Mi|Gi|k|M|G)?$/;
const IMAGE = /^[a-z0-9][a-z0-9._\-/:@]*$/i;

/** Parses the webhook's `--flag=value` / `--flag value` arguments over the environment and the defaults. */
export function parseWebhookConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): WebhookConfig {
  const out = structuredClone(WEBHOOK_DEFAULTS) as unknown as Record<string, unknown>;
  const set = (flag: string, raw: string) => {
    const spec = FLAGS[flag];
    if (!spec) throw bad(`unknown flag ${flag}; known webhook flags: ${WEBHOOK_FLAGS.join(', ')}`);
    let value: string | number = raw;
    if (spec.kind === 'int') {
      if (!/^\d{1,9}$/.test(raw)) throw bad(`flag ${flag} must be a whole number, got '${raw}'`);
      value = Number(raw);
    }
    let node = out;
    for (const key of spec.path.slice(0, -1)) node = node[key] as Record<string, unknown>;
    node[spec.path[spec.path.length - 1] ?? ''] = value;
  };
  for (const [name, flag] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') set(flag, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (!(name in FLAGS)) throw bad(`unknown flag ${name}; known webhook flags: ${WEBHOOK_FLAGS.join(', ')}`);
    if (value === undefined) throw bad(`flag ${name} needs a value`);
    set(name, value);
  }
  const c = out as unknown as WebhookConfig;
  const inj = c.injection;
  if (c.address && !/^[^:]*:\d{1,5}$/.test(c.address)) throw bad(`--webhook-address must be host:port or empty, got '${c.address}'`);
  if (c.maxBodyBytes < 64 * 1024 || c.maxBodyBytes > 64 * 1024 * 1024) throw bad(`--webhook-max-body-bytes must be between 65536 and 67108864, got ${c.maxBodyBytes}`);
  if (c.timeoutSeconds < 1 || c.timeoutSeconds > 30) throw bad(`--webhook-timeout-seconds must be between 1 and 30 (the API server's limit), got ${c.timeoutSeconds}`);
  if (!['Always', 'IfNotPresent', 'Never'].includes(inj.imagePullPolicy)) throw bad(`--sidecar-image-pull-policy must be Always, IfNotPresent or Never, got '${inj.imagePullPolicy}'`);
  for (const [flag, port] of [['--sidecar-port', inj.port], ['--sidecar-metrics-port', inj.metricsPort]] as const) {
    if (port < 1 || port > 65535) throw bad(`${flag} must be between 1 and 65535, got ${port}`);
  }
  if (inj.port === inj.metricsPort) throw bad('--sidecar-port and --sidecar-metrics-port must differ');
  if (inj.image && (inj.image.length > 512 || !IMAGE.test(inj.image))) throw bad(`--sidecar-image is not an image reference: '${inj.image.slice(0, 64)}'`);
  if (inj.issuerUrl) {
    let url: URL;
    try {
      url = new URL(inj.issuerUrl);
    } catch {
      throw bad(`--sidecar-issuer-url must be the issuer's https:// URL, got '${inj.issuerUrl}'`);
    }
    if (url.protocol !== 'https:' || url.search || url.hash || url.username) throw bad(`--sidecar-issuer-url must be a plain https:// URL (keys travel over it), got '${inj.issuerUrl}'`);
  }
  if (inj.issuerCaConfigMap.length > 253 || !new RegExp(PATTERNS.dnsSubdomain).test(inj.issuerCaConfigMap)) throw bad(`--issuer-ca-configmap must be a ConfigMap name, got '${inj.issuerCaConfigMap}'`);
  if (!/^[-._a-zA-Z0-9]{1,253}$/.test(inj.issuerCaKey)) throw bad(`--issuer-ca-key must be a ConfigMap key, got '${inj.issuerCaKey}'`);
  // The API server refuses projected tokens shorter than 10 minutes; kubelet refreshes at 80 %.
  if (inj.tokenExpirationSeconds < 600 || inj.tokenExpirationSeconds > 86400) throw bad(`--sidecar-token-expiration-seconds must be between 600 and 86400, got ${inj.tokenExpirationSeconds}`);
  if (inj.runAsUser < 1) throw bad('--sidecar-run-as-user must not be 0: the sidecar runs as non-root');
  if (inj.startupTimeoutSeconds < 10 || inj.startupTimeoutSeconds > 3600) throw bad(`--sidecar-startup-timeout-seconds must be between 10 and 3600, got ${inj.startupTimeoutSeconds}`);
  for (const [flag, q] of [
    ['--sidecar-shared-volume-size', inj.sharedVolumeSizeLimit],
    ['--sidecar-cpu-request', inj.resources.requests.cpu],
    ['--sidecar-memory-request', inj.resources.requests.memory],
    ['--sidecar-cpu-limit', inj.resources.limits.cpu],
    ['--sidecar-memory-limit', inj.resources.limits.memory],
  ] as const) {
    if (!QUANTITY.test(q)) throw bad(`${flag} must be a Kubernetes quantity such as 64Mi or 100m, got '${q}'`);
  }
  if (c.address) {
    if (!c.tlsCertFile || !c.tlsKeyFile) throw bad('the webhook serves only over TLS: give --webhook-tls-cert-file and --webhook-tls-key-file, or --webhook-address= to turn it off');
    if (!inj.image) throw bad('the webhook injects the valet image as the sidecar: give --sidecar-image (or VALET_SIDECAR_IMAGE), or --webhook-address= to turn it off');
    if (!inj.issuerUrl) throw bad("the sidecars need the issuer's address: give --sidecar-issuer-url (e.g. https://valet-issuer.valet-system.svc:8443), or --webhook-address= to turn it off");
  }
  return deepFreeze(c);
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
