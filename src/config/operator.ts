// `valet operator` configuration: flags (and the environment, passed in by the CLI) turned into a
// frozen, validated object. Defaults are pinned by a golden test (operator.test.ts).
import { DEFAULT_VALET_NAMESPACE } from '../api/v1alpha1/index.ts';
import { ValetError } from '../platform/errors.ts';

export interface OperatorConfig {
  /** Path to a kubeconfig; empty means in-cluster, then $KUBECONFIG, then ~/.kube/config. */
  readonly kubeconfig: string;
  /** Namespace of the leader-election Lease (the operator's own namespace). */
  readonly namespace: string;
  readonly leaderElect: boolean;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
  /** host:port for /metrics, /healthz, /readyz. */
  readonly metricsAddress: string;
  readonly workers: number;
  /** Every DatasetAccess is reconciled again after this long even without events (level-based). */
  readonly resyncSeconds: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** host:port of the issuer's HTTPS endpoint; empty turns the issuer off. */
  readonly issuerAddress: string;
  /** PEM files of the issuer's serving certificate and key (required when the issuer runs). */
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  /**
   * Instead of files: a Secret in --namespace where the operator keeps its own CA and serving
   * certificate, creating and renewing them, and publishing the CA (webhook caBundle, a ConfigMap
   * in every namespace).
   */
  readonly tlsSecret: string;
  /** DNS names the self-managed serving certificate carries (the operator's Service). */
  readonly tlsDnsNames: readonly string[];
  /** How often the Secret is re-checked (renewal) and the CA re-published (new namespaces). */
  readonly tlsCheckIntervalSeconds: number;
  /** The MutatingWebhookConfiguration whose caBundle the operator keeps current. */
  readonly webhookConfigurationName: string;
  /** STS AssumeRole calls per second per store; calls beyond it queue. */
  readonly stsRatePerSecond: number;
  readonly stsBurst: number;
  /** A key request that cannot be answered within this is refused (504), never left hanging. */
  readonly requestTimeoutSeconds: number;
}

export const OPERATOR_DEFAULTS: Omit<OperatorConfig, 'identity'> = {
  kubeconfig: '',
  namespace: DEFAULT_VALET_NAMESPACE,
  leaderElect: true,
  leaseName: 'valet-operator',
  leaseDurationSeconds: 15,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
  metricsAddress: '0.0.0.0:9090',
  workers: 4,
  resyncSeconds: 600,
  logLevel: 'info',
  issuerAddress: '0.0.0.0:8443',
  tlsCertFile: '',
  tlsKeyFile: '',
  tlsSecret: '',
  tlsDnsNames: [],
  tlsCheckIntervalSeconds: 30,
  webhookConfigurationName: 'valet',
  stsRatePerSecond: 20,
  stsBurst: 40,
  requestTimeoutSeconds: 10,
};

const FLAGS: Record<string, { key: keyof OperatorConfig; kind: 'string' | 'int' | 'bool' | 'list' }> = {
  '--kubeconfig': { key: 'kubeconfig', kind: 'string' },
  '--namespace': { key: 'namespace', kind: 'string' },
  '--leader-elect': { key: 'leaderElect', kind: 'bool' },
  '--lease-name': { key: 'leaseName', kind: 'string' },
  '--identity': { key: 'identity', kind: 'string' },
  '--lease-duration-seconds': { key: 'leaseDurationSeconds', kind: 'int' },
  '--renew-deadline-seconds': { key: 'renewDeadlineSeconds', kind: 'int' },
  '--retry-period-seconds': { key: 'retryPeriodSeconds', kind: 'int' },
  '--metrics-address': { key: 'metricsAddress', kind: 'string' },
  '--workers': { key: 'workers', kind: 'int' },
  '--resync-seconds': { key: 'resyncSeconds', kind: 'int' },
  '--log-level': { key: 'logLevel', kind: 'string' },
  '--issuer-address': { key: 'issuerAddress', kind: 'string' },
  '--tls-cert-file': { key: 'tlsCertFile', kind: 'string' },
  '--tls-key-file': { key: 'tlsKeyFile', kind: 'string' },
  '--tls-secret': { key: 'tlsSecret', kind: 'string' },
  '--tls-dns-names': { key: 'tlsDnsNames', kind: 'list' },
  '--tls-check-interval-seconds': { key: 'tlsCheckIntervalSeconds', kind: 'int' },
  '--webhook-configuration-name': { key: 'webhookConfigurationName', kind: 'string' },
  '--sts-rate-per-second': { key: 'stsRatePerSecond', kind: 'int' },
  '--sts-burst': { key: 'stsBurst', kind: 'int' },
  '--request-timeout-seconds': { key: 'requestTimeoutSeconds', kind: 'int' },
};

