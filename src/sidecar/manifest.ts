// Manifests for HTTP data loaders (WebDataset-style shard lists): the objects under a prefix,
// listed page by page with the scoped key and presigned one by one, produced as a stream of text
// chunks so 10,000 or 10 million objects never sit in memory. Served by GET /v1/manifest/<access>
// and, optionally, kept in a file on the shared volume that is rewritten atomically (temporary file
// + rename) well before its URLs expire.
import { rfc3339 } from '../platform/time.ts';
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { ListedObject, ObjectLister } from '../issuer/s3-list.ts';
import type { Presigner } from '../issuer/presign.ts';
import type { SidecarMetrics } from '../metrics/sidecar.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { validateObjectKey } from '../policy/key.ts';
import type { HeldKey, KeyCache } from './keys.ts';
import type { RemoteSigner } from './sign-client.ts';
import type { Timers } from '../platform/timers.ts';
import { planManifest } from './presign.ts';
import { retryDelay } from './refresh.ts';

export interface ManifestDeps {
  lister: ObjectLister;
  presigner: Presigner;
  /** Signs and lists through the issuer, for azureBlob and gcs accesses. */
  remote?: RemoteSigner;
  clock: Clock;
  metrics?: SidecarMetrics;
}

export interface ManifestSpec {
  prefix: string;
  format: 'jsonl' | 'urls';
  expiresSeconds: number;
}

export interface ManifestStats {
  objects: number;
  /** Listed keys left out: folder markers and keys that fail the key rules (e.g. a '..' segment). */
  skipped: number;
}

/**
 * The objects under `prefix` that the key may read, page by page: listed with the scoped key (s3)
 * or by the issuer (the other providers); folder markers and keys that fail the key rules (e.g. a
 * '..' segment) are left out and counted in `stats.skipped`.
 */
export async function* listGranted(key: HeldKey, prefix: string, deps: ManifestDeps, stats: ManifestStats, signal?: AbortSignal): AsyncGenerator<ListedObject[]> {
  const keep = (o: ListedObject) => {
    const ok = !o.key.endsWith('/') && validateObjectKey(o.key, key.prefix).ok;
    if (!ok) stats.skipped++;
    return ok;
  };
  if (key.delivery === 'stsKeys') {
    const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, sessionToken: key.sessionToken };
    for await (const page of deps.lister({ credentials, bucket: key.bucket, region: key.region, ...(key.endpoint ? { endpoint: key.endpoint } : {}), prefix, signal })) {
      const objects = page.filter(keep);
      if (objects.length > 0) yield objects;
    }
    return;
  }
  const remote = deps.remote;
  if (!remote) throw new Error(`no issuer signing client for ${key.provider} access ${JSON.stringify(key.access)}`);
  let token: string | undefined;
  do {
    const page = await remote.list(key.access, prefix, token, signal);
    token = page.continuationToken;
    const objects = page.objects.filter(keep);
    if (objects.length > 0) yield objects;
  } while (token);
}

/** The manifest as text chunks (one per listed page). `stats` is filled in as it goes. */
export async function* manifestChunks(key: HeldKey, spec: ManifestSpec, deps: ManifestDeps, stats: ManifestStats, signal?: AbortSignal): AsyncGenerator<string> {
  const line = (o: ListedObject, url: string, expiresAt: string) => (spec.format === 'urls' ? `${url}\n` : `${JSON.stringify({ key: o.key, size: o.size, url, expiresAt })}\n`);
  for await (const objects of listGranted(key, spec.prefix, deps, stats, signal)) {
    let out = '';
    if (key.delivery === 'stsKeys') {
      const now = deps.clock.now();
      const expiresAt = rfc3339(now + spec.expiresSeconds * 1000);
      const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, sessionToken: key.sessionToken };
      const target = { bucket: key.bucket, region: key.region, ...(key.endpoint ? { endpoint: key.endpoint } : {}) };
      for (const o of objects) out += line(o, deps.presigner.presign({ credentials, target, key: o.key, method: 'GET', expiresSeconds: spec.expiresSeconds, now }), expiresAt);
    } else {
      // A page is signed in batches, so a request and its answer stay small whatever the key lengths.
      for (let start = 0; start < objects.length; start += MANIFEST_SIGN_BATCH) {
        const batch = objects.slice(start, start + MANIFEST_SIGN_BATCH);
        const signed = await (deps.remote as RemoteSigner).sign(key.access, 'GET', batch.map((o) => o.key), spec.expiresSeconds, signal);
        for (const [i, o] of batch.entries()) out += line(o, signed.urls[i]?.url ?? '', signed.expiresAt);
      }
    }
    stats.objects += objects.length;
    deps.metrics?.presigns.inc({ method: 'GET' }, objects.length);
    yield out;
  }
}

