// `valet sidecar` configuration, declared once: flags over environment variables over defaults.
// Every flag --some-name may also come from VALET_SOME_NAME (the webhook sets the environment; a
// flag wins). Defaults are pinned by a golden test (sidecar.test.ts).
import { PATTERNS, POD_TOKEN_PATTERN } from '../api/v1alpha1/index.ts';
import { absolutePath, hostPort, httpsUrl, LOG_LEVELS, type LogLevel } from './checks.ts';
import { choice, custom, defaultsOf, integer, list, number, Problem, repeated, string, type Options } from './options.ts';
import { command, invalid, parseConfig, type Env } from './parse.ts';

export interface ManifestFileConfig {
  readonly access: string;
  readonly path: string;
  readonly format: 'jsonl' | 'urls';
}

export interface SidecarConfig {
  /** Base URL of the issuer; https only. */
  readonly issuerUrl: string;
  /** PEM file of the CA that signed the issuer's certificate (re-read on every call). */
  readonly issuerCaFile: string;
  /** The projected service-account token, audience valet.dev (re-read on every call). */
  readonly tokenFile: string;
  /** Where the loopback Authorization value is written (the shared in-memory volume). */
  readonly authTokenFile: string;
  /** Mode of that file; 0644 by default (see src/sidecar/auth.ts for why that is safe). */
  readonly authTokenFileMode: number;
  /**
   * The pod's loopback token, from VALET_POD_AUTH_TOKEN only (never a flag: flags show in ps).
   * The webhook sets it; empty: the sidecar makes one at start. A secret.
   */
  readonly podAuthToken: string;
  /** Port on 127.0.0.1 for /v1/credentials, /v1/presign, /v1/manifest; 0 picks one. */
  readonly port: number;
  /** host:port for /metrics, /healthz, /readyz (the kubelet's probes reach this one). */
  readonly metricsAddress: string;
  /** DatasetAccess names to hold keys for; empty: whatever the issuer grants the pod. */
  readonly accesses: readonly string[];
  /** The access GET /v1/credentials serves; empty: the first of accesses (or the only one held). */
  readonly defaultAccess: string;
  /** Refresh after this fraction of a key's lifetime (0 < f < 1). */
  readonly refreshFraction: number;
  /** Up to this share of the refresh delay is taken off at random. */
  readonly refreshJitter: number;
  /** A key is not served in its last seconds (a client needs time to use it). */
  readonly expiryMarginSeconds: number;
  readonly retryBaseSeconds: number;
  readonly retryMaxSeconds: number;
  /** Deadline of one call to the issuer. */
  readonly requestTimeoutSeconds: number;
  /** Skew between the pod's and the issuer's clocks beyond which a warning is logged. */
  readonly clockSkewWarnSeconds: number;
  /** Lifetime of a presigned URL when the request names none (always capped by key and access). */
  readonly presignDefaultExpirySeconds: number;
  /** After SIGTERM, keep serving valid keys this long (0: stop at once; keep below terminationGracePeriodSeconds). */
  readonly gracePeriodSeconds: number;
  /** Manifest files to keep fresh on the shared volume. */
  readonly manifests: readonly ManifestFileConfig[];
  /** Requested lifetime of the URLs in manifest files. */
  readonly manifestExpirySeconds: number;
  /** Lifetime of the presigned URL a stable loader URL redirects to (it is used at once). */
  readonly loaderUrlSeconds: number;
  readonly logLevel: LogLevel;
}

/** Environment only: the pod's loopback token (ADR 0010). */
export const POD_TOKEN_ENV = 'VALET_POD_AUTH_TOKEN';

/** VALET_ISSUER_URL for --issuer-url, and so on: the sidecar's rule for its variables. */
export const envName = (flag: string): string => `VALET_${flag.replace(/^--/, '').replaceAll('-', '_').toUpperCase()}`;

const accessName = new RegExp(PATTERNS.dnsSubdomain);
const isAccessName = (a: string) => a.length <= 253 && accessName.test(a);

/** `access=path` or `access=path,format=urls`; several separated by ';' in the environment. */
function readManifest(value: string): ManifestFileConfig {
  const [head = '', ...opts] = value.split(',');
  const eq = head.indexOf('=');
  const access = head.slice(0, eq);
  const path = head.slice(eq + 1);
  if (eq <= 0 || !path.startsWith('/')) throw new Problem('must be <access>=<absolute path>[,format=jsonl|urls]');
  if (!isAccessName(access)) throw new Problem(`names '${access.slice(0, 64)}', which is not a DatasetAccess name`);
  let format: 'jsonl' | 'urls' = 'jsonl';
  for (const o of opts) {
    if (o === 'format=jsonl' || o === 'format=urls') format = o.slice(7) as 'jsonl' | 'urls';
    else throw new Problem(`option '${o}' is unknown; the only option is format=jsonl|urls`);
  }
  return { access, path, format };
}