export const OPERATOR_FLAGS = Object.keys(FLAGS);

function bad(message: string): ValetError {
  return new ValetError('InvalidConfig', message, 400);
}

/** Parses `--flag=value` / `--flag value` arguments over the defaults; `env` supplies POD_NAME and POD_NAMESPACE. */
export function parseOperatorConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): OperatorConfig {
  const out: Record<string, unknown> = {
    ...OPERATOR_DEFAULTS,
    namespace: env.POD_NAMESPACE || OPERATOR_DEFAULTS.namespace,
    identity: env.POD_NAME || `valet-operator-${env.HOSTNAME || 'local'}`,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS[name];
    if (!spec) throw bad(`unknown flag ${name}; known flags: ${OPERATOR_FLAGS.join(', ')}`);
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (value === undefined) {
      if (spec.kind === 'bool' && (argv[i + 1] === undefined || argv[i + 1]?.startsWith('--'))) value = 'true';
      else value = argv[++i];
    }
    if (value === undefined) throw bad(`flag ${name} needs a value`);
    if (spec.kind === 'int') {
      if (!/^\d{1,9}$/.test(value)) throw bad(`flag ${name} must be a whole number, got '${value}'`);
      out[spec.key] = Number(value);
    } else if (spec.kind === 'list') {
      out[spec.key] = Object.freeze(value.split(',').map((v) => v.trim()).filter(Boolean));
    } else if (spec.kind === 'bool') {
      if (value !== 'true' && value !== 'false') throw bad(`flag ${name} must be true or false, got '${value}'`);
      out[spec.key] = value === 'true';
    } else {
      out[spec.key] = value;
    }
  }
  const c = out as unknown as OperatorConfig;
  if (c.tlsSecret && c.tlsDnsNames.length === 0) out.tlsDnsNames = Object.freeze([`valet.${c.namespace}.svc`, `valet.${c.namespace}.svc.cluster.local`]);
  if (!['debug', 'info', 'warn', 'error'].includes(c.logLevel)) throw bad(`--log-level must be debug, info, warn or error, got '${c.logLevel}'`);
  if (!(c.renewDeadlineSeconds < c.leaseDurationSeconds)) throw bad('--renew-deadline-seconds must be less than --lease-duration-seconds');
  if (!(c.retryPeriodSeconds < c.renewDeadlineSeconds)) throw bad('--retry-period-seconds must be less than --renew-deadline-seconds');
  if (c.workers < 1 || c.workers > 64) throw bad(`--workers must be between 1 and 64, got ${c.workers}`);
  if (c.resyncSeconds < 1) throw bad(`--resync-seconds must be at least 1, got ${c.resyncSeconds}`);
  if (!/^[^:]*:\d{1,5}$/.test(c.metricsAddress)) throw bad(`--metrics-address must be host:port, got '${c.metricsAddress}'`);
  if (c.issuerAddress && !/^[^:]*:\d{1,5}$/.test(c.issuerAddress)) throw bad(`--issuer-address must be host:port or empty, got '${c.issuerAddress}'`);
  if (c.tlsSecret && (c.tlsCertFile || c.tlsKeyFile)) throw bad('give either --tls-secret (the operator manages its certificate) or --tls-cert-file and --tls-key-file, not both');
  if (c.issuerAddress && !c.tlsSecret && (!c.tlsCertFile || !c.tlsKeyFile)) throw bad('the issuer serves only over TLS: give --tls-cert-file and --tls-key-file (or --tls-secret), or --issuer-address= to turn it off');
  if (c.stsRatePerSecond < 1 || c.stsBurst < 1) throw bad('--sts-rate-per-second and --sts-burst must be at least 1');
  if (c.requestTimeoutSeconds < 1 || c.requestTimeoutSeconds > 120) throw bad(`--request-timeout-seconds must be between 1 and 120, got ${c.requestTimeoutSeconds}`);
  return Object.freeze(c);
}
