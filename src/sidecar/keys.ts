// The key cache and its refresher. Keys are fetched in groups: one group per expected access (so
// losing one grant never costs the others), or, when no accesses are configured, one group that
// asks for whatever the pod is granted. Per group: one fetch at a time (concurrent callers share
// it), a refresh at a fraction of the key's lifetime on the monotonic clock, capped exponential
// backoff with jitter on failure while still-valid keys keep being served, and keys dropped at
// once when the issuer refuses (401/403). Expiry is checked again on every read.
import { capabilitiesOf } from '../providers/capabilities.ts';
import { rfc3339 } from '../platform/time.ts';
import type { Verb } from '../api/v1alpha1/index.ts';
import type { SidecarMetrics } from '../metrics/sidecar.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { FetchResult, KeySource, WireKey } from './issuer-client.ts';
import { clockSkewSeconds, isServable, podExpirationMs, refreshAt, retryDelay, servableMs } from './refresh.ts';
import type { HeldTiming } from './refresh.ts';
import type { Timers } from '../platform/timers.ts';

interface HeldBase extends HeldTiming {
  access: string;
  bucket: string;
  prefix: string;
  verbs: readonly Verb[];
  endpoint?: string;
  presign?: { enabled: boolean; maxExpirySeconds?: number };
  /** The issuer's Expiration, as received. */
  issuerExpiration: string;
}

/** An s3 key the sidecar holds: what the issuer said, with its timing on the monotonic clock. */
export interface S3HeldKey extends HeldBase {
  /** STS keys the SDKs use, and the sidecar presigns with (src/providers/capabilities.ts). */
  delivery: 'stsKeys';
  provider: 's3';
  region: string;
  accessKeyId: string;
  /** A secret: never logged. */
  secretAccessKey: string;
  /** A secret: never logged. */
  sessionToken: string;
}

/** An azureBlob or gcs grant: no secret; URLs are signed by the issuer (POST /v1/sign). */
export interface SignedHeldKey extends HeldBase {
  /** No key here: the issuer signs each URL. */
  delivery: 'signedUrls';
  provider: 'azureBlob' | 'gcs';
  endpoint: string;
}

export type HeldKey = S3HeldKey | SignedHeldKey;

/** Whether the issuer sent a signed-URL grant (no credentials) rather than STS keys. */
export function isSignedGrant(k: WireKey): k is Extract<WireKey, { provider: 'azureBlob' | 'gcs' }> {
  return capabilitiesOf(k.provider)?.delivery === 'signedUrls';
}

export type Lookup =
  | { ok: true; key: HeldKey }
  | { ok: false; status: 404 | 503; code: 'NoSuchAccess' | 'KeyUnavailable' | 'KeyRefused' | 'KeyExpired'; message: string };

export interface KeyCacheSettings {
  /** Expected accesses; empty: whatever the issuer grants the pod. */
  accesses: readonly string[];
  /** The access GET /v1/credentials serves; default: the first expected one, or the only/first held. */
  defaultAccess?: string;
  refreshFraction: number;
  refreshJitter: number;
  /** A key is not served in its last `expiryMarginMs`. */
  expiryMarginMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Minimum time between two fetches of a group after a success. */
  minRefreshDelayMs: number;
  /** Skew beyond this is logged at warn. */
  clockSkewWarnSeconds: number;
}

export interface KeyCacheDeps {
  source: KeySource;
  clock: Clock;
  timers: Timers;
  random: () => number;
  logger: Logger;
  metrics?: SidecarMetrics;
}

interface Group {
  id: string;
  request: readonly string[] | undefined;
  /** Accesses this group holds (or, for an explicit group, its one access). */
  members: Set<string>;
  timer: unknown;
  inflight: Promise<void> | undefined;
  /** Failed fetches since the last success. */
  failures: number;
  last: FetchResult['kind'] | undefined;
  refusal: string | undefined;
}

export class KeyCache {
  private readonly s: KeyCacheSettings;
  private readonly d: KeyCacheDeps;
  private readonly held = new Map<string, HeldKey>();
  private readonly groups: Group[];
  private readonly stopping = new AbortController();
  private skewWarned = false;
  private started = false;

  constructor(settings: KeyCacheSettings, deps: KeyCacheDeps) {
    this.s = settings;
    this.d = deps;
    const group = (id: string, request: readonly string[] | undefined): Group => ({
      id,
      request,
      members: new Set(request ?? []),
      timer: undefined,
      inflight: undefined,
      failures: 0,
      last: undefined,
      refusal: undefined,
    });
    this.groups = settings.accesses.length > 0 ? settings.accesses.map((a) => group(a, [a])) : [group('*', undefined)];
  }

  /** Fetches every group now; later fetches follow their schedule. Resolves after the first round. */
  async start(): Promise<void> {
    this.started = true;
    await Promise.all(this.groups.map((g) => this.refresh(g)));
  }

