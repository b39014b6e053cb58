// The sidecar assembled from its parts: key cache and refresher, the loopback server, the metrics
// server and the manifest files. Everything is passed in or built from the config here; the CLI
// (src/cli/sidecar.ts) adds process signals and real clocks.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { SidecarConfig } from '../config/sidecar.ts';
import { createPresigner } from '../issuer/presign.ts';
import type { Presigner } from '../issuer/presign.ts';
import { listObjects } from '../issuer/s3-list.ts';
import type { ObjectLister } from '../issuer/s3-list.ts';
import { createSidecarMetrics } from '../metrics/sidecar.ts';
import type { SidecarMetrics } from '../metrics/sidecar.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { generatePodToken, loaderCapability } from '../policy/pod-token.ts';
import { writeAuthTokenFile } from './auth.ts';
import { createLoopbackHandler, createMetricsHandler } from './http.ts';
import { createIssuerClient } from './issuer-client.ts';
import type { KeySource, Transport } from './issuer-client.ts';
import { KeyCache } from './keys.ts';
import { createRemoteSigner } from './sign-client.ts';
import type { RemoteSigner } from './sign-client.ts';
import { ManifestFileKeeper } from './manifest.ts';
import { unrefTimers as systemTimers } from '../platform/timers.ts';
import type { Timers } from '../platform/timers.ts';

// node:http through getBuiltinModule, not `import`: an ES import of node:http makes Node build its
// module namespace, which reads every export, including the lazy WebSocket getters that load
// undici (with http2, worker_threads and assert): ~5 MB of resident memory that nothing here uses
// (docs/performance.md §6). The CommonJS object is the same module, already loaded.
const { createServer } = process.getBuiltinModule('node:http');

export interface SidecarDeps {
  logger: Logger;
  registry: Registry;
  clock?: Clock;
  timers?: Timers;
  random?: () => number;
  /** Replaces the HTTPS client of the issuer (tests). */
  source?: KeySource;
  transport?: Transport;
  lister?: ObjectLister;
  presigner?: Presigner;
  /** Replaces the issuer's signing client for azureBlob and gcs accesses (tests). */
  remote?: RemoteSigner;
  /** The loopback Authorization value; generated when absent. */
  authToken?: string;
}

export interface Sidecar {
  readonly cache: KeyCache;
  readonly metrics: SidecarMetrics;
  /** Port on 127.0.0.1. */
  readonly port: number;
  readonly metricsPort: number;
  /** The loopback Authorization value. A secret. */
  readonly authToken: string;
  readonly manifests: readonly ManifestFileKeeper[];
  /** Stops refreshing and closes both servers. */
  close(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Writes the auth-token file, starts both servers, and starts fetching keys. Resolves once the
 * servers listen and the first fetch of every access has settled (ready or not: /readyz tells).
 */
export async function startSidecar(config: SidecarConfig, deps: SidecarDeps): Promise<Sidecar> {
  const clock = deps.clock ?? systemClock;
  const timers = deps.timers ?? systemTimers;
  const random = deps.random ?? Math.random;
  const logger = deps.logger;
  const metrics = createSidecarMetrics(deps.registry);
  const source =
    deps.source ??
    createIssuerClient({ url: config.issuerUrl, caFile: config.issuerCaFile, tokenFile: config.tokenFile, timeoutMs: config.requestTimeoutSeconds * 1000, transport: deps.transport });
  const cache = new KeyCache(
    {
      accesses: config.accesses,
      defaultAccess: config.defaultAccess || undefined,
      refreshFraction: config.refreshFraction,
      refreshJitter: config.refreshJitter,
      expiryMarginMs: config.expiryMarginSeconds * 1000,
      retryBaseMs: config.retryBaseSeconds * 1000,
      retryMaxMs: config.retryMaxSeconds * 1000,
      minRefreshDelayMs: 1000,
      clockSkewWarnSeconds: config.clockSkewWarnSeconds,
    },
    { source, clock, timers, random, logger: logger.child({ component: 'keys' }), metrics },
  );
  metrics.track(() => ({ ready: cache.ready(), expiries: cache.expiries() }));
  const presigner = deps.presigner ?? createPresigner();
  const remote = deps.remote ?? createRemoteSigner({ url: config.issuerUrl, caFile: config.issuerCaFile, tokenFile: config.tokenFile, timeoutMs: config.requestTimeoutSeconds * 1000, transport: deps.transport });
  const lister = deps.lister ?? listObjects;

  const authToken = deps.authToken ?? (config.podAuthToken || generatePodToken());
  await writeAuthTokenFile(config.authTokenFile, authToken, config.authTokenFileMode);

  const loopback = createServer(
    createLoopbackHandler({
      cache,
      authToken,
      loaderCapability: loaderCapability(authToken),
      loaderUrlSeconds: config.loaderUrlSeconds,
      logger: logger.child({ component: 'loopback' }),
      presignDefaultSeconds: config.presignDefaultExpirySeconds,
      lister,
      presigner,
      remote,
      clock,
      metrics,
    }),
  );
  loopback.keepAliveTimeout = 5_000;
  loopback.headersTimeout = 10_000;
  const metricsServer = createServer(createMetricsHandler({ registry: deps.registry, cache, metrics }));
  metricsServer.headersTimeout = 10_000;
  const i = config.metricsAddress.lastIndexOf(':');
  const metricsHost = config.metricsAddress.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  let port: number;
  let metricsPort: number;
  try {
    port = await listen(loopback, '127.0.0.1', config.port);
    metricsPort = await listen(metricsServer, metricsHost, Number(config.metricsAddress.slice(i + 1)));
  } catch (err) {
    await Promise.all([loopback.listening ? closeServer(loopback) : undefined, metricsServer.listening ? closeServer(metricsServer) : undefined]);
    throw err;
  }
  logger.info('sidecar listening', { port, metricsAddress: `${metricsHost}:${metricsPort}`, accesses: config.accesses, authFile: config.authTokenFile });

  await cache.start();
  const manifests = config.manifests.map(
    (m) =>
      new ManifestFileKeeper(
        { access: m.access, path: m.path, format: m.format, expiresSeconds: config.manifestExpirySeconds, rewriteFraction: config.refreshFraction, retryBaseMs: config.retryBaseSeconds * 1000, retryMaxMs: config.retryMaxSeconds * 1000 },
        { cache, lister, presigner, remote, clock, metrics, timers, random, logger: logger.child({ component: 'manifest' }) },
      ),
  );
  for (const m of manifests) m.start();

  return {
    cache,
    metrics,
    port,
    metricsPort,
    authToken,
    manifests,
    async close() {
      cache.stop();
      await Promise.all(manifests.map((m) => m.stop()));
      await Promise.all([closeServer(loopback), closeServer(metricsServer)]);
    },
  };
}
