// The operator's composition root: every part built from one config and one set of shared
// informers, registered with a runnable manager in start order. `valet operator` parses its flags
// and calls startOperator; tests call the same function. Parts, in start order:
//   metrics     /metrics, /healthz, /readyz (ready = every part started and ready, caches synced)
//   caches      one list/watch per kind (the controller, the issuer and the webhook read them)
//   tls         the operator's CA and serving certificate (a Secret it keeps), or files it reloads
//   webhook     admission (every replica)
//   issuer      keys and signed URLs (every replica)
//   leader      the controller's workers, only while holding the Lease
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { OperatorConfig } from '../config/operator.ts';
import type { WebhookConfig } from '../config/webhook.ts';
import { CertificateManager } from '../controller/certificates.ts';
import { DatasetAccessController } from '../controller/controller.ts';
import { createIssuerApp, startIssuerServer } from '../issuer/index.ts';
import type { IssuerServer, IssuerSettings, Sts } from '../issuer/index.ts';
import type { K8sClients } from '../k8s/clients.ts';
import { EventRecorder } from '../k8s/events.ts';
import { InformerGrantSource } from '../k8s/grants.ts';
import { createPodAuthenticator } from '../k8s/identity.ts';
import { LeaderElector } from '../k8s/leader.ts';
import { SharedInformers } from '../k8s/shared-informers.ts';
import { writeAccessStatus } from '../k8s/status.ts';
import { createControllerMetrics } from '../metrics/controller.ts';
import { createIssuerMetrics } from '../metrics/issuer.ts';
import { createWebhookMetrics } from '../metrics/webhook.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { RunnableManager } from '../platform/runnables.ts';
import type { StopReport } from '../platform/runnables.ts';
import { startWebhookServer } from '../webhook/index.ts';
import type { WebhookServer } from '../webhook/index.ts';

export interface OperatorDeps {
  clients: K8sClients;
  /** STS for the issuer (AwsSts in production). */
  sts: Sts;
  registry: Registry;
  logger: Logger;
  clock?: Clock;
  /** Issuer settings no flag sets (tests tune them), over those the config gives. */
  issuerSettings?: Partial<IssuerSettings>;
}

/** The operator's parts, in start order. */
export type OperatorPart = 'metrics' | 'caches' | 'tls' | 'webhook' | 'issuer' | 'leader';

export interface Operator {
  /** Ready: every part started and ready, the caches synced. */
  ready(): boolean;
  /** Parts not ready (what /readyz says). */
  notReady(): string[];
  /** Whether this replica holds the Lease and runs the controller's workers. */
  leading(): boolean;
  /** Bound addresses (port 0 in the config picks one). */
  readonly addresses: { metrics: string; issuer?: string; webhook?: string };
  /** Stops one part, the others running on: an outage of the issuer, or of the controller's workers. */
  stopPart(name: OperatorPart): Promise<void>;
  /** Starts a part stopped by stopPart again, on the same address. */
  startPart(name: OperatorPart): Promise<void>;
  /** Stops every part in reverse start order, within `timeoutMs` together. */
  stop(timeoutMs?: number): Promise<StopReport>;
}

/** How long leader-only work may take to stop once the Lease is lost or the operator stops. */
export const LEADER_STOP_BOUND_MS = 5000;

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i) || '0.0.0.0', port: Number(address.slice(i + 1)) };
}

function listen(server: Server, address: string): Promise<string> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(`${host}:${(server.address() as AddressInfo).port}`));
  });
}

/** Resolves when `work` does, or `boundMs` after `signal` aborts, whichever is first (and says so). */
export async function boundedAfterAbort(work: Promise<void>, signal: AbortSignal, boundMs: number, logger: Logger): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<'bound'>((resolve) => {
    const arm = () => (timer = setTimeout(() => resolve('bound'), boundMs));
    if (signal.aborted) arm();
    else signal.addEventListener('abort', arm, { once: true });
  });
  const outcome = await Promise.race([work.then(() => 'done' as const), bound]);
  clearTimeout(timer);
  if (outcome === 'bound') logger.warn('leader-only work did not stop within its bound; abandoning it (status writes are guarded by resourceVersion)', { boundMs });
}

