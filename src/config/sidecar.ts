// `valet sidecar` configuration: flags over environment variables over defaults, turned into a
// frozen, validated object. Every flag --some-name may also come from VALET_SOME_NAME (the webhook
// sets the environment; a flag wins). Defaults are pinned by a golden test (sidecar.test.ts).
import { PATTERNS, POD_TOKEN_PATTERN } from '../api/v1alpha1/index.ts';
import { ValetError } from '../platform/errors.ts';

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
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export const SIDECAR_DEFAULTS: SidecarConfig = {
  issuerUrl: '',
  issuerCaFile: '/var/run/valet/issuer-ca/ca.crt',
  tokenFile: '/var/run/secrets/valet.dev/serviceaccount/token',
  authTokenFile: '/var/run/valet/shared/auth-token',
  authTokenFileMode: 0o644,
  podAuthToken: '',
  port: 8760,
  metricsAddress: '0.0.0.0:8761',
  accesses: [],
  defaultAccess: '',
  refreshFraction: 0.5,
  refreshJitter: 0.1,
  expiryMarginSeconds: 60,
  retryBaseSeconds: 1,
  retryMaxSeconds: 30,
  requestTimeoutSeconds: 10,
  clockSkewWarnSeconds: 30,
  presignDefaultExpirySeconds: 3600,
  // A native sidecar gets SIGTERM only once every app container has exited: nobody is left to
  // serve, and waiting only holds the pod (and a Job's completion) back. Non-native setups may raise it.
  gracePeriodSeconds: 0,
  manifests: [],
  manifestExpirySeconds: 3600,
  loaderUrlSeconds: 60,
  logLevel: 'info',
};

type Kind = 'string' | 'int' | 'number' | 'mode' | 'list' | 'manifest';
const FLAGS: Record<string, { key: keyof SidecarConfig; kind: Kind }> = {
  '--issuer-url': { key: 'issuerUrl', kind: 'string' },
  '--issuer-ca-file': { key: 'issuerCaFile', kind: 'string' },
  '--token-file': { key: 'tokenFile', kind: 'string' },
  '--auth-token-file': { key: 'authTokenFile', kind: 'string' },
  '--auth-token-file-mode': { key: 'authTokenFileMode', kind: 'mode' },
  '--port': { key: 'port', kind: 'int' },
  '--metrics-address': { key: 'metricsAddress', kind: 'string' },
  '--accesses': { key: 'accesses', kind: 'list' },
  '--default-access': { key: 'defaultAccess', kind: 'string' },
  '--refresh-fraction': { key: 'refreshFraction', kind: 'number' },
  '--refresh-jitter': { key: 'refreshJitter', kind: 'number' },
  '--expiry-margin-seconds': { key: 'expiryMarginSeconds', kind: 'int' },
  '--retry-base-seconds': { key: 'retryBaseSeconds', kind: 'number' },
  '--retry-max-seconds': { key: 'retryMaxSeconds', kind: 'number' },
  '--request-timeout-seconds': { key: 'requestTimeoutSeconds', kind: 'int' },
  '--clock-skew-warn-seconds': { key: 'clockSkewWarnSeconds', kind: 'int' },
  '--presign-default-expiry-seconds': { key: 'presignDefaultExpirySeconds', kind: 'int' },
  '--grace-period-seconds': { key: 'gracePeriodSeconds', kind: 'int' },
  '--manifest': { key: 'manifests', kind: 'manifest' },
  '--manifest-expiry-seconds': { key: 'manifestExpirySeconds', kind: 'int' },
  '--loader-url-seconds': { key: 'loaderUrlSeconds', kind: 'int' },
  '--log-level': { key: 'logLevel', kind: 'string' },
};

export const SIDECAR_FLAGS = Object.keys(FLAGS);
/** Which config field each flag sets. */
export const SIDECAR_FLAG_KEYS: Readonly<Record<string, keyof SidecarConfig>> = Object.fromEntries(Object.entries(FLAGS).map(([f, s]) => [f, s.key]));