const path = (flag: string, dflt: string, description: string) => string({ flag, env: envName(flag), default: dflt, description, placeholder: 'PATH', check: absolutePath });
const seconds = (flag: string, dflt: number, description: string, min?: number, max?: number) =>
  integer({ flag, env: envName(flag), default: dflt, description, placeholder: 'SECONDS', min, max });

export const SIDECAR_OPTIONS: Options<SidecarConfig> = {
  issuerUrl: string({
    flag: 'issuer-url',
    env: 'VALET_ISSUER_URL',
    default: '',
    defaultText: 'none (required)',
    placeholder: 'URL',
    description: "The issuer's https:// URL (the webhook sets it from the operator's --sidecar-issuer-url).",
    check: httpsUrl,
  }),
  issuerCaFile: path('issuer-ca-file', '/var/run/valet/issuer-ca/ca.crt', "PEM file of the CA that signed the issuer's certificate; re-read on every call, and it must hold a CA (never the public roots)."),
  tokenFile: path('token-file', '/var/run/secrets/valet.dev/serviceaccount/token', "The pod's projected service-account token (audience valet.dev); re-read on every call."),
  authTokenFile: path('auth-token-file', '/var/run/valet/shared/auth-token', 'Where the loopback Authorization value is written for the app containers (the shared in-memory volume).'),
  authTokenFileMode: custom({
    flag: 'auth-token-file-mode',
    env: 'VALET_AUTH_TOKEN_FILE_MODE',
    default: 0o644,
    placeholder: 'MODE',
    description: 'Octal mode of the auth token file (see src/sidecar/auth.ts for why 0644 is safe).',
    read: (raw) => {
      if (!/^0?[0-7]{3}$/.test(raw)) throw new Problem('must be an octal file mode such as 0640');
      return parseInt(raw, 8);
    },
    show: (v) => `0${v.toString(8).padStart(3, '0')}`,
  }),
  podAuthToken: string({
    env: POD_TOKEN_ENV,
    default: '',
    defaultText: 'made at start',
    placeholder: 'TOKEN',
    secret: true,
    description: "The pod's loopback token, 43 base64url characters; the webhook sets it (ADR 0010). Never a flag: flags show in ps. Without it the sidecar makes one at start.",
    check: (v) => (v === '' || POD_TOKEN_PATTERN.test(v) ? undefined : 'must be 43 base64url characters (the webhook sets it)'),
  }),
  port: integer({ flag: 'port', env: 'VALET_PORT', default: 8760, max: 65535, placeholder: 'PORT', description: 'Port on 127.0.0.1 for /v1/credentials, /v1/presign and /v1/manifest; 0 picks one.' }),
  metricsAddress: string({ flag: 'metrics-address', env: 'VALET_METRICS_ADDRESS', default: '0.0.0.0:8761', placeholder: 'HOST:PORT', description: "host:port for /metrics, /healthz and /readyz (the kubelet's probes reach this one).", check: hostPort }),
  accesses: list({
    flag: 'accesses',
    env: 'VALET_ACCESSES',
    default: [],
    defaultText: 'every access the issuer grants the pod',
    placeholder: 'NAME,NAME',
    description: 'DatasetAccess names to hold keys for, at most 64.',
    check: (v) => {
      const bad = v.find((a) => !isAccessName(a));
      if (bad !== undefined) return `must be DatasetAccess names, and '${bad.slice(0, 64)}' is not a DatasetAccess name`;
      if (new Set(v).size !== v.length) return 'lists an access twice';
      return v.length > 64 ? 'may list at most 64 accesses' : undefined;
    },
  }),
  defaultAccess: string({
    flag: 'default-access',
    env: 'VALET_DEFAULT_ACCESS',
    default: '',
    defaultText: 'the first of --accesses, or the only access held',
    placeholder: 'NAME',
    description: 'The access GET /v1/credentials serves (the webhook sets it from the valet.dev/default-access annotation).',
    check: (v) => (v === '' || isAccessName(v) ? undefined : 'must be a DatasetAccess name'),
  }),
  refreshFraction: number({ flag: 'refresh-fraction', env: 'VALET_REFRESH_FRACTION', default: 0.5, description: "Refresh a key after this fraction of its lifetime.", check: (v) => (v > 0 && v < 1 ? undefined : 'must be between 0 and 1 (exclusive)') }),
  refreshJitter: number({ flag: 'refresh-jitter', env: 'VALET_REFRESH_JITTER', default: 0.1, description: 'Up to this share of the refresh delay is taken off at random.', check: (v) => (v < 1 ? undefined : 'must be at least 0 and below 1') }),
  expiryMarginSeconds: seconds('expiry-margin-seconds', 60, 'A key is not served in its last seconds (a client needs time to use it). STS sessions last at least 900 s.', undefined, 300),
  retryBaseSeconds: number({ flag: 'retry-base-seconds', env: 'VALET_RETRY_BASE_SECONDS', default: 1, placeholder: 'SECONDS', description: 'First delay of the backoff after a failed call to the issuer.', check: (v) => (v > 0 ? undefined : 'must be above 0') }),
  retryMaxSeconds: number({ flag: 'retry-max-seconds', env: 'VALET_RETRY_MAX_SECONDS', default: 30, placeholder: 'SECONDS', description: 'Longest delay of that backoff, from --retry-base-seconds to 600.' }),
  requestTimeoutSeconds: seconds('request-timeout-seconds', 10, 'Deadline of one call to the issuer.', 1, 120),
  clockSkewWarnSeconds: seconds('clock-skew-warn-seconds', 30, "Skew between the pod's and the issuer's clocks beyond which a warning is logged."),
  presignDefaultExpirySeconds: seconds('presign-default-expiry-seconds', 3600, 'Lifetime of a presigned URL when the request names none (always capped by the key and the access).', 1, 604800),
  gracePeriodSeconds: seconds('grace-period-seconds', 0, "After SIGTERM, keep serving valid keys this long; 0 stops at once (a native sidecar gets SIGTERM only after every app container has exited). Keep it below the pod's terminationGracePeriodSeconds.", undefined, 3600),
  manifests: repeated({
    flag: 'manifest',
    env: 'VALET_MANIFEST',
    default: [],
    envSeparator: ';',
    placeholder: 'ACCESS=PATH[,format=jsonl|urls]',
    description: 'A manifest file to keep fresh on the shared volume: the presigned URLs of an access, as JSON lines or a plain URL list.',
    item: readManifest,
    showItem: (m) => `${m.access}=${m.path}${m.format === 'jsonl' ? '' : `,format=${m.format}`}`,
  }),
  manifestExpirySeconds: seconds('manifest-expiry-seconds', 3600, 'Requested lifetime of the URLs in manifest files.', 60, 604800),
  loaderUrlSeconds: seconds('loader-url-seconds', 60, 'Lifetime of the presigned URL a stable loader URL redirects to (it is used at once).', 5, 3600),
  logLevel: choice(LOG_LEVELS, { flag: 'log-level', env: 'VALET_LOG_LEVEL', default: 'info', description: 'The least severe log lines written.' }),
};

