// The issuer's HTTP face: POST /v1/keys (Bearer token, optional JSON body) → keys; POST /v1/sign
// and /v1/list for azureBlob and gcs accesses (sign.ts); /healthz, /readyz. Limits before work: a
// global limit on concurrent requests answers 503 Overloaded, the bearer is authenticated before a
// byte of the body is read (an unauthenticated caller never makes the issuer buffer anything),
// bodies are capped per route and never inflated (no gzip amplification), and the server bounds
// connections and slow headers. Every request has a deadline and is answered by then (504 Timeout
// at worst). Responses are never cached.
import { ISSUER_PATHS } from '../api/issuer/v1/index.ts';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Registry } from 'prom-client';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import { raceAbort } from '../platform/abort.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { createAuditor } from './audit.ts';
import type { Auditor } from './audit.ts';
import { IssuerError, errorBody, toIssuerError } from './errors.ts';
import { KeyIssuer } from './issue.ts';
import type { RequestContext } from './issue.ts';
import { Minter } from './minter.ts';
import type { MinterOptions } from './minter.ts';
import { systemTimers } from '../platform/timers.ts';
import type { Timers } from '../platform/timers.ts';
import type { Authenticator, EventSink, GrantSource } from './ports.ts';
import { parseKeysRequest } from './request.ts';
import { UrlSigner, parseListRequest, parseSignRequest } from './sign.ts';
import type { Sts } from './sts.ts';

export interface IssuerSettings {
  /** Every request is answered within this long. Default 10 s. */
  requestTimeoutMs: number;
  /** Concurrent POST /v1/keys beyond which requests get 503 Overloaded. Default 2,000. */
  maxConcurrentRequests: number;
  /** Largest request body. Default 16 KiB. */
  bodyLimitBytes: number;
  /** Largest POST /v1/sign body (up to 1,000 keys of up to 1,024 bytes). Default 2 MiB. */
  signBodyLimitBytes: number;
  /** Per store: STS calls per second, burst, and how many may queue. */
  rateLimit: MinterOptions['rateLimit'];
  backoff: MinterOptions['backoff'];
  /** Longest single STS attempt. Default 5 s. */
  stsAttemptTimeoutMs: number;
  /** Minimum time between two Events for the same access and reason. Default 60 s. */
  eventIntervalMs: number;
  /** Open connections beyond which new ones are dropped (startIssuerServer). Default 4,096. */
  maxConnections: number;
}

export const ISSUER_DEFAULTS: IssuerSettings = {
  requestTimeoutMs: 10_000,
  maxConcurrentRequests: 2000,
  bodyLimitBytes: 16 * 1024,
  signBodyLimitBytes: 2 * 1024 * 1024,
  rateLimit: { ratePerSecond: 20, burst: 40, maxQueue: 1000, maxQueuePerNamespace: 250 },
  backoff: { baseMs: 100, maxMs: 2000, minAttemptMs: 250 },
  stsAttemptTimeoutMs: 5000,
  eventIntervalMs: 60_000,
  maxConnections: 4096,
};

export interface IssuerAppDeps {
  authenticator: Authenticator;
  grants: GrantSource;
  sts: Sts;
  logger: Logger;
  events?: EventSink;
  metrics?: IssuerMetrics;
  /** Serves GET /metrics when given (the operator may serve it elsewhere instead). */
  registry?: Registry;
  /** /readyz answers 200 only while this is true (e.g. the grant informers have synced). */
  ready?: () => boolean;
  clock?: Clock;
  timers?: Timers;
  random?: () => number;
  settings?: Partial<IssuerSettings>;
}

const bearerOf = (header: string | undefined): string | undefined => {
  const m = /^Bearer +([^\s]+) *$/i.exec(header ?? '');
  return m?.[1];
};

function send(res: Response, err: IssuerError): void {
  if (res.headersSent) return;
  if (err.retryAfterSeconds !== undefined) res.set('Retry-After', String(err.retryAfterSeconds));
  if (err.code === 'Unauthenticated') res.set('WWW-Authenticate', 'Bearer');
  res.status(err.httpStatus).json(errorBody(err));
}