/** Environment only: the pod's loopback token (ADR 0010). */
export const POD_TOKEN_ENV = 'VALET_POD_AUTH_TOKEN';

/** VALET_ISSUER_URL for --issuer-url, and so on. */
export const envName = (flag: string): string => `VALET_${flag.slice(2).replaceAll('-', '_').toUpperCase()}`;

function bad(message: string): ValetError {
  return new ValetError('InvalidConfig', message, 400);
}

const accessName = new RegExp(PATTERNS.dnsSubdomain);

/** `access=path` or `access=path,format=urls`; several separated by ';' in the environment. */
function parseManifest(flag: string, value: string): ManifestFileConfig {
  const [head = '', ...opts] = value.split(',');
  const eq = head.indexOf('=');
  const access = head.slice(0, eq);
  const path = head.slice(eq + 1);
  if (eq <= 0 || !path.startsWith('/')) throw bad(`${flag} must be <access>=<absolute path>[,format=jsonl|urls], got '${value}'`);
  let format: 'jsonl' | 'urls' = 'jsonl';
  for (const o of opts) {
    if (o === 'format=jsonl' || o === 'format=urls') format = o.slice(7) as 'jsonl' | 'urls';
    else throw bad(`${flag} option '${o}' is unknown; the only option is format=jsonl|urls`);
  }
  return { access, path, format };
}

function convert(flag: string, kind: Kind, value: string, previous: unknown): unknown {
  switch (kind) {
    case 'int':
      if (!/^\d{1,9}$/.test(value)) throw bad(`${flag} must be a whole number, got '${value}'`);
      return Number(value);
    case 'number':
      if (!/^\d{0,9}(\.\d{1,9})?$/.test(value) || value === '' || value === '.') throw bad(`${flag} must be a number, got '${value}'`);
      return Number(value);
    case 'mode':
      if (!/^0?[0-7]{3}$/.test(value)) throw bad(`${flag} must be an octal file mode such as 0640, got '${value}'`);
      return parseInt(value, 8);
    case 'list':
      return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'manifest':
      return [...(previous as ManifestFileConfig[]), ...value.split(';').filter((v) => v !== '').map((v) => parseManifest(flag, v))];
    default:
      return value;
  }
}

