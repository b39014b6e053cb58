// The loopback server's /v1/loader/… routes (see loader.ts for the URLs and why they exist): a
// redirect per object request, and manifests of stable URLs for WebDataset, plain URL lists and
// wids. Nothing here is served without the pod's loader capability, and nothing is signed that
// the held key would not grant.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ListedObject } from '../issuer/s3-list.ts';
import { secretMatches } from '../policy/pod-token.ts';
import type { LoopbackDeps } from './http.ts';
import type { HeldKey } from './keys.ts';
import { bracePattern, checkRange, loaderObjectUrl } from './loader.ts';
import type { LoaderPath } from './loader.ts';
import { listGranted } from './manifest.ts';
import type { ManifestStats } from './manifest.ts';
import { planManifest, planPresign, SidecarFailure } from './presign.ts';
import { drained, NO_STORE, sendError, sendJson } from './respond.ts';
import { RemoteSignError } from './sign-client.ts';
import { countSamples } from './tar-samples.ts';

/** A pattern is computed over every shard name: at most this many. */
export const MAX_PATTERN_SHARDS = 100_000;
/** A wids index reads every shard once to count its samples: at most this many. */
export const MAX_WIDS_SHARDS = 1_000;
const WIDS_CONCURRENCY = 4;
const SHARD = /\.(tar|tgz|tar\.gz)$/;

export interface LoaderDeps {
  /** The path segment VALET_LOADER_URL carries (loaderCapability of the pod token). A secret. */
  loaderCapability: string;
  /** Lifetime of each redirect target (capped by the key's remaining life). */
  loaderUrlSeconds: number;
  /** Reads an object through a presigned URL (wids counting); fetch by default. */
  fetchObject?: (url: string, signal: AbortSignal) => Promise<AsyncIterable<Uint8Array>>;
}

/** Counted samples per shard (by bucket, key and size), so a second index costs no reads. */
const sampleCounts = new Map<string, number>();
const SAMPLE_CACHE_MAX = 10_000;

async function fetchObject(url: string, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  const res = await fetch(url, { signal, redirect: 'error' });
  if (!res.ok || !res.body) throw new SidecarFailure(502, 'ShardReadFailed', `reading a shard to count its samples failed with HTTP ${res.status}`);
  return res.body as unknown as AsyncIterable<Uint8Array>;
}

export function serveLoader(d: LoopbackDeps, req: IncomingMessage, res: ServerResponse, path: LoaderPath): void {
  req.resume();
  if (!secretMatches(path.capability, d.loaderCapability)) {
    return sendError(res, { status: 401, code: 'Unauthorized', message: 'this loader URL does not carry the pod\'s loader capability: build URLs from VALET_LOADER_URL' });
  }
  const allowed = path.kind === 'object' ? ['GET', 'HEAD'] : ['GET'];
  if (!allowed.includes(req.method ?? '')) return sendError(res, { status: 405, code: 'MethodNotAllowed', message: `only ${allowed.join(' and ')} are allowed here` }, { allow: allowed.join(', ') });
  const found = d.cache.lookup(path.access);
  if (!found.ok) return sendError(res, found, found.status === 503 ? { 'retry-after': '1' } : {});
  const key = found.key;
  const params = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
  const base = `http://127.0.0.1:${req.socket.localPort ?? 0}/v1/loader/${d.loaderCapability}`;
  if (path.kind === 'object') return void redirect(d, req, res, key, path.key);
  const prefix = params.get('prefix') ?? key.prefix;
  const plan = planManifest(key, new Map([['prefix', prefix]]), d.cache.remainingSeconds(key), d.presignDefaultSeconds);
  if (!plan.ok) return sendError(res, plan.error);
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  const stats: ManifestStats = { objects: 0, skipped: 0 };
  const pages = listGranted(key, plan.prefix, d, stats, abort.signal);
  const fail = (err: unknown) => {
    if (res.headersSent) return void res.destroy(err as Error);
    if (err instanceof SidecarFailure) return sendError(res, err);
    const e = err as Error;
    d.logger.warn('loader manifest failed', { access: key.access, reason: e.message });
    return sendError(res, { status: 502, code: 'ListFailed', message: `listing ${plan.prefix} failed: ${e.name}` });
  };
  const run = path.format === 'urls' ? streamUrls(res, pages, base, key) : path.format === 'pattern' ? servePattern(res, pages, base, key) : serveWids(d, res, pages, base, key, abort.signal);
  run.catch(fail);
}

/** A URL for one object and method: presigned here with the held key (s3), or by the issuer. */
async function signedUrl(d: LoopbackDeps, key: HeldKey, objectKey: string, method: 'GET' | 'HEAD', expiresSeconds: number, signal: AbortSignal): Promise<string> {
  if (key.delivery === 'stsKeys') {
    const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, sessionToken: key.sessionToken };
    const target = { bucket: key.bucket, region: key.region, ...(key.endpoint ? { endpoint: key.endpoint } : {}) };
    return d.presigner.presign({ credentials, target, key: objectKey, method, expiresSeconds, now: d.clock.now() });
  }
  if (!d.remote) throw new Error(`no issuer signing client for ${key.provider} access ${JSON.stringify(key.access)}`);
  return (await d.remote.sign(key.access, method, [objectKey], expiresSeconds, signal)).urls[0]?.url ?? '';
}

