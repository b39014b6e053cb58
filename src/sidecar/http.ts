// The sidecar's two HTTP faces, as plain request handlers:
// - loopback (127.0.0.1 only): keys in the container-credentials format, presigned URLs and
//   manifests, each request authorized by the value in the auth-token file; /healthz and /readyz.
// - metrics (pod IP, for Prometheus and the kubelet's probes): /metrics, /healthz, /readyz and
//   nothing else: it never serves a key, a URL or the auth token.
import { CAPABILITIES } from '../providers/capabilities.ts';
import { rfc3339 } from '../platform/time.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { SidecarMetrics } from '../metrics/sidecar.ts';
import type { Logger } from '../platform/logger.ts';
import type { HeldKey, KeyCache, S3HeldKey, SignedHeldKey } from './keys.ts';
import { RemoteSignError } from './sign-client.ts';
import { parseLoaderPath } from './loader.ts';
import { serveLoader } from './loader-http.ts';
import type { LoaderDeps } from './loader-http.ts';
import { manifestChunks } from './manifest.ts';
import type { ManifestDeps, ManifestStats } from './manifest.ts';
import { parseQuery, planManifest, planPresign } from './presign.ts';
import { secretChecker } from './auth.ts';
import { drained, NO_STORE, sendError, sendJson, sendJsonText } from './respond.ts';

export interface LoopbackDeps extends ManifestDeps, LoaderDeps {
  cache: KeyCache;
  /** The Authorization value requests must carry. A secret. */
  authToken: string;
  logger: Logger;
  /** Lifetime of a presigned URL when the request names none (capped like any other). */
  presignDefaultSeconds: number;
}

type Route = 'credentials' | 'presign' | 'manifest' | 'sas' | 'list' | 'loader' | 'healthz' | 'readyz' | 'metrics' | 'other';
const ROUTES: readonly Route[] = ['credentials', 'presign', 'manifest', 'sas', 'list', 'loader', 'healthz', 'readyz', 'metrics', 'other'];

/**
 * Counts each response in valet_sidecar_requests_total once it is sent ('finish'), through one
 * listener per route made here rather than a closure per request.
 */
function requestCounter(metrics: SidecarMetrics | undefined): (res: ServerResponse, route: Route) => void {
  if (!metrics) return () => {};
  const listeners = new Map<Route, (this: ServerResponse) => void>(
    ROUTES.map((route) => [
      route,
      function (this: ServerResponse) {
        metrics.countRequest(route, this.statusCode);
      },
    ]),
  );
  // `on`, not `once`: a response emits 'finish' once, and goes with its listeners.
  return (res, route) => void res.on('finish', listeners.get(route) ?? (() => {}));
}

/**
 * A request target whose path is plain (segments of letters, digits and -._~ that are not dot
 * segments, no leading //) and that has no query or fragment: `new URL` would give it back as its
 * pathname unchanged, with an empty search, so the hot path skips the parser. http.test.ts holds
 * the equivalence for arbitrary targets.
 */
export const PLAIN_TARGET = /^(?=\/)(?:\/(?!\.\.?(?:\/|$))[\w.~-]+)*\/?$/;

/**
 * The pathname and search of a request target, as `new URL(target, 'http://127.0.0.1')` gives them.
 * A target that is no URL at all (`//`, `///`, `//a:b`: an authority with no valid host) has the
 * pathname '', which no route matches: `new URL` would throw, and a throw here would end the
 * process, on the metrics port too, which any pod can reach.
 */
export function splitTarget(target: string): { pathname: string; search: string } {
  if (PLAIN_TARGET.test(target)) return { pathname: target, search: '' };
  const url = URL.parse(target, 'http://127.0.0.1');
  return url === null ? { pathname: '', search: '' } : { pathname: url.pathname, search: url.search };
}

const NO_QUERY: { ok: true; params: ReadonlyMap<string, string> } = { ok: true, params: new Map() };

