// The thin HTTPS adapter: POST /mutate carries an AdmissionReview v1 to mutate() and back.
// A body that is not JSON, not a review, or larger than the limit is answered 400; /healthz
// answers 200; anything else 404 (405 for another method on /mutate). The serving certificate can
// be swapped while running (setTls), for the operator's certificate renewal.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../platform/clock.ts';
import { mutate } from './mutate.ts';
import type { MutateDeps } from './mutate.ts';
import { BadReviewError } from './review.ts';

export const MUTATE_PATH = '/mutate';
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Large bodies (over SMALL_BODY_BYTES, or of unknown length) held at once, across connections. */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** A pod's AdmissionReview is typically a few KiB; bodies up to this size need only a slot. */
export const SMALL_BODY_BYTES = 256 * 1024;
export const DEFAULT_MAX_CONCURRENT = 64;
export const DEFAULT_MAX_CONNECTIONS = 512;

export interface WebhookHandlerDeps extends MutateDeps {
  /** Largest body accepted; default 4 MiB. */
  maxBodyBytes?: number;
  /**
   * Limits before work: how many reviews may be in flight (each small one holds at most
   * SMALL_BODY_BYTES), and the bytes the large ones may hold together (each reserves its declared
   * Content-Length, or maxBodyBytes when it declares none). Beyond either, 429 with Retry-After,
   * before a byte of the body is read; a flood of large bodies cannot crowd out ordinary reviews.
   * Defaults 64 and 16 MiB: at most 16 + 64 × 0.25 = 32 MiB of bodies.
   */
  maxBufferedBytes?: number;
  maxConcurrent?: number;
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...extra };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers).end(text);
}

const badRequest = (res: ServerResponse, message: string, close = false) => sendJson(res, 400, { error: { code: 'BadAdmissionReview', message } }, close);

/** The request handler, usable on any node:http(s) server (unit tests use plain HTTP). */
export function createWebhookHandler(deps: WebhookHandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const clock = deps.clock ?? systemClock;
  const limit = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const budget = deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const maxConcurrent = deps.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  let reserved = 0;
  let inflight = 0;
  const countBad = (started: number) => {
    deps.metrics?.admissions.inc({ result: 'BadRequest' });
    deps.metrics?.admissionSeconds.observe({ result: 'BadRequest' }, (clock.monotonic() - started) / 1000);
  };
  return (req, res) => {
    const started = clock.monotonic();
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      req.resume();
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    }
    if (path !== MUTATE_PATH) {
      req.resume();
      return sendJson(res, 404, { error: { code: 'NotFound', message: `this server answers POST ${MUTATE_PATH} and GET /healthz` } });
    }
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('allow', 'POST');
      return sendJson(res, 405, { error: { code: 'MethodNotAllowed', message: `use POST ${MUTATE_PATH}` } });
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      req.resume();
      countBad(started);
      return badRequest(res, 'the body must be an application/json AdmissionReview');
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      countBad(started);
      // Do not read a body we will not use: answer and close the connection.
      return badRequest(res, `the body is larger than ${limit} bytes`, true);
    }
    const reserve = declared > 0 && declared <= SMALL_BODY_BYTES ? 0 : declared > 0 ? declared : limit;
    if (inflight >= maxConcurrent || (reserve > 0 && reserved + reserve > budget)) {
      deps.metrics?.admissions.inc({ result: 'Overloaded' });
      // Answer and close without reading the body: a flood of slow or large requests costs no memory.
      return sendJson(res, 429, { error: { code: 'Overloaded', message: 'the webhook is reading too many requests; retry later' } }, true, { 'retry-after': '1' });
    }
    inflight++;
    reserved += reserve;
    let released = false;
    const releaseBudget = () => {
      if (released) return;
      released = true;
      inflight--;
      reserved -= reserve;
    };
    res.once('close', releaseBudget);
    res.once('finish', releaseBudget);
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    // A small body may not grow past what it declared (Node enforces Content-Length), so only
    // bodies of unknown length can exceed their reservation: they are held to maxBodyBytes.
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > limit) {
        refused = true;
        chunks.length = 0;
        countBad(started);
        badRequest(res, `the body is larger than ${limit} bytes`, true);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (refused) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        countBad(started);
        return badRequest(res, 'the body is not valid JSON');
      }
      try {
        sendJson(res, 200, mutate(body, deps, started).review);
      } catch (err) {
        if (err instanceof BadReviewError) {
          countBad(started);
          deps.logger.warn('malformed AdmissionReview', { reason: err.message });
          return badRequest(res, err.message);
        }
        deps.logger.error('webhook request failed', { err });
        sendJson(res, 500, { error: { code: 'InternalError', message: 'internal error' } });
      }
    });
  };
}

export interface TlsPems {
  certPem: string;
  /** A secret: never log it. */
  keyPem: string;
}

export interface WebhookServerOptions extends WebhookHandlerDeps {
  tls: TlsPems;
  /** PEM CA bundle: when set, only clients with a certificate it signed complete the TLS handshake. */
  clientCaPem?: string;
  /** Default 0.0.0.0. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Default 512. */
  maxConnections?: number;
}

export interface WebhookServer {
  /** https://host:port (the MutatingWebhookConfiguration appends /mutate). */
  readonly url: string;
  readonly port: number;
  /** Serves a new certificate to new connections (renewal). */
  setTls(tls: TlsPems): void;
  close(): Promise<void>;
}

/** Starts the HTTPS server and resolves once it listens. */
export function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const clientAuth = opts.clientCaPem ? { ca: opts.clientCaPem, requestCert: true, rejectUnauthorized: true } : {};
  const server: Server = createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2', ...clientAuth }, createWebhookHandler(opts));
  // Against slow clients: headers within 10 s, the whole request within 30 s (the API server
  // gives a webhook at most 30 s), and a bound on open connections.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 30_000;
  server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const host = opts.host ?? '0.0.0.0';
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `https://${shown}:${port}`,
        port,
        setTls: (tls) => server.setSecureContext({ cert: tls.certPem, key: tls.keyPem, ...(opts.clientCaPem ? { ca: opts.clientCaPem } : {}) }),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