/** Keys per POST /v1/sign from a manifest: 250 keys of up to 1 KiB stay well inside the body limits both ways. */
export const MANIFEST_SIGN_BATCH = 250;

/** Writes `chunks` to `path` atomically: a temporary file in the same folder, then rename. */
export async function writeFileAtomically(path: string, chunks: AsyncIterable<string>, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.manifest.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    for await (const chunk of chunks) await fh.write(chunk);
    await fh.chmod(mode);
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
}

export interface ManifestFileOptions {
  access: string;
  path: string;
  format: 'jsonl' | 'urls';
  /** Requested URL lifetime (capped like any presign). */
  expiresSeconds: number;
  /** Rewrite after this fraction of the URLs' lifetime. */
  rewriteFraction: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** Keeps one manifest file fresh: written once keys are there, rewritten before its URLs expire. */
export class ManifestFileKeeper {
  private readonly o: ManifestFileOptions;
  private readonly d: ManifestDeps & { cache: KeyCache; timers: Timers; random: () => number; logger: Logger };
  private timer: unknown;
  private failures = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  /** Wall ms of the last successful write. */
  lastWritten: number | undefined;

  constructor(options: ManifestFileOptions, deps: ManifestDeps & { cache: KeyCache; timers: Timers; random: () => number; logger: Logger }) {
    this.o = options;
    this.d = deps;
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.d.timers.clearTimeout(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.d.timers.clearTimeout(this.timer);
    this.timer = this.d.timers.setTimeout(() => {
      this.running = this.writeOnce();
    }, ms);
  }

  /** Writes the file now; resolves with the delay until the next rewrite. */
  async writeOnce(): Promise<void> {
    const { cache, logger, metrics } = this.d;
    const found = cache.lookup(this.o.access);
    try {
      if (!found.ok) throw new Error(found.message);
      const plan = planManifest(found.key, new Map([['format', this.o.format], ['expires', String(this.o.expiresSeconds)]]), cache.remainingSeconds(found.key), this.o.expiresSeconds);
      if (!plan.ok) throw new Error(`${plan.error.code}: ${plan.error.message}`);
      const stats: ManifestStats = { objects: 0, skipped: 0 };
      const started = this.d.clock.monotonic();
      await writeFileAtomically(this.o.path, manifestChunks(found.key, plan, this.d, stats, this.abort.signal));
      this.failures = 0;
      this.lastWritten = this.d.clock.now();
      metrics?.manifestWrites.inc({ result: 'ok' });
      const next = Math.max(1000, plan.expiresSeconds * 1000 * this.o.rewriteFraction - (this.d.clock.monotonic() - started));
      logger.debug('manifest file written', { access: this.o.access, path: this.o.path, objects: stats.objects, skipped: stats.skipped, urlSeconds: plan.expiresSeconds, nextInMs: Math.round(next) });
      this.schedule(next);
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      metrics?.manifestWrites.inc({ result: 'error' });
      const delay = retryDelay(this.failures, { baseMs: this.o.retryBaseMs, maxMs: this.o.retryMaxMs }, this.d.random());
      (this.failures === 1 ? logger.warn : logger.debug).call(logger, 'manifest file not written; retrying', { access: this.o.access, path: this.o.path, reason: (err as Error).message, retryInMs: Math.round(delay) });
      this.schedule(delay);
    }
  }
}
