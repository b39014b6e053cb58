// `valet operator` configuration, declared once: its own options (here) and the webhook's
// (webhook.ts), read together by OPERATOR_COMMAND. Defaults are pinned by a golden test
// (operator.test.ts).
import { DEFAULT_VALET_NAMESPACE } from '../api/v1alpha1/index.ts';
import { hostPort, hostPortOrEmpty, LOG_LEVELS, type LogLevel } from './checks.ts';
import { boolean, choice, defaultsOf, integer, list, string, type Options } from './options.ts';
import { command, invalid, parseConfig, type Env, type FinishContext } from './parse.ts';
import { toWebhookConfig, WEBHOOK_OPTIONS, type WebhookConfig, type WebhookValues } from './webhook.ts';

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
  readonly logLevel: LogLevel;
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

const seconds = (flag: string, dflt: number, description: string, min?: number, max?: number) => integer({ flag, default: dflt, placeholder: 'SECONDS', description, min, max });

export const OPERATOR_OPTIONS: Options<OperatorConfig> = {
  kubeconfig: string({ flag: 'kubeconfig', default: '', defaultText: 'in-cluster, then $KUBECONFIG, then ~/.kube/config', placeholder: 'PATH', description: 'Path to a kubeconfig.' }),
  namespace: string({ flag: 'namespace', env: 'POD_NAMESPACE', default: DEFAULT_VALET_NAMESPACE, placeholder: 'NAMESPACE', description: "The operator's own namespace: its leader-election Lease, its TLS Secret, the store Secrets it reads." }),
  leaderElect: boolean({ flag: 'leader-elect', default: true, description: 'Reconcile only while holding the Lease (replicas keep their caches warm). The issuer and the webhook run on every replica.' }),
  leaseName: string({ flag: 'lease-name', default: 'valet-operator', placeholder: 'NAME', description: 'Name of the leader-election Lease.' }),
  identity: string({ flag: 'identity', env: 'POD_NAME', default: '', defaultText: 'valet-operator-$HOSTNAME (valet-operator-local without HOSTNAME)', placeholder: 'NAME', description: 'This replica\'s name in the Lease.' }),
  leaseDurationSeconds: seconds('lease-duration-seconds', 15, 'How long a Lease holds after its last renewal; another replica takes over after it lapses.'),
  renewDeadlineSeconds: seconds('renew-deadline-seconds', 10, 'The leader steps down when it cannot renew within this (less than --lease-duration-seconds).'),
  retryPeriodSeconds: seconds('retry-period-seconds', 2, 'How often replicas try to take or renew the Lease (less than --renew-deadline-seconds).'),
  metricsAddress: string({ flag: 'metrics-address', default: '0.0.0.0:9090', placeholder: 'HOST:PORT', description: 'host:port for /metrics, /healthz and /readyz.', check: hostPort }),
  workers: integer({ flag: 'workers', default: 4, min: 1, max: 64, description: 'DatasetAccess objects reconciled at once.' }),
  resyncSeconds: seconds('resync-seconds', 600, 'Every DatasetAccess is reconciled again after this long, even without events.', 1),
  logLevel: choice(LOG_LEVELS, { flag: 'log-level', default: 'info', description: 'The least severe log lines written.' }),
  issuerAddress: string({ flag: 'issuer-address', default: '0.0.0.0:8443', placeholder: 'HOST:PORT', description: "host:port of the key issuer's HTTPS endpoint; empty turns the issuer off.", check: hostPortOrEmpty }),
  tlsCertFile: string({ flag: 'tls-cert-file', default: '', placeholder: 'PATH', description: "PEM file of the issuer's serving certificate (and the webhook's, unless given its own); re-read when it changes." }),
  tlsKeyFile: string({ flag: 'tls-key-file', default: '', placeholder: 'PATH', description: 'PEM file of its key.' }),
  tlsSecret: string({
    flag: 'tls-secret',
    default: '',
    placeholder: 'NAME',
    description: 'Instead of files: a Secret in --namespace where the operator keeps its own CA and serving certificate, creating and renewing them, and publishing the CA (the webhook\'s caBundle, a ConfigMap in every namespace).',
  }),
  tlsDnsNames: list({ flag: 'tls-dns-names', default: [], defaultText: 'valet.<namespace>.svc,valet.<namespace>.svc.cluster.local', placeholder: 'NAME,NAME', description: "DNS names of the certificate kept in --tls-secret (the operator's Service)." }),
  tlsCheckIntervalSeconds: seconds('tls-check-interval-seconds', 30, 'How often the certificate files or Secret are re-checked (renewal) and the CA re-published (new namespaces).', 1),
  webhookConfigurationName: string({ flag: 'webhook-configuration-name', default: 'valet', placeholder: 'NAME', description: 'The MutatingWebhookConfiguration whose caBundle the operator keeps current (with --tls-secret).' }),
  stsRatePerSecond: integer({ flag: 'sts-rate-per-second', default: 20, min: 1, placeholder: 'N', description: 'STS AssumeRole calls per second per store; calls beyond it queue.' }),
  stsBurst: integer({ flag: 'sts-burst', default: 40, min: 1, placeholder: 'N', description: 'STS calls a store may make at once before the rate applies.' }),
  requestTimeoutSeconds: seconds('request-timeout-seconds', 10, 'A key request that cannot be answered within this is refused (504), never left hanging.', 1, 120),
};