export async function startOperator(config: OperatorConfig, webhookConfig: WebhookConfig, deps: OperatorDeps): Promise<Operator> {
  const { clients, registry, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const manager = new RunnableManager(logger);
  const metrics = createControllerMetrics(registry);
  const issuerMetrics = createIssuerMetrics(registry);
  const addresses: { metrics: string; issuer?: string; webhook?: string } = { metrics: '' };

  // metrics and probes, first (liveness answers while the rest starts): /readyz names what is not ready yet.
  const probes = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') res.writeHead(200).end('ok');
    else if (req.url === '/readyz') {
      const waiting = manager.notReady().filter((n) => n !== 'metrics');
      res.writeHead(waiting.length === 0 ? 200 : 503).end(waiting.length === 0 ? 'ok' : `not ready: ${waiting.join(', ')}`);
    } else res.writeHead(404).end();
  });
  manager.add({
    name: 'metrics',
    start: async () => {
      addresses.metrics = await listen(probes, config.metricsAddress);
      logger.info('operator starting', { metricsAddress: addresses.metrics, leaderElect: config.leaderElect });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        probes.close(() => resolve());
        probes.closeAllConnections();
      }),
  });

  // caches: one list/watch per kind for the whole process.
  const informers = new SharedInformers({ clients, logger, onRestart: (name) => metrics.informerRestarts.inc({ informer: name }) });
  const controller = new DatasetAccessController({
    clients,
    informers,
    status: { write: (access, status) => writeAccessStatus(clients.customObjects, access, status) },
    events: new EventRecorder({ core: clients.core, clock, logger }),
    clock,
    logger,
    metrics,
    workers: config.workers,
    resyncSeconds: config.resyncSeconds,
    valetNamespace: config.namespace,
  });
  const grants = new InformerGrantSource({ clients, informers, clock, logger, metrics: issuerMetrics, valetNamespace: config.namespace });
  manager.add({ name: 'caches', start: () => informers.start(), ready: () => informers.hasSynced(), stop: () => informers.stop() });

  // tls: from a Secret the operator keeps, or from files (reloaded when cert-manager rewrites them).
  let operatorTls: { certPem: string; keyPem: string } | undefined;
  const onRenewal: ((tls: { certPem: string; keyPem: string }) => void)[] = [];
  if (config.tlsSecret) {
    const certificates = new CertificateManager({
      clients,
      namespace: config.namespace,
      secretName: config.tlsSecret,
      dnsNames: config.tlsDnsNames,
      webhookConfigurationName: config.webhookConfigurationName,
      caConfigMapName: webhookConfig.injection.issuerCaConfigMap,
      caConfigMapKey: webhookConfig.injection.issuerCaKey,
      clock,
      checkIntervalMs: config.tlsCheckIntervalSeconds * 1000,
      logger: logger.child({ component: 'certificates' }),
      onChange: (tls) => {
        for (const fn of onRenewal) fn(tls);
      },
    });
    // A namespace created later gets the CA at once (its first pod may follow within milliseconds);
    // the initial list of namespaces is covered by the full pass of the first check.
    controller.onNamespaceAdded((ns) => (informers.namespaces.hasSynced() ? certificates.publishTo(ns) : certificates.publishSoon()));
    manager.add({
      name: 'tls',
      start: async () => {
        operatorTls = await certificates.ensure();
        certificates.start();
      },
      stop: () => certificates.stop(),
    });
  } else if (config.tlsCertFile) {
    const read = () => ({ certPem: readFileSync(config.tlsCertFile, 'utf8'), keyPem: readFileSync(config.tlsKeyFile, 'utf8') });
    let reload: ReturnType<typeof setInterval> | undefined;
    manager.add({
      name: 'tls',
      start: () => {
        operatorTls = read();
        reload = setInterval(() => {
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
        reload.unref();
      },
      stop: () => clearInterval(reload),
    });
  }
  const webhookTls = () =>
    webhookConfig.servesOperatorTls && operatorTls ? operatorTls : { certPem: readFileSync(webhookConfig.tlsCertFile, 'utf8'), keyPem: readFileSync(webhookConfig.tlsKeyFile, 'utf8') };

  // webhook and issuer: every replica; both refuse until the caches have synced.
  if (webhookConfig.address) {
    let webhook: WebhookServer | undefined;
    // With the operator's own certificate (not separate webhook files), renewals reach it too; once,
    // for whichever server is running (a restarted part is a new server).
    if (webhookConfig.servesOperatorTls) onRenewal.push((tls) => webhook?.setTls(tls));
    manager.add({
      name: 'webhook',
      start: async () => {
        const { host, port } = hostPort(addresses.webhook ?? webhookConfig.address);
        const server = await startWebhookServer({
          settings: webhookConfig.injection,
          lookup: grants,
          ready: () => informers.hasSynced(),
          logger: logger.child({ component: 'webhook' }),
          metrics: createWebhookMetrics(registry),
          maxBodyBytes: webhookConfig.maxBodyBytes,
          tls: webhookTls(),
          ...(webhookConfig.clientCaFile ? { clientCaPem: readFileSync(webhookConfig.clientCaFile, 'utf8') } : {}),
          host,
          port,
        });
        webhook = server;
        addresses.webhook = `${host}:${server.port}`;
        logger.info('webhook listening', { address: addresses.webhook });
      },
      stop: () => webhook?.close(),
    });
  }
  if (config.issuerAddress) {
    let issuer: IssuerServer | undefined;
    onRenewal.push((tls) => (issuer?.server as HttpsServer | undefined)?.setSecureContext({ cert: tls.certPem, key: tls.keyPem }));
    manager.add({
      name: 'issuer',
      start: async () => {
        const app = createIssuerApp({
          authenticator: createPodAuthenticator(clients, { logger, metrics: issuerMetrics }),
          grants,
          sts: deps.sts,
          logger: logger.child({ component: 'issuer' }),
          metrics: issuerMetrics,
          events: new EventRecorder({ core: clients.core, logger, component: 'valet-issuer' }),
          ready: () => informers.hasSynced(),
          settings: {
            requestTimeoutMs: config.requestTimeoutSeconds * 1000,
            rateLimit: { ratePerSecond: config.stsRatePerSecond, burst: config.stsBurst, maxQueue: 1000 },
            ...deps.issuerSettings,
          },
        });
        // A restart (startPart) listens where the first start did.
        const { host, port } = hostPort(addresses.issuer ?? config.issuerAddress);
        issuer = await startIssuerServer({ app, tls: operatorTls, host, port });
        addresses.issuer = `${host}:${issuer.port}`;
        logger.info('issuer listening', { url: issuer.url });
      },
      stop: () => issuer?.close(),
    });
  }

  // leader: the controller's workers, while this replica holds the Lease (or always, unelected).
  let leading = false;
  const lead = (signal: AbortSignal): Promise<void> => {
    leading = true;
    metrics.leader.set(1);
    return boundedAfterAbort(controller.lead(signal), signal, LEADER_STOP_BOUND_MS, logger).finally(() => {
      leading = false;
      metrics.leader.set(0);
    });
  };
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
    let campaign: Promise<void> | undefined;
    manager.add({
      name: 'leader',
      start: () => {
        campaign = elector.run({ onStartedLeading: lead, onStoppedLeading: () => metrics.leader.set(0) });
      },
      stop: async () => {
        await elector.stop();
        await campaign;
      },
    });
  } else {
    let stopLeading: AbortController | undefined;
    let work: Promise<void> | undefined;
    manager.add({
      name: 'leader',
      start: () => {
        stopLeading = new AbortController();
        work = lead(stopLeading.signal);
      },
      stop: async () => {
        stopLeading?.abort();
        await work;
      },
    });
  }

  await manager.start();
  return {
    ready: () => manager.ready(),
    notReady: () => manager.notReady(),
    leading: () => leading,
    addresses,
    stopPart: (name) => manager.stopPart(name),
    startPart: (name) => manager.startPart(name),
    stop: (timeoutMs = 20_000) => manager.stop(timeoutMs),
  };
}