  /** Stops timers and aborts fetches in flight. Held keys stay readable until they expire. */
  stop(): void {
    this.started = false;
    this.stopping.abort();
    for (const g of this.groups) this.d.timers.clearTimeout(g.timer);
  }

  /** Refreshes every group now (merged with fetches in flight). */
  refreshAll(): Promise<void> {
    return Promise.all(this.groups.map((g) => this.refresh(g))).then(() => undefined);
  }

  /**
   * The access GET /v1/credentials means: the one named default, or the only one. With several and
   * no default named there is none: never an arbitrary one (issue #16); see heldAccesses.
   */
  defaultAccess(): string | undefined {
    if (this.s.defaultAccess) return this.s.defaultAccess;
    // servedAccesses() has one entry exactly when these do; asked on every request, so no copy.
    if (this.s.accesses.length > 0) return this.s.accesses.length === 1 ? this.s.accesses[0] : undefined;
    if (this.held.size !== 1) return undefined;
    for (const access of this.held.keys()) return access;
    return undefined;
  }

  /** The accesses this sidecar serves (configured, or held when none were configured), sorted. */
  servedAccesses(): string[] {
    return (this.s.accesses.length > 0 ? [...this.s.accesses] : [...this.held.keys()]).sort();
  }

  /** The key of `access` if it may be served now; a read of an expired key triggers a refresh. */
  lookup(access: string): Lookup {
    const key = this.held.get(access);
    if (key && isServable(key, this.d.clock.monotonic(), this.s.expiryMarginMs)) return { ok: true, key };
    const group = this.groupOf(access);
    if (key) {
      this.held.delete(access);
      this.d.logger.warn('key expired before it could be refreshed; no longer served', { access, ...(key.delivery === 'stsKeys' ? { accessKeyId: key.accessKeyId } : { provider: key.provider }) });
      if (group) this.kick(group);
      return { ok: false, status: 503, code: 'KeyExpired', message: `the key of access ${JSON.stringify(access)} expired and the issuer has not given a new one yet` };
    }
    if (!group || (group.request === undefined && !group.members.has(access) && group.last === 'ok')) {
      return { ok: false, status: 404, code: 'NoSuchAccess', message: `this pod holds no key for access ${JSON.stringify(access)}` };
    }
    if (group.refusal) return { ok: false, status: 503, code: 'KeyRefused', message: `the issuer refused a key for access ${JSON.stringify(access)}: ${group.refusal}` };
    return { ok: false, status: 503, code: 'KeyUnavailable', message: `no key for access ${JSON.stringify(access)} yet` };
  }

  /** Ready when every expected access (or, with none configured, at least one) has a servable key. */
  ready(): boolean {
    const now = this.d.clock.monotonic();
    const valid = (a: string) => {
      const k = this.held.get(a);
      return k !== undefined && isServable(k, now, this.s.expiryMarginMs);
    };
    if (this.s.accesses.length > 0) return this.s.accesses.every(valid);
    return this.held.size > 0 && [...this.held.keys()].every(valid);
  }

  /** Seconds each held key may still be served, for metrics. */
  expiries(): Map<string, number> {
    const now = this.d.clock.monotonic();
    return new Map([...this.held].map(([a, k]) => [a, servableMs(k, now, this.s.expiryMarginMs) / 1000]));
  }

  /** The Expiration to tell a client for `key`, on the pod's wall clock. */
  expirationOf(key: HeldKey): string {
    return rfc3339(this.expirationMs(key));
  }

  /** expirationOf as wall-clock milliseconds, before it is rounded down to the second and formatted. */
  expirationMs(key: HeldKey): number {
    return podExpirationMs(key, this.d.clock.monotonic(), this.d.clock.now(), this.s.expiryMarginMs);
  }

  /** Seconds `key` may still be served. */
  remainingSeconds(key: HeldKey): number {
    return Math.floor(servableMs(key, this.d.clock.monotonic(), this.s.expiryMarginMs) / 1000);
  }

  private groupOf(access: string): Group | undefined {
    return this.groups.find((g) => (g.request ? g.request.includes(access) : true));
  }

  private kick(g: Group): void {
    if (!g.inflight && this.started) void this.refresh(g);
  }

  private schedule(g: Group, delayMs: number): void {
    this.d.timers.clearTimeout(g.timer);
    if (!this.started) return;
    g.timer = this.d.timers.setTimeout(() => void this.refresh(g), Math.max(0, delayMs));
  }

  /** One fetch for the group; concurrent callers share it. */
  refresh(g: Group): Promise<void> {
    if (g.inflight) return g.inflight;
    g.inflight = this.fetchOnce(g).finally(() => {
      g.inflight = undefined;
    });
    return g.inflight;
  }