/** Parses `--flag=value` / `--flag value` over VALET_* environment variables over the defaults. */
export function parseSidecarConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): SidecarConfig {
  const out: Record<string, unknown> = { ...SIDECAR_DEFAULTS };
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const v = env[envName(flag)];
    if (v !== undefined) out[spec.key] = convert(envName(flag), spec.kind, v, SIDECAR_DEFAULTS[spec.key]);
  }
  const seenManifestFlag = { value: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS[name];
    if (!spec) throw bad(`unknown flag ${name}; known flags: ${SIDECAR_FLAGS.join(', ')}`);
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw bad(`flag ${name} needs a value`);
    // Flags replace the environment's manifests rather than adding to them.
    if (spec.kind === 'manifest' && !seenManifestFlag.value) {
      out.manifests = [];
      seenManifestFlag.value = true;
    }
    out[spec.key] = convert(name, spec.kind, value, out[spec.key]);
  }
  const token = env[POD_TOKEN_ENV];
  if (token !== undefined && token !== '') {
    if (!POD_TOKEN_PATTERN.test(token)) throw bad(`${POD_TOKEN_ENV} must be 43 base64url characters (the webhook sets it); the value given is not`);
    out.podAuthToken = token;
  }
  const c = out as unknown as SidecarConfig;
  let issuer: URL;
  try {
    issuer = new URL(c.issuerUrl);
  } catch {
    throw bad(`--issuer-url (or ${envName('--issuer-url')}) must be the issuer's https:// URL, got '${c.issuerUrl}'`);
  }
  if (issuer.protocol !== 'https:') throw bad(`--issuer-url must use https (keys travel over it), got '${c.issuerUrl}'`);
  if (issuer.search || issuer.hash || issuer.username) throw bad('--issuer-url must not have a query, fragment or user info');
  for (const [flag, path] of [['--issuer-ca-file', c.issuerCaFile], ['--token-file', c.tokenFile], ['--auth-token-file', c.authTokenFile]] as const) {
    if (!path.startsWith('/')) throw bad(`${flag} must be an absolute path, got '${path}'`);
  }
  if (c.port > 65535) throw bad(`--port must be at most 65535, got ${c.port}`);
  if (!/^[^:]*:\d{1,5}$/.test(c.metricsAddress) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(c.metricsAddress)) throw bad(`--metrics-address must be host:port, got '${c.metricsAddress}'`);
  for (const a of [...c.accesses, ...(c.defaultAccess ? [c.defaultAccess] : []), ...c.manifests.map((m) => m.access)]) {
    if (a.length > 253 || !accessName.test(a)) throw bad(`'${a.slice(0, 64)}' is not a DatasetAccess name`);
  }
  if (new Set(c.accesses).size !== c.accesses.length) throw bad('--accesses lists an access twice');
  if (c.accesses.length > 64) throw bad('--accesses may list at most 64 accesses');
  if (c.defaultAccess && c.accesses.length > 0 && !c.accesses.includes(c.defaultAccess)) throw bad(`--default-access '${c.defaultAccess}' is not one of --accesses`);
  for (const m of c.manifests) {
    if (c.accesses.length > 0 && !c.accesses.includes(m.access)) throw bad(`--manifest names access '${m.access}', which is not one of --accesses`);
  }
  if (!(c.refreshFraction > 0 && c.refreshFraction < 1)) throw bad(`--refresh-fraction must be between 0 and 1 (exclusive), got ${c.refreshFraction}`);
  if (!(c.refreshJitter >= 0 && c.refreshJitter < 1)) throw bad(`--refresh-jitter must be at least 0 and below 1, got ${c.refreshJitter}`);
  // STS sessions last at least 900 s; the margin must leave most of that usable.
  if (c.expiryMarginSeconds > 300) throw bad(`--expiry-margin-seconds must be at most 300, got ${c.expiryMarginSeconds}`);
  if (!(c.retryBaseSeconds > 0) || !(c.retryMaxSeconds >= c.retryBaseSeconds) || c.retryMaxSeconds > 600) {
    throw bad('--retry-base-seconds must be above 0, and --retry-max-seconds between it and 600');
  }
  if (c.requestTimeoutSeconds < 1 || c.requestTimeoutSeconds > 120) throw bad(`--request-timeout-seconds must be between 1 and 120, got ${c.requestTimeoutSeconds}`);
  if (c.presignDefaultExpirySeconds < 1 || c.presignDefaultExpirySeconds > 604800) throw bad('--presign-default-expiry-seconds must be between 1 and 604800');
  if (c.manifestExpirySeconds < 60 || c.manifestExpirySeconds > 604800) throw bad('--manifest-expiry-seconds must be between 60 and 604800');
  if (c.loaderUrlSeconds < 5 || c.loaderUrlSeconds > 3600) throw bad(`--loader-url-seconds must be between 5 and 3600, got ${c.loaderUrlSeconds}`);
  if (c.gracePeriodSeconds > 3600) throw bad(`--grace-period-seconds must be at most 3600, got ${c.gracePeriodSeconds}`);
  if (!['debug', 'info', 'warn', 'error'].includes(c.logLevel)) throw bad(`--log-level must be debug, info, warn or error, got '${c.logLevel}'`);
  return Object.freeze({ ...c, accesses: Object.freeze([...c.accesses]), manifests: Object.freeze(c.manifests.map((m) => Object.freeze({ ...m }))) });
}
