// The operator's own TLS, without cert-manager: a CA and a serving certificate (for the issuer and
// the webhook) kept in a Secret, created if missing and renewed before expiry; the CA published as
// the webhook's caBundle and as a ConfigMap in every namespace (the sidecars trust the issuer
// through it). Every replica runs this: the Secret's resourceVersion makes racing replicas agree on
// one certificate, and each serves whatever the Secret holds.
import type { K8sClients } from '../k8s/clients.ts';
import { publishConfigMapEverywhere, publishConfigMapIn, readTlsSecret, writeTlsSecret, type StoredSecret } from '../k8s/tls-store.ts';
import { setMutatingWebhookCaBundle } from '../k8s/webhook-config.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { authorityFromPem, createAuthority, issueCertificate } from '../tls/pki.ts';
import { decideRenewal } from '../tls/renewal.ts';

const DAY_MS = 86_400_000;

export interface ServingTls {
  certPem: string;
  keyPem: string;
  /** The CA bundle clients should trust: the current CA, plus the previous one during a rotation. */
  caBundlePem: string;
}

export interface CertificateManagerOptions {
  clients: Pick<K8sClients, 'core' | 'kubeConfig'>;
  namespace: string;
  secretName: string;
  /** Names the serving certificate must carry, e.g. valet.valet-system.svc. */
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  webhookConfigurationName: string;
  caConfigMapName: string;
  caConfigMapKey: string;
  clock: Clock;
  logger: Logger;
  certValidDays?: number;
  caValidDays?: number;
  renewBeforeDays?: number;
  /** How often to re-check the Secret and re-publish the CA (new namespaces get it then). */
  checkIntervalMs?: number;
  /** Called with new material whenever the certificate changes (servers swap their TLS context). */
  onChange?: (tls: ServingTls) => void;
}

const KEYS = { caCert: 'ca.crt', caKey: 'ca.key', previousCa: 'ca-previous.crt', cert: 'tls.crt', key: 'tls.key' } as const;

export class CertificateManager {
  private readonly o: Required<Omit<CertificateManagerOptions, 'ipAddresses' | 'onChange'>> & Pick<CertificateManagerOptions, 'ipAddresses' | 'onChange'>;
  private current: ServingTls | undefined;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;

  constructor(opts: CertificateManagerOptions) {
    this.o = { certValidDays: 365, caValidDays: 3650, renewBeforeDays: 30, checkIntervalMs: 30_000, ...opts };
  }

  /** Ensures valid material exists (creating or renewing it), publishes the CA, and returns it. */
  async ensure(): Promise<ServingTls> {
    const { namespace, secretName, logger } = this.o;
    const core = this.o.clients.core;
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await readTlsSecret(core, namespace, secretName);
      const decision = decideRenewal(stored?.data[KEYS.cert], stored?.data[KEYS.caCert], { dnsNames: this.o.dnsNames, ipAddresses: this.o.ipAddresses }, new Date(this.o.clock.now()), this.o.renewBeforeDays * DAY_MS);
      if (!decision.renew && stored) return this.adopt(stored);
      logger.info('issuing the operator serving certificate', { secret: `${namespace}/${secretName}`, reason: decision.renew ? decision.reason : '' });
      const data = await this.issue(stored);
      if (await writeTlsSecret(core, namespace, secretName, data, stored)) continue; // re-read what we wrote
      logger.debug('another replica wrote the TLS Secret first; using theirs');
    }
    throw new Error(`could not settle the TLS Secret ${namespace}/${secretName} after 5 attempts`);
  }

  /** Keeps checking until stopped. */
  start(): void {
    const tick = () => {
      this.ensure().then(
        () => undefined,
        (err: unknown) => this.o.logger.warn('TLS check failed; will retry', { error: err instanceof Error ? err.message : String(err) }),
      );
    };
    this.timer = setInterval(tick, this.o.checkIntervalMs);
    this.timer.unref();
  }

  /**
   * Re-checks and re-publishes soon (debounced): a namespace just created gets the CA ConfigMap
   * before its first injected pod needs to mount it, not at the next periodic check.
   */
  publishSoon(delayMs = 200): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.ensure().catch((err: unknown) => this.o.logger.warn('TLS check failed; will retry', { error: err instanceof Error ? err.message : String(err) }));
    }, delayMs);
    this.soon.unref();
  }

  /**
   * Publishes the CA in one namespace now (a namespace just created): no debounce, one API call, so
   * the ConfigMap is there before the namespace's first injected pod, which may follow at once.
   * Before the first check has settled the material, falls back to publishSoon.
   */
  publishTo(namespace: string): void {
    const tls = this.current;
    if (!tls) return this.publishSoon();
    publishConfigMapIn(this.o.clients.core, namespace, this.o.caConfigMapName, { [this.o.caConfigMapKey]: tls.caBundlePem }).catch((err: unknown) => {
      this.o.logger.warn('publishing the CA in a new namespace failed; retrying with a full pass', { namespace, error: err instanceof Error ? err.message : String(err) });
      this.publishSoon();
    });
  }

  stop(): void {
    if (this.soon) clearTimeout(this.soon);
    if (this.timer) clearInterval(this.timer);
  }

  private async issue(stored: StoredSecret | undefined): Promise<Record<string, string>> {
    const now = new Date(this.o.clock.now());
    // Keep a CA with plenty of life left (sidecars already trust it); otherwise start a new one and
    // publish the old one beside it until it expires.
    const oldCaPem = stored?.data[KEYS.caCert];
    const oldCaKey = stored?.data[KEYS.caKey];
    const oldCa = oldCaPem && oldCaKey ? await authorityFromPem(oldCaPem, oldCaKey).catch(() => undefined) : undefined;
    const keepCa = oldCa && oldCa.notAfter.getTime() - now.getTime() > 2 * (this.o.certValidDays + this.o.renewBeforeDays) * DAY_MS;
    const ca = keepCa && oldCa ? oldCa : await createAuthority('valet-operator-ca', this.o.caValidDays, now);
    const serving = await issueCertificate(ca, {
      commonName: this.o.dnsNames[0] ?? 'valet',
      dnsNames: this.o.dnsNames,
      ipAddresses: this.o.ipAddresses,
      usage: 'server',
      validDays: this.o.certValidDays,
      now,
    });
    const data: Record<string, string> = { [KEYS.caCert]: ca.certPem, [KEYS.caKey]: ca.privateKeyPem, [KEYS.cert]: serving.certPem + ca.certPem, [KEYS.key]: serving.privateKeyPem };
    if (!keepCa && oldCa && oldCa.notAfter > now) data[KEYS.previousCa] = oldCa.certPem;
    return data;
  }

  private async adopt(stored: StoredSecret): Promise<ServingTls> {
    const d = stored.data;
    const tls: ServingTls = { certPem: d[KEYS.cert] ?? '', keyPem: d[KEYS.key] ?? '', caBundlePem: (d[KEYS.caCert] ?? '') + (d[KEYS.previousCa] ?? '') };
    const changed = this.current?.certPem !== tls.certPem || this.current.caBundlePem !== tls.caBundlePem;
    this.current = tls;
    await setMutatingWebhookCaBundle(this.o.clients.kubeConfig, this.o.webhookConfigurationName, tls.caBundlePem);
    const published = await publishConfigMapEverywhere(this.o.clients.core, this.o.caConfigMapName, { [this.o.caConfigMapKey]: tls.caBundlePem });
    if (published > 0) this.o.logger.info('published the issuer CA', { configMap: this.o.caConfigMapName, namespaces: published });
    if (changed) this.o.onChange?.(tls);
    return tls;
  }
}