  private async fetchOnce(g: Group): Promise<void> {
    const { clock, logger, metrics } = this.d;
    const sent = clock.monotonic();
    let result: FetchResult;
    try {
      result = await this.d.source.fetchKeys(g.request, this.stopping.signal);
    } catch (err) {
      result = { kind: 'transient', code: 'Internal', message: (err as Error).message };
    }
    if (this.stopping.signal.aborted) return;
    const seconds = (clock.monotonic() - sent) / 1000;
    metrics?.refreshes.inc({ result: result.kind });
    metrics?.refreshSeconds.observe({ result: result.kind }, seconds);
    const previous = g.last;
    g.last = result.kind;

    if (result.kind === 'ok') {
      const keys = result.keys.filter((k) => !g.request || g.request.includes(k.access));
      if (keys.length === 0) {
        return this.refused(g, { kind: 'refused', status: 200, code: 'NoKeys', message: 'the issuer returned no key for the accesses asked for' }, previous);
      }
      const returned = new Set(keys.map((k) => k.access));
      for (const a of g.members) {
        if (!returned.has(a) && this.held.delete(a)) logger.warn('access no longer granted; key dropped', { access: a });
      }
      g.members = returned;
      g.failures = 0;
      g.refusal = undefined;
      let next = Infinity;
      for (const k of keys) {
        const held = this.hold(k, sent);
        next = Math.min(next, refreshAt(held, { fraction: this.s.refreshFraction, jitter: this.s.refreshJitter, marginMs: this.s.expiryMarginMs, minDelayMs: this.s.minRefreshDelayMs }, this.d.random()));
        const log = previous === 'ok' ? logger.debug : logger.info;
        const id = isSignedGrant(k) ? { provider: k.provider } : { accessKeyId: k.credentials.AccessKeyId };
        log.call(logger, 'key received', { access: k.access, ...id, expiresInSeconds: k.expiresInSeconds, latencyMs: Math.round(seconds * 1000) });
      }
      this.schedule(g, next - clock.monotonic());
      return;
    }
    if (result.kind === 'refused') return this.refused(g, result, previous);

    g.failures++;
    const delay = retryDelay(g.failures, { baseMs: this.s.retryBaseMs, maxMs: this.s.retryMaxMs }, this.d.random(), result.retryAfterMs);
    const still = [...g.members].filter((a) => this.lookup(a).ok);
    (g.failures === 1 ? logger.warn : logger.debug).call(logger, 'key refresh failed; still-valid keys are served, retrying', {
      group: g.id,
      code: result.code,
      status: result.status,
      reason: result.message,
      failures: g.failures,
      retryInMs: Math.round(delay),
      stillServed: still,
    });
    this.schedule(g, delay);
  }

  private refused(g: Group, r: Extract<FetchResult, { kind: 'refused' }>, previous: FetchResult['kind'] | undefined): void {
    const dropped = [...g.members].filter((a) => this.held.delete(a));
    if (g.request) for (const a of g.request) if (this.held.delete(a)) dropped.push(a);
    g.refusal = `${r.code}: ${r.message}`;
    g.failures++;
    const delay = retryDelay(g.failures, { baseMs: this.s.retryBaseMs, maxMs: this.s.retryMaxMs }, this.d.random());
    (previous === 'refused' ? this.d.logger.debug : this.d.logger.warn).call(this.d.logger, 'the issuer refused a key; keys dropped', {
      group: g.id,
      status: r.status,
      code: r.code,
      reason: r.message,
      reasons: r.reasons,
      dropped,
      retryInMs: Math.round(delay),
    });
    this.schedule(g, delay);
  }

  private hold(k: WireKey, sent: number): HeldKey {
    const timing = { obtainedAt: sent, expiresAt: sent + k.expiresInSeconds * 1000 };
    const base = { access: k.access, bucket: k.bucket, prefix: k.prefix, verbs: [...k.verbs], ...(k.presign ? { presign: { ...k.presign } } : {}), ...timing };
    const held: HeldKey = isSignedGrant(k)
        ? { ...base, delivery: 'signedUrls', provider: k.provider, endpoint: k.endpoint, issuerExpiration: k.expiration }
        : {
            ...base,
            delivery: 'stsKeys',
            provider: 's3',
            region: k.region,
            ...(k.endpoint ? { endpoint: k.endpoint } : {}),
            accessKeyId: k.credentials.AccessKeyId,
            secretAccessKey: k.credentials.SecretAccessKey,
            sessionToken: k.credentials.SessionToken,
            issuerExpiration: k.credentials.Expiration,
          };
    this.held.set(k.access, held);
    const skew = clockSkewSeconds(held.issuerExpiration, this.d.clock.now(), k.expiresInSeconds);
    if (skew !== undefined) {
      this.d.metrics?.clockSkewSeconds.set(skew);
      const far = Math.abs(skew) > this.s.clockSkewWarnSeconds;
      if (far && !this.skewWarned) {
        this.d.logger.warn("the pod's clock differs from the issuer's; refresh timing is unaffected (monotonic), but presigned URLs are dated by the pod's clock", { skewSeconds: skew });
      } else if (far) this.d.logger.debug('clock skew persists', { skewSeconds: skew });
      this.skewWarned = far;
    }
    return held;
  }
}