function probe(res: ServerResponse, route: 'healthz' | 'readyz', ready: () => boolean): void {
  const ok = route === 'healthz' || ready();
  res.writeHead(ok ? 200 : 503, { ...NO_STORE, 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready: an expected access has no valid key');
}

/** Splits /v1/<what>[/<access>]; the access segment is percent-decoded once, strictly. */
function pathParts(pathname: string): { what: string; access?: string } | undefined {
  const m = /^\/v1\/([a-z]+)(?:\/([^/]+))?\/?$/.exec(pathname);
  if (!m) return undefined;
  if (m[2] === undefined) return { what: m[1] ?? '' };
  try {
    return { what: m[1] ?? '', access: decodeURIComponent(m[2]) };
  } catch {
    return undefined;
  }
}

/** One serialized /v1/credentials answer: for one held key (the map's key) and one second of Expiration. */
interface CredentialsBody {
  second: number;
  text: string;
  bytes: number;
}

export function createLoopbackHandler(d: LoopbackDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { cache } = d;
  const authorized = secretChecker(d.authToken);
  const count = requestCounter(d.metrics);
  // The credentials answer changes only when the key does (a refresh holds a new object) or when
  // its Expiration, in whole seconds on the pod's clock, does: serialized once per pair.
  const bodies = new WeakMap<S3HeldKey, CredentialsBody>();
  const sendCredentials = (res: ServerResponse, key: S3HeldKey): void => {
    const expirationMs = cache.expirationMs(key);
    const second = Math.floor(expirationMs / 1000);
    let body = bodies.get(key);
    if (body === undefined || body.second !== second) {
      const text = JSON.stringify({ AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey, Token: key.sessionToken, Expiration: rfc3339(expirationMs) });
      body = { second, text, bytes: Buffer.byteLength(text) };
      bodies.set(key, body);
    }
    sendJsonText(res, 200, body.text, body.bytes);
  };

  return (req, res) => {
    const { pathname, search } = splitTarget(req.url ?? '/');
    if (pathname === '/healthz' || pathname === '/readyz') {
      const route = pathname === '/healthz' ? 'healthz' : 'readyz';
      count(res, route);
      return probe(res, route, () => cache.ready());
    }
    // Loader URLs carry their proof in the path (loaders send no headers): see loader.ts.
    const loader = parseLoaderPath(pathname);
    if (loader !== undefined) {
      count(res, 'loader');
      if ('status' in loader) {
        req.resume();
        return sendError(res, loader);
      }
      return serveLoader(d, req, res, loader);
    }
    const parts = pathParts(pathname);
    const route: Route = parts && (parts.what === 'credentials' || parts.what === 'presign' || parts.what === 'manifest' || parts.what === 'sas' || parts.what === 'list') ? parts.what : 'other';
    count(res, route);
    // Everything else needs the token, whatever the path: no probing of routes without it.
    if (!authorized(req.headers.authorization)) {
      req.resume();
      return sendError(res, { status: 401, code: 'Unauthorized', message: 'missing or wrong Authorization value (see AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)' });
    }
    if (!parts) return sendError(res, { status: 404, code: 'NotFound', message: 'no such endpoint' });
    if (req.method !== 'GET' && !(req.method === 'HEAD' && route !== 'manifest')) {
      return sendError(res, { status: 405, code: 'MethodNotAllowed', message: 'only GET is allowed' }, { allow: 'GET' });
    }
    const q = search === '' ? NO_QUERY : parseQuery(search);
    if (!q.ok) return sendError(res, q.error);
    const accessName = route === 'presign' ? (q.params.get('access') ?? parts.access) : parts.access;
    if (route === 'other' || (route === 'presign' && parts.access !== undefined && q.params.has('access'))) {
      return sendError(res, { status: 404, code: 'NotFound', message: 'no such endpoint' });
    }
    if ((route === 'manifest' || route === 'sas' || route === 'list') && accessName === undefined) return sendError(res, { status: 404, code: 'NotFound', message: `use /v1/${route}/<access>` });
    const access = accessName || cache.defaultAccess();
    if (access === undefined) {
      const served = cache.servedAccesses();
      if (served.length > 1) {
        return sendError(res, {
          status: 409,
          code: 'NoDefaultAccess',
          message: `this pod has several accesses (${served.slice(0, 8).join(', ')}) and names no default: use /v1/${route}/<access>, or set the pod annotation valet.dev/default-access`,
        });
      }
      return sendError(res, { status: 503, code: 'KeyUnavailable', message: 'no key yet' }, { 'retry-after': '1' });
    }
    const found = cache.lookup(access);
    if (!found.ok) return sendError(res, found, found.status === 503 ? { 'retry-after': '1' } : undefined);
    const key = found.key;
    const routes = CAPABILITIES[key.provider].sidecarRoutes;
    if (!routes.includes(route)) {
      const no = route === 'credentials' ? ', which has no AWS credentials' : route === 'list' ? ', which has no listing' : '';
      return sendError(res, { status: 409, code: 'WrongProvider', message: `access ${JSON.stringify(key.access)} is a ${key.provider} access${no}: use ${routes.map((r) => `/v1/${r}`).join(', ')}` });
    }
    if (route === 'credentials' && key.delivery === 'stsKeys') return sendCredentials(res, key);

    const remaining = cache.remainingSeconds(key);
    if (key.delivery === 'signedUrls') return void serveSigned(d, key, route, q.params, remaining, res);
    const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, sessionToken: key.sessionToken };
    const target = { bucket: key.bucket, region: key.region, ...(key.endpoint ? { endpoint: key.endpoint } : {}) };
    if (route === 'presign') {
      const plan = planPresign(key, q.params, remaining, d.presignDefaultSeconds);
      if (!plan.ok) return sendError(res, plan.error);
      if (plan.method === 'DELETE') return sendError(res, { status: 400, code: 'BadMethod', message: 'method must be GET, PUT or HEAD' });
      const now = d.clock.now();
      const signed = d.presigner.presign({ credentials, target, key: plan.objectKey, method: plan.method, expiresSeconds: plan.expiresSeconds, now });
      d.metrics?.presigns.inc({ method: plan.method });
      return sendJson(res, 200, { url: signed, expiresAt: rfc3339(now + plan.expiresSeconds * 1000), method: plan.method, access: key.access, key: plan.objectKey });
    }

    return serveManifest(d, key, q.params, remaining, res);
  };
}

/** GET /v1/manifest/<access>: streamed, for s3 (listed and signed here) and azureBlob (by the issuer). */
function serveManifest(d: LoopbackDeps, key: HeldKey, params: ReadonlyMap<string, string>, remaining: number, res: ServerResponse): void {
  const { logger } = d;
  const plan = planManifest(key, params, remaining, d.presignDefaultSeconds);
  if (!plan.ok) return sendError(res, plan.error);
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  const stats: ManifestStats = { objects: 0, skipped: 0 };
  void (async () => {
    const chunks = manifestChunks(key, plan, d, stats, abort.signal);
    let first: IteratorResult<string>;
    try {
      first = await chunks.next();
    } catch (err) {
      logger.warn('manifest listing failed', { access: key.access, reason: (err as Error).message });
      if (err instanceof RemoteSignError) return sendError(res, err);
      return sendError(res, { status: 502, code: 'ListFailed', message: `listing ${plan.prefix} failed: ${(err as Error).name}` });
    }
    res.writeHead(200, { ...NO_STORE, 'content-type': plan.format === 'jsonl' ? 'application/x-ndjson' : 'text/plain; charset=utf-8' });
    try {
      for (let r = first; !r.done; r = await chunks.next()) {
        if (!res.write(r.value)) await drained(res);
        if (abort.signal.aborted) return;
      }
      res.end();
      logger.debug('manifest served', { access: key.access, prefix: plan.prefix, objects: stats.objects, skipped: stats.skipped });
    } catch (err) {
      // Headers are gone: cut the stream so the client sees an incomplete body, not a short list.
      logger.warn('manifest listing failed mid-stream', { access: key.access, objects: stats.objects, reason: (err as Error).message });
      res.destroy(err as Error);
    }
  })();
}

/**
 * An azureBlob or gcs access: nothing is signed here (the issuer holds the key). /v1/presign and
 * /v1/sas sign one object through the issuer's POST /v1/sign after the same checks as for s3;
 * /v1/list pages through the issuer's listing (azureBlob); /v1/manifest streams both.
 */
async function serveSigned(d: LoopbackDeps, key: SignedHeldKey, route: Route, params: ReadonlyMap<string, string>, remaining: number, res: ServerResponse): Promise<void> {
  const remote = d.remote;
  if (route === 'manifest') return serveManifest(d, key, params, remaining, res);
  if (!remote) return sendError(res, { status: 503, code: 'IssuerUnavailable', message: 'this sidecar has no issuer signing client' });
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  try {
    if (route === 'list') {
      if (!key.verbs.includes('list')) return sendError(res, { status: 403, code: 'VerbNotGranted', message: `access ${JSON.stringify(key.access)} does not grant list` });
      const prefix = params.get('prefix') ?? key.prefix;
      const page = await remote.list(key.access, prefix, params.get('continuationToken') || undefined, abort.signal);
      return sendJson(res, 200, { access: key.access, prefix, ...page });
    }
    const plan = planPresign(key, params, remaining, d.presignDefaultSeconds);
    if (!plan.ok) return sendError(res, plan.error);
    const signed = await remote.sign(key.access, plan.method, [plan.objectKey], plan.expiresSeconds, abort.signal);
    const url = signed.urls[0]?.url ?? '';
    d.metrics?.presigns.inc({ method: plan.method });
    const body: Record<string, unknown> = { url, expiresAt: signed.expiresAt, method: plan.method, access: key.access, key: plan.objectKey };
    if (route === 'sas') {
      const u = new URL(url);
      body.containerUrl = `${key.endpoint}/${key.bucket}`;
      body.sas = u.search.slice(1);
    }
    return sendJson(res, 200, body);
  } catch (err) {
    if (err instanceof RemoteSignError) {
      d.logger.warn('the issuer did not sign', { access: key.access, route, status: err.status, code: err.code });
      return sendError(res, err, err.status === 503 ? { 'retry-after': '1' } : {});
    }
    d.logger.warn('signing through the issuer failed', { access: key.access, route, reason: (err as Error).message });
    return sendError(res, { status: 502, code: 'SignFailed', message: 'signing through the issuer failed' });
  }
}

export function createMetricsHandler(d: { registry: Registry; cache: KeyCache; metrics?: SidecarMetrics }): (req: IncomingMessage, res: ServerResponse) => void {
  const count = requestCounter(d.metrics);
  return (req, res) => {
    const path = splitTarget(req.url ?? '/').pathname;
    req.resume();
    const route: Route = path === '/metrics' ? 'metrics' : path === '/healthz' ? 'healthz' : path === '/readyz' ? 'readyz' : 'other';
    count(res, route);
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET' }).end();
    if (route === 'healthz' || route === 'readyz') return probe(res, route, () => d.cache.ready());
    if (route !== 'metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this port serves /metrics, /healthz and /readyz only');
    d.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': d.registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  };
}