/** 302 to a presigned URL for this one request's method. */
async function redirect(d: LoopbackDeps, req: IncomingMessage, res: ServerResponse, key: HeldKey, objectKey: string): Promise<void> {
  const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
  const plan = planPresign(key, new Map([['key', objectKey], ['method', method], ['expires', String(d.loaderUrlSeconds)]]), d.cache.remainingSeconds(key), d.loaderUrlSeconds);
  if (!plan.ok) return sendError(res, plan.error);
  const range = checkRange(req.headers.range);
  if (range) return sendError(res, range);
  if (key.delivery !== 'stsKeys' && !d.remote) return sendError(res, { status: 503, code: 'IssuerUnavailable', message: 'this sidecar has no issuer signing client' });
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  let url: string;
  try {
    url = await signedUrl(d, key, plan.objectKey, method, plan.expiresSeconds, abort.signal);
  } catch (err) {
    if (err instanceof RemoteSignError) return sendError(res, err, err.status === 503 ? { 'retry-after': '1' } : {});
    return sendError(res, { status: 502, code: 'SignFailed', message: 'signing through the issuer failed' });
  }
  d.metrics?.presigns.inc({ method });
  res.writeHead(302, { ...NO_STORE, location: url, 'content-length': 0 }).end();
}

async function streamUrls(res: ServerResponse, pages: AsyncIterable<ListedObject[]>, base: string, key: HeldKey): Promise<void> {
  for await (const objects of pages) {
    if (!res.headersSent) res.writeHead(200, { ...NO_STORE, 'content-type': 'text/plain; charset=utf-8' });
    if (!res.write(objects.map((o) => loaderObjectUrl(base, key.access, o.key)).join('\n') + '\n')) await drained(res);
    if (res.destroyed) return;
  }
  if (!res.headersSent) res.writeHead(200, { ...NO_STORE, 'content-type': 'text/plain; charset=utf-8' });
  res.end();
}

async function shards(pages: AsyncIterable<ListedObject[]>, max: number, prefix: string, what: string): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  for await (const objects of pages) {
    for (const o of objects) {
      if (!SHARD.test(o.key)) continue;
      if (out.length === max) throw new SidecarFailure(413, 'ManifestTooLarge', `${prefix} holds more than ${max} tar shards, more than a ${what} is made for: name a narrower prefix, or use urls.txt`);
      out.push(o);
    }
  }
  if (out.length === 0) throw new SidecarFailure(404, 'NoShards', `no .tar, .tgz or .tar.gz objects under ${prefix}`);
  return out;
}

async function servePattern(res: ServerResponse, pages: AsyncIterable<ListedObject[]>, base: string, key: HeldKey): Promise<void> {
  const found = await shards(pages, MAX_PATTERN_SHARDS, key.prefix, 'brace pattern');
  const pattern = bracePattern(found.map((o) => o.key));
  if (pattern === undefined) {
    throw new SidecarFailure(409, 'NoPattern', `the ${found.length} shards do not form one numbered sequence (same name, one run of digits, none missing): use urls.txt`);
  }
  // Only the digits' braces stay literal; everything else is encoded as in any loader URL.
  const m = /^(.*)\{(\d+)\.\.(\d+)\}(.*)$/s.exec(pattern);
  const encode = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  const text = m ? `${base}/${key.access}/${encode(m[1] ?? '')}{${m[2]}..${m[3]}}${encode(m[4] ?? '')}\n` : `${loaderObjectUrl(base, key.access, pattern)}\n`;
  res.writeHead(200, { ...NO_STORE, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function serveWids(d: LoopbackDeps, res: ServerResponse, pages: AsyncIterable<ListedObject[]>, base: string, key: HeldKey, signal: AbortSignal): Promise<void> {
  const found = await shards(pages, MAX_WIDS_SHARDS, key.prefix, 'wids index (each shard is read to count its samples)');
  const counts = new Array<number>(found.length);
  let next = 0;
  const worker = async () => {
    while (next < found.length && !signal.aborted) {
      const i = next++;
      const o = found[i] as ListedObject;
      counts[i] = await samplesOf(d, key, o, signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WIDS_CONCURRENCY, found.length) }, worker));
  if (signal.aborted) return;
  const index = {
    __kind__: 'wids-shard-index-v1',
    wids_version: 1,
    name: `${key.access}:${key.prefix}`,
    shardlist: found.map((o, i) => ({ url: loaderObjectUrl(base, key.access, o.key), nsamples: counts[i], filesize: o.size })),
  };
  sendJson(res, 200, index);
}

async function samplesOf(d: LoopbackDeps, key: HeldKey, o: ListedObject, signal: AbortSignal): Promise<number> {
  const id = `${key.provider}\0${key.bucket}\0${o.key}\0${o.size}`;
  const cached = sampleCounts.get(id);
  if (cached !== undefined) return cached;
  const plan = planPresign(key, new Map([['key', o.key], ['method', 'GET'], ['expires', '300']]), d.cache.remainingSeconds(key), 300);
  if (!plan.ok) throw new SidecarFailure(plan.error.status, plan.error.code, plan.error.message);
  const url = await signedUrl(d, key, o.key, 'GET', plan.expiresSeconds, signal);
  const body = await (d.fetchObject ?? fetchObject)(url, signal);
  const stream = /gz$/.test(o.key) ? Readable.from(body).pipe(createGunzip()) : body;
  let n: number;
  try {
    n = await countSamples(stream);
  } catch (err) {
    throw new SidecarFailure(422, 'BadShard', `shard ${o.key} could not be read as a tar archive: ${(err as Error).message}`);
  }
  if (sampleCounts.size >= SAMPLE_CACHE_MAX) sampleCounts.delete(sampleCounts.keys().next().value as string);
  sampleCounts.set(id, n);
  return n;
}