export const SIDECAR_DEFAULTS: SidecarConfig = Object.freeze(defaultsOf(SIDECAR_OPTIONS));

export const SIDECAR_COMMAND = command<SidecarConfig, SidecarConfig>({
  name: 'sidecar',
  usage: 'valet sidecar [flags]',
  summary:
    "Runs in each injected pod: fetches keys from the issuer with the pod's projected token, serves them on 127.0.0.1 to the app's " +
    'SDKs (the AWS container-credentials format), refreshes them, presigns URLs and keeps manifest files. The webhook sets its ' +
    'flags and variables.',
  options: SIDECAR_OPTIONS,
  notes:
    'App containers use:\n' +
    '  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:<port>/v1/credentials[/<access>]\n' +
    '  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<auth-token-file>\n' +
    '  AWS_CONTAINER_AUTHORIZATION_TOKEN=<the pod token>\n' +
    '  VALET_LOADER_URL=http://127.0.0.1:<port>/v1/loader/<capability> (docs/clients.md)',
  finish: (c, { name }) => {
    if (c.defaultAccess && c.accesses.length > 0 && !c.accesses.includes(c.defaultAccess)) throw invalid(`${name('defaultAccess')} '${c.defaultAccess}' is not one of ${name('accesses')}`);
    for (const m of c.manifests) {
      if (c.accesses.length > 0 && !c.accesses.includes(m.access)) throw invalid(`${name('manifests')} names access '${m.access}', which is not one of ${name('accesses')}`);
    }
    if (!(c.retryMaxSeconds >= c.retryBaseSeconds) || c.retryMaxSeconds > 600) throw invalid(`${name('retryBaseSeconds')} must be above 0, and ${name('retryMaxSeconds')} between it and 600, got ${c.retryBaseSeconds} and ${c.retryMaxSeconds}`);
    return c;
  },
});

/** Parses `--flag=value` / `--flag value` over VALET_* environment variables over the defaults. */
export function parseSidecarConfig(argv: readonly string[], env: Env = {}): SidecarConfig {
  return parseConfig(SIDECAR_COMMAND, argv, env);
}