export const OPERATOR_DEFAULTS: Omit<OperatorConfig, 'identity'> = Object.freeze((({ identity: _, ...rest }) => rest)(defaultsOf(OPERATOR_OPTIONS)));

/** The checks between the operator's options, and the defaults computed from others. */
function toOperatorConfig(c: OperatorConfig, { name, env }: Pick<FinishContext<OperatorConfig>, 'name' | 'env'>): OperatorConfig {
  const identity = c.identity || `valet-operator-${env.HOSTNAME || 'local'}`;
  const tlsDnsNames = c.tlsSecret && c.tlsDnsNames.length === 0 ? [`valet.${c.namespace}.svc`, `valet.${c.namespace}.svc.cluster.local`] : c.tlsDnsNames;
  if (!(c.renewDeadlineSeconds < c.leaseDurationSeconds)) throw invalid(`${name('renewDeadlineSeconds')} must be less than ${name('leaseDurationSeconds')}, got ${c.renewDeadlineSeconds} and ${c.leaseDurationSeconds}`);
  if (!(c.retryPeriodSeconds < c.renewDeadlineSeconds)) throw invalid(`${name('retryPeriodSeconds')} must be less than ${name('renewDeadlineSeconds')}, got ${c.retryPeriodSeconds} and ${c.renewDeadlineSeconds}`);
  if (c.tlsSecret && (c.tlsCertFile || c.tlsKeyFile)) throw invalid(`give either ${name('tlsSecret')} (the operator manages its certificate) or ${name('tlsCertFile')} and ${name('tlsKeyFile')}, not both`);
  if (c.issuerAddress && !c.tlsSecret && (!c.tlsCertFile || !c.tlsKeyFile)) throw invalid(`the issuer serves only over TLS: give ${name('tlsCertFile')} and ${name('tlsKeyFile')} (or ${name('tlsSecret')}), or --issuer-address= to turn it off`);
  return { ...c, identity, tlsDnsNames };
}

const OPERATOR_SUMMARY =
  'Runs the DatasetAccess controller (leader-elected through a Lease), the key issuer and the admission webhook ' +
  '(both on every replica), with /metrics, /healthz and /readyz on --metrics-address. The Helm chart sets these flags.';

/** The operator's own flags alone (tests; the command itself is OPERATOR_COMMAND). */
const OPERATOR_ONLY = command<OperatorConfig, OperatorConfig>({
  name: 'operator',
  usage: 'valet operator [flags]',
  summary: OPERATOR_SUMMARY,
  options: OPERATOR_OPTIONS,
  finish: toOperatorConfig,
});

/** `valet operator`: its own flags and the webhook's, read together. */
export const OPERATOR_COMMAND = command<OperatorConfig & WebhookValues, { operator: OperatorConfig; webhook: WebhookConfig }>({
  name: 'operator',
  usage: 'valet operator [flags]',
  summary: OPERATOR_SUMMARY,
  options: { ...OPERATOR_OPTIONS, ...WEBHOOK_OPTIONS },
  sections: [
    { title: 'Flags', keys: Object.keys(OPERATOR_OPTIONS) as (keyof OperatorConfig)[] },
    { title: 'Webhook flags', keys: Object.keys(WEBHOOK_OPTIONS) as (keyof WebhookValues)[] },
  ],
  finish: (values, ctx) => {
    const operator = toOperatorConfig(values, ctx);
    // The webhook serves with the operator's certificate (files, or the Secret it manages) unless
    // given its own files.
    const own = ctx.source('webhookTlsCertFile') !== 'default' || ctx.source('webhookTlsKeyFile') !== 'default';
    const operatorHasTls = Boolean(operator.tlsSecret || (operator.tlsCertFile && operator.tlsKeyFile));
    const servesOperatorTls = !own && operatorHasTls;
    const webhook = toWebhookConfig(
      {
        ...values,
        webhookTlsCertFile: servesOperatorTls ? operator.tlsCertFile : values.webhookTlsCertFile,
        webhookTlsKeyFile: servesOperatorTls ? operator.tlsKeyFile : values.webhookTlsKeyFile,
      },
      ctx,
      servesOperatorTls,
    );
    return { operator, webhook };
  },
});

/** The operator's own flags over POD_NAME and POD_NAMESPACE over the defaults. */
export function parseOperatorConfig(argv: readonly string[], env: Env = {}): OperatorConfig {
  return parseConfig(OPERATOR_ONLY, argv, env);
}

