// `valet operator`: the controller (leader-elected through a Lease) and the key issuer (every
// replica serves keys), with /metrics, /healthz and /readyz on the metrics address.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { OPERATOR_COMMAND } from '../config/operator.ts';
import { parseCommandLine } from '../config/parse.ts';
import { createWebhookMetrics } from '../metrics/webhook.ts';
import { startWebhookServer, type WebhookServer } from '../webhook/index.ts';
import { CertificateManager } from '../controller/certificates.ts';
import { DatasetAccessController } from '../controller/controller.ts';
import { createClients } from '../k8s/clients.ts';
import { EventRecorder } from '../k8s/events.ts';
import { LeaderElector } from '../k8s/leader.ts';
import { writeAccessStatus } from '../k8s/status.ts';
import { createControllerMetrics } from '../metrics/controller.ts';
import { createIssuerMetrics } from '../metrics/issuer.ts';
import { AwsSts, createIssuerApp, startIssuerServer, type IssuerServer } from '../issuer/index.ts';
import { createPodAuthenticator } from '../k8s/identity.ts';
import { InformerGrantSource } from '../k8s/grants.ts';
import { systemClock } from '../platform/clock.ts';
import { createLogger } from '../platform/logger.ts';

function listen(server: Server, address: string): Promise<void> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i) || '0.0.0.0';
  const port = Number(address.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

export async function operatorCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(OPERATOR_COMMAND, argv, env);
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return 0;
  }
  // The webhook serves with the operator's certificate (files, or `secret:<name>` for the Secret
  // the operator manages) unless given its own files.
  const { operator: config, webhook: webhookConfig } = parsed.config;
  const logger = createLogger({ level: config.logLevel, bindings: { component: 'operator', identity: config.identity } });
  const clients = createClients(config.kubeconfig);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createControllerMetrics(registry);
  const controller = new DatasetAccessController({
    clients,
    status: { write: (access, status) => writeAccessStatus(clients.customObjects, access, status) },
    events: new EventRecorder({ core: clients.core, clock: systemClock, logger }),
    clock: systemClock,
    logger,
    metrics,
    workers: config.workers,
    resyncSeconds: config.resyncSeconds,
    valetNamespace: config.namespace,
  });

  let synced = false;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') res.writeHead(200).end('ok');
    else if (req.url === '/readyz') res.writeHead(synced ? 200 : 503).end(synced ? 'ok' : 'caches not synced');
    else res.writeHead(404).end();
  });
  await listen(server, config.metricsAddress);
  logger.info('operator starting', { metricsAddress: config.metricsAddress, leaderElect: config.leaderElect });

  controller.start();
  void controller.waitForSync().then((ok) => (synced = ok));

  // TLS: from files, or a CA and certificate the operator keeps in a Secret and renews itself.
  let certificates: CertificateManager | undefined;
  let operatorTls: { certPem: string; keyPem: string } | undefined;
  let reloadTimer: NodeJS.Timeout | undefined;
  const onRenewal: ((tls: { certPem: string; keyPem: string }) => void)[] = [];
  if (config.tlsSecret) {
    certificates = new CertificateManager({
      clients,
      namespace: config.namespace,
      secretName: config.tlsSecret,
      dnsNames: config.tlsDnsNames,
      webhookConfigurationName: config.webhookConfigurationName,
      caConfigMapName: webhookConfig.injection.issuerCaConfigMap,
      caConfigMapKey: webhookConfig.injection.issuerCaKey,
      clock: systemClock,
      checkIntervalMs: config.tlsCheckIntervalSeconds * 1000,
      logger: logger.child({ component: 'certificates' }),
      onChange: (tls) => {
        for (const fn of onRenewal) fn(tls);
      },
    });
    operatorTls = await certificates.ensure();
    certificates.start();
    const keeper = certificates;
    controller.onNamespaceAdded(() => keeper.publishSoon());
  } else if (config.tlsCertFile) {
    const read = () => ({ certPem: readFileSync(config.tlsCertFile, 'utf8'), keyPem: readFileSync(config.tlsKeyFile, 'utf8') });
    operatorTls = read();
    // cert-manager (through a Secret volume) rewrites the files in place: pick renewals up live.
    reloadTimer = setInterval(() => {
      try {
        const next = read();
        if (next.certPem === operatorTls?.certPem && next.keyPem === operatorTls.keyPem) return;
        operatorTls = next;
        logger.info('serving certificate files changed; reloading');
        for (const fn of onRenewal) fn(next);
      } catch (err) {
        logger.warn('cannot read the serving certificate files; keeping the current ones', { error: err instanceof Error ? err.message : String(err) });
      }
    }, config.tlsCheckIntervalSeconds * 1000);
    reloadTimer.unref();
  }
  const tlsFor = (certFile: string, keyFile: string) =>
    certFile.startsWith('secret:') && operatorTls ? operatorTls : { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };

  // The issuer and the webhook run on every replica (neither needs the lease); both refuse until
  // the grant caches have synced. They share one set of informers.
  let issuer: IssuerServer | undefined;
  let webhook: WebhookServer | undefined;
  let grants: InformerGrantSource | undefined;
  const sts = new AwsSts();
  const issuerMetrics = createIssuerMetrics(registry);
  if (config.issuerAddress || webhookConfig.address) {
    grants = new InformerGrantSource({ clients, logger, metrics: issuerMetrics, valetNamespace: config.namespace, onRestart: (i) => metrics.informerRestarts.inc({ informer: `issuer-${i}` }) });
    grants.start();
  }
  if (webhookConfig.address && grants) {
    const source = grants;
    const i = webhookConfig.address.lastIndexOf(':');
    webhook = await startWebhookServer({
      settings: webhookConfig.injection,
      lookup: source,
      ready: () => source.hasSynced(),
      logger: logger.child({ component: 'webhook' }),
      metrics: createWebhookMetrics(registry),
      maxBodyBytes: webhookConfig.maxBodyBytes,
      tls: tlsFor(webhookConfig.tlsCertFile, webhookConfig.tlsKeyFile),
      ...(webhookConfig.clientCaFile ? { clientCaPem: readFileSync(webhookConfig.clientCaFile, 'utf8') } : {}),
      host: webhookConfig.address.slice(0, i) || '0.0.0.0',
      port: Number(webhookConfig.address.slice(i + 1)),
    });
    logger.info('webhook listening', { address: webhookConfig.address });
    const server = webhook;
    // With the operator's own certificate (not separate webhook files), renewals reach it too.
    if (webhookConfig.tlsCertFile.startsWith('secret:') || webhookConfig.tlsCertFile === config.tlsCertFile) onRenewal.push((tls) => server.setTls(tls));
  }
  if (config.issuerAddress && grants) {
    const source = grants;
    const app = createIssuerApp({
      authenticator: createPodAuthenticator(clients, { logger, metrics: issuerMetrics }),
      grants: source,
      sts,
      logger: logger.child({ component: 'issuer' }),
      metrics: issuerMetrics,
      events: new EventRecorder({ core: clients.core, logger, component: 'valet-issuer' }),
      ready: () => source.hasSynced(),
      settings: {
        requestTimeoutMs: config.requestTimeoutSeconds * 1000,
        rateLimit: { ratePerSecond: config.stsRatePerSecond, burst: config.stsBurst, maxQueue: 1000 },
      },
    });
    const i = config.issuerAddress.lastIndexOf(':');
    issuer = await startIssuerServer({
      app,
      tls: operatorTls,
      host: config.issuerAddress.slice(0, i) || '0.0.0.0',
      port: Number(config.issuerAddress.slice(i + 1)),
    });
    logger.info('issuer listening', { url: issuer.url });
    const https = issuer.server as import('node:https').Server;
    onRenewal.push((tls) => https.setSecureContext({ cert: tls.certPem, key: tls.keyPem }));
  }

  const stopping = new AbortController();
  const done = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        logger.info('stopping', { signal: sig });
        stopping.abort();
        resolve();
      });
    }
  });

  if (config.leaderElect) {
    const elector = new LeaderElector({
      coordination: clients.coordination,
      namespace: config.namespace,
      name: config.leaseName,
      identity: config.identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      renewDeadlineSeconds: config.renewDeadlineSeconds,
      retryPeriodSeconds: config.retryPeriodSeconds,
      logger,
    });
    const campaign = elector.run({
      onStartedLeading: (signal) => {
        metrics.leader.set(1);
        return controller.lead(signal);
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
      },
    });
    await done;
    await elector.stop();
    await campaign;
  } else {
    metrics.leader.set(1);
    await controller.lead(stopping.signal);
  }
  certificates?.stop();
  if (reloadTimer) clearInterval(reloadTimer);
  await webhook?.close();
  await issuer?.close();
  await grants?.stop();
  sts.destroy();
  await controller.stop();
  await new Promise<void>((r) => server.close(() => r()));
  return 0;
}