export function createIssuerApp(deps: IssuerAppDeps): express.Express {
  const settings: IssuerSettings = { ...ISSUER_DEFAULTS, ...deps.settings };
  const clock = deps.clock ?? systemClock;
  const timers = deps.timers ?? systemTimers;
  const { metrics, logger } = deps;
  const audit: Auditor = createAuditor({ logger, clock, events: deps.events, eventIntervalMs: settings.eventIntervalMs });
  const minter = new Minter({
    sts: deps.sts,
    grants: deps.grants,
    clock,
    timers,
    random: deps.random,
    logger,
    metrics,
    rateLimit: settings.rateLimit,
    backoff: settings.backoff,
    attemptTimeoutMs: settings.stsAttemptTimeoutMs,
  });
  const issuer = new KeyIssuer({ authenticator: deps.authenticator, grants: deps.grants, minter, audit, clock, logger, metrics });
  const signer = new UrlSigner({ authenticator: deps.authenticator, grants: deps.grants, audit, clock, logger, metrics });
  let inflight = 0;

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const ok = deps.ready ? deps.ready() : true;
    res.status(ok ? 200 : 503).type('text/plain').send(ok ? 'ok' : 'not ready');
  });
  if (deps.registry) {
    const registry = deps.registry;
    app.get('/metrics', async (_req, res) => {
      res.type(registry.contentType).send(await registry.metrics());
    });
  }


  /**
   * One authenticated JSON POST: the global concurrency limit, the bearer, the content type, the
   * body (parsed with `limit`), a deadline, and one metric and (for refusals before `run`) one
   * audit line per answer. `run` audits its own outcomes.
   */
  const post =
    <T>(route: 'keys' | 'sign' | 'list', limit: number, run: (bearer: string, body: unknown, ctx: RequestContext) => Promise<T>) => {
    // inflate: false: a compressed body is refused (415), so its size on the wire is its size.
    const json = express.json({ limit, strict: true, type: 'application/json', inflate: false });
    return (req: Request, res: Response) => {
      const started = clock.monotonic();
      const requestId = randomUUID();
      const remoteAddress = req.socket.remoteAddress;
      const finish = (code: string) => {
        if (route === 'keys') {
          metrics?.requests.inc({ code });
          metrics?.requestSeconds.observe({ code }, (clock.monotonic() - started) / 1000);
        } else metrics?.signRequests.inc({ route, code });
      };
      const refuse = (err: IssuerError) => {
        audit.refused({ code: err.code, latencyMs: clock.monotonic() - started, requestId, remoteAddress, message: err.message });
        finish(err.code);
        send(res, err);
      };
      if (inflight >= settings.maxConcurrentRequests) {
        req.resume();
        return refuse(new IssuerError('Overloaded', `the issuer is handling ${inflight} requests; retry later`));
      }
      const bearer = bearerOf(req.get('authorization'));
      if (!bearer || bearer.length > 16 * 1024) {
        req.resume();
        return refuse(new IssuerError('Unauthenticated'));
      }
      const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
      if (hasBody && !req.is('application/json')) {
        req.resume();
        return refuse(new IssuerError('UnsupportedMediaType'));
      }

      inflight++;
      metrics?.inflight.set(inflight);
      let done = false;
      const controller = new AbortController();
      const timer = timers.setTimeout(() => controller.abort(new IssuerError('Timeout')), settings.requestTimeoutMs);
      const release = () => {
        if (done) return;
        done = true;
        timers.clearTimeout(timer);
        inflight--;
        metrics?.inflight.set(inflight);
      };
      res.once('close', release);

      const declared = Number(req.get('content-length') ?? 0);
      if (declared > limit) {
        req.resume();
        release();
        return refuse(new IssuerError('PayloadTooLarge', `the request body exceeds ${Math.round(limit / 1024)} KiB`));
      }
      // Authenticate before reading the body: the body stays in the socket until the caller is a pod.
      const authenticated = raceAbort(deps.authenticator.authenticate(bearer, controller.signal), controller.signal, deadlineReason);
      authenticated.then(
        () => readBody(),
        (err: unknown) => {
          const e = toIssuerError(err);
          req.resume();
          release();
          refuse(e);
        },
      );
      const readBody = () => json(req, res, (parseErr?: unknown) => {
        void (async () => {
          try {
            if (parseErr) throw bodyError(parseErr, limit);
            const ctx = { requestId, remoteAddress, started, deadline: started + settings.requestTimeoutMs, signal: controller.signal, authenticated };
            const out = await raceAbort(run(bearer, req.body, ctx), controller.signal, deadlineReason);
            finish('OK');
            res.status(200).json(out);
          } catch (err) {
            const e = toIssuerError(err);
            // Errors thrown inside run() were audited there; body errors are audited here.
            if (e.code === 'BadRequest' || e.code === 'PayloadTooLarge' || e.code === 'UnsupportedMediaType') {
              audit.refused({ code: e.code, latencyMs: clock.monotonic() - started, requestId, remoteAddress, message: e.message });
            }
            if (e.code === 'Timeout' && !controller.signal.aborted) controller.abort(e);
            finish(e.code);
            send(res, e);
          } finally {
            release();
          }
        })();
      });
    };
  };

  app.post(
    ISSUER_PATHS.keys,
    post('keys', settings.bodyLimitBytes, (bearer, body, ctx) => issuer.issue(bearer, parseKeysRequest(body), ctx)),
  );
  app.post(
    ISSUER_PATHS.sign,
    post('sign', settings.signBodyLimitBytes, (bearer, body, ctx) => signer.sign(bearer, parseSignRequest(body), ctx)),
  );
  app.post(
    ISSUER_PATHS.list,
    post('list', settings.bodyLimitBytes, (bearer, body, ctx) => signer.list(bearer, parseListRequest(body), ctx)),
  );
  for (const path of Object.values(ISSUER_PATHS)) {
    app.all(path, (_req, res) => {
      res.set('Allow', 'POST');
      send(res, new IssuerError('MethodNotAllowed'));
    });
  }
  app.use((_req, res) => send(res, new IssuerError('NotFound')));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = toIssuerError(err);
    if (e.code === 'Internal') logger.error('issuer request failed', { err });
    send(res, e);
  });
  return app;
}

function bodyError(err: unknown, limit: number): IssuerError {
  const type = (err as { type?: unknown }).type;
  if (type === 'entity.too.large') return new IssuerError('PayloadTooLarge', `the request body exceeds ${Math.round(limit / 1024)} KiB`);
  if (type === 'entity.parse.failed') return new IssuerError('BadRequest', 'the request body is not valid JSON');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return new IssuerError('UnsupportedMediaType');
  return new IssuerError('BadRequest', 'the request body could not be read');
}


export interface IssuerServerOptions {
  app: express.Express;
  /** PEM certificate (chain) and key; undefined serves plain HTTP (tests, or TLS terminated in front). */
  tls: { certPem: string; keyPem: string } | undefined;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Default ISSUER_DEFAULTS.maxConnections. */
  maxConnections?: number;
}

export interface IssuerServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startIssuerServer(opts: IssuerServerOptions): Promise<IssuerServer> {
  const server: Server = opts.tls
    ? createHttpsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2' }, opts.app)
    : createHttpServer(opts.app);
  // Against slow clients: headers within 10 s, the whole request within 30 s, idle keep-alive 5 s,
  // and a bound on open connections (beyond it the kernel's accept is followed by a close).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = opts.maxConnections ?? ISSUER_DEFAULTS.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    server,
    port,
    url: `${opts.tls ? 'https' : 'http'}://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** What a request whose deadline passed is answered: the abort reason (a Timeout). */
function deadlineReason(signal: AbortSignal): IssuerError {
  return signal.reason instanceof IssuerError ? signal.reason : new IssuerError('Timeout');
}
