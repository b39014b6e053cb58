import { describe, expect, it } from 'vitest';
import { rfc3339 } from '../platform/time.ts';
import { Registry } from 'prom-client';
import { FakeTimers } from '../platform/timers.ts';
import { createSidecarMetrics } from '../metrics/sidecar.ts';
import { FakeClock } from '../platform/clock.ts';
import type { Clock } from '../platform/clock.ts';
import { memoryLogger } from '../platform/logger.ts';
import type { FetchResult, KeySource, WireKey } from './issuer-client.ts';
import { KeyCache } from './keys.ts';
import type { KeyCacheSettings } from './keys.ts';
import { clockSkewSeconds, podExpiration, refreshAt, retryDelay } from './refresh.ts';

const S = 1000;
const SETTINGS: KeyCacheSettings = {
  accesses: ['imagenet'],
  refreshFraction: 0.5,
  refreshJitter: 0.1,
  expiryMarginMs: 60 * S,
  retryBaseMs: 1 * S,
  retryMaxMs: 30 * S,
  minRefreshDelayMs: 1 * S,
  clockSkewWarnSeconds: 30,
};

let serial = 0;
function wireKey(access: string, issuerNow: number, lifetimeSeconds = 900): WireKey {
  serial++;
  return {
    access,
    bucket: 'datasets',
    prefix: `${access}/`,
    verbs: ['read', 'list'],
    region: 'us-east-1',
    presign: { enabled: true, maxExpirySeconds: 600 },
    credentials: { AccessKeyId: `ASIA${serial}`, SecretAccessKey: `secret${serial}`, SessionToken: `token${serial}`, Expiration: rfc3339(issuerNow + lifetimeSeconds * S) },
    expiresInSeconds: lifetimeSeconds,
  };
}

/** An issuer whose answers the test decides; by default it mints a key per requested access. */
class FakeIssuer implements KeySource {
  calls: (readonly string[] | undefined)[] = [];
  mode: 'ok' | 'down' | 'refuse' | 'throttle' = 'ok';
  refuse = new Set<string>();
  granted = ['imagenet', 'checkpoints'];
  /** Wall ms on the issuer's clock. */
  issuerNow: () => number;
  gate: Promise<void> | undefined;

  constructor(issuerNow: () => number) {
    this.issuerNow = issuerNow;
  }

  async fetchKeys(accesses: readonly string[] | undefined): Promise<FetchResult> {
    this.calls.push(accesses);
    if (this.gate) await this.gate;
    if (this.mode === 'down') return { kind: 'transient', code: 'IssuerUnreachable', message: 'connect ECONNREFUSED' };
    if (this.mode === 'throttle') return { kind: 'transient', status: 429, code: 'RateLimited', message: 'slow down', retryAfterMs: 20 * S };
    const want = accesses ?? this.granted;
    if (this.mode === 'refuse' || want.some((a) => this.refuse.has(a))) return { kind: 'refused', status: 403, code: 'NoGrant', message: 'no DatasetAccess grants this pod' };
    return { kind: 'ok', keys: want.filter((a) => this.granted.includes(a)).map((a) => wireKey(a, this.issuerNow())) };
  }
}

function setup(settings: Partial<KeyCacheSettings> = {}, opts: { wallOffsetMs?: number; random?: number } = {}) {
  const fc = new FakeClock();
  const clock: Clock = { now: () => fc.now() + (opts.wallOffsetMs ?? 0), monotonic: () => fc.monotonic() };
  const timers = new FakeTimers(fc);
  const issuer = new FakeIssuer(() => fc.now());
  const logger = memoryLogger();
  const registry = new Registry();
  const metrics = createSidecarMetrics(registry);
  const cache = new KeyCache({ ...SETTINGS, ...settings }, { source: issuer, clock, timers, random: () => opts.random ?? 0.5, logger, metrics });
  metrics.track(() => ({ ready: cache.ready(), expiries: cache.expiries() }));
  const akid = (access = 'imagenet') => {
    const r = cache.lookup(access);
    return r.ok && r.key.provider === 's3' ? r.key.accessKeyId : r.ok ? r.key.provider : r.code;
  };
  return { fc, clock, timers, issuer, logger, registry, cache, akid };
}

describe('refresh decisions', () => {
  it('refreshes at the fraction of the lifetime, less up to the jitter, and never after the key stops being served', () => {
    const plan = { fraction: 0.5, jitter: 0.1, marginMs: 60 * S, minDelayMs: S };
    const t = { obtainedAt: 1000, expiresAt: 1000 + 900 * S };
    expect(refreshAt(t, plan, 0)).toBe(1000 + 450 * S);
    expect(refreshAt(t, plan, 1)).toBe(1000 + 405 * S);
    expect(refreshAt(t, { ...plan, fraction: 0.99 }, 0)).toBe(1000 + 840 * S);
    expect(refreshAt({ obtainedAt: 0, expiresAt: 30 * S }, plan, 0)).toBe(S);
  });

  it('backs off exponentially with jitter, capped, and honours Retry-After', () => {
    const plan = { baseMs: S, maxMs: 30 * S };
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => retryDelay(n, plan, 1))).toEqual([1, 2, 4, 8, 16, 30, 30].map((s) => s * S));
    expect(retryDelay(3, plan, 0)).toBe(2 * S);
    expect(retryDelay(1, plan, 0, 10 * S)).toBe(10 * S);
    expect(retryDelay(1, plan, 0, 3600 * S)).toBe(30 * S);
  });

  it('measures skew between the clocks and tells clients an Expiration on their own clock', () => {
    const pod = Date.UTC(2026, 0, 1);
    expect(clockSkewSeconds(rfc3339(pod + 900 * S), pod, 900)).toBe(0);
    expect(clockSkewSeconds(rfc3339(pod + 3600 * S + 900 * S), pod, 900)).toBe(3600);
    expect(clockSkewSeconds('not a date', pod, 900)).toBeUndefined();
    expect(podExpiration({ obtainedAt: 0, expiresAt: 900 * S }, 100 * S, pod, 60 * S)).toBe(rfc3339(pod + 740 * S));
    expect(rfc3339(Date.UTC(2026, 0, 1, 1, 2, 3, 999))).toBe('2026-01-01T01:02:03Z');
  });
});

describe('the key cache', () => {
  it('refreshes on the monotonic clock at half the lifetime (with jitter) and serves the new key', async () => {
    const { timers, issuer, cache, akid } = setup({}, { random: 0 });
    await cache.start();
    const first = akid();
    expect(first).toMatch(/^ASIA/);
    expect(cache.ready()).toBe(true);
    await timers.advance(449 * S);
    expect(issuer.calls).toHaveLength(1);
    await timers.advance(1 * S);
    expect(issuer.calls).toHaveLength(2);
    expect(akid()).not.toBe(first);
  });

  it('ignores a wrong pod wall clock for timing, and reports the skew as a metric and one warning', async () => {
    const { timers, issuer, cache, logger, registry, akid } = setup({}, { wallOffsetMs: -2 * 3600 * S, random: 0 });
    await cache.start();
    expect(akid()).toMatch(/^ASIA/);
    await timers.advance(450 * S);
    expect(issuer.calls).toHaveLength(2);
    await timers.advance(450 * S);
    expect(issuer.calls).toHaveLength(3);
    expect(await registry.getSingleMetricAsString('valet_sidecar_clock_skew_seconds')).toMatch(/valet_sidecar_clock_skew_seconds 7200$/m);
    expect(logger.lines.filter((l) => l.level === 'warn' && String(l.msg).includes('clock'))).toHaveLength(1);
  });

  it('serves a still-valid key while the issuer is down, never an expired one, and recovers without a restart', async () => {
    const { timers, issuer, cache, akid, registry } = setup({ retryMaxMs: 20 * S });
    await cache.start();
    const first = akid();
    issuer.mode = 'down';
    // Refresh at ~450 s fails; retries back off; the key keeps being served until 900 - 60 s.
    await timers.advance(839 * S);
    expect(akid()).toBe(first);
    expect(cache.ready()).toBe(true);
    const attempts = issuer.calls.length;
    expect(attempts).toBeGreaterThan(10);
    expect(attempts).toBeLessThan(40);
    await timers.advance(1 * S);
    expect(akid()).toBe('KeyExpired');
    expect(cache.ready()).toBe(false);
    expect(await registry.getSingleMetricAsString('valet_sidecar_ready')).toMatch(/valet_sidecar_ready 0$/m);
    await timers.advance(3600 * S);
    expect(akid()).toBe('KeyUnavailable');
    issuer.mode = 'ok';
    await timers.advance(20 * S);
    expect(akid()).toMatch(/^ASIA/);
    expect(akid()).not.toBe(first);
    expect(cache.ready()).toBe(true);
    expect(await registry.getSingleMetricAsString('valet_sidecar_refreshes_total')).toMatch(/result="transient"/);
  });

  it('waits at least as long as the issuer asks (Retry-After)', async () => {
    const { timers, issuer, cache } = setup({}, { random: 0 });
    await cache.start();
    issuer.mode = 'throttle';
    await timers.advance(450 * S);
    const n = issuer.calls.length;
    await timers.advance(19 * S);
    expect(issuer.calls.length).toBe(n);
    await timers.advance(1 * S);
    expect(issuer.calls.length).toBe(n + 1);
  });

  it('drops a key at once when the issuer refuses it, and keeps the other accesses', async () => {
    const { timers, issuer, cache, akid, logger } = setup({ accesses: ['imagenet', 'checkpoints'] }, { random: 0 });
    await cache.start();
    expect(cache.ready()).toBe(true);
    const keep = akid('checkpoints');
    issuer.refuse.add('imagenet');
    await timers.advance(450 * S);
    expect(akid('imagenet')).toBe('KeyRefused');
    expect(cache.lookup('imagenet')).toMatchObject({ status: 503, message: expect.stringContaining('NoGrant') });
    expect(akid('checkpoints')).toMatch(/^ASIA/);
    expect(akid('checkpoints')).not.toBe(keep);
    expect(cache.ready()).toBe(false);
    expect(logger.lines.some((l) => l.msg === 'the issuer refused a key; keys dropped')).toBe(true);
    // Granted again (e.g. the access was re-created): back without a restart.
    issuer.refuse.clear();
    await timers.advance(2 * S);
    expect(akid('imagenet')).toMatch(/^ASIA/);
    expect(cache.ready()).toBe(true);
  });

  it('merges concurrent fetches into one call', async () => {
    const { issuer, cache } = setup();
    let open!: () => void;
    issuer.gate = new Promise((r) => (open = r));
    const all = Promise.all([cache.start(), cache.refreshAll(), cache.refreshAll(), cache.refreshAll()]);
    open();
    await all;
    expect(issuer.calls).toEqual([['imagenet']]);
  });

  it('without configured accesses holds whatever is granted, and drops an access the issuer stops granting', async () => {
    const { timers, issuer, cache, akid } = setup({ accesses: [] }, { random: 0 });
    await cache.start();
    expect(issuer.calls).toEqual([undefined]);
    // Two accesses held and no default named: no default, never an arbitrary one.
    expect(cache.servedAccesses()).toEqual(['checkpoints', 'imagenet']);
    expect(cache.defaultAccess()).toBeUndefined();
    expect(akid('imagenet')).toMatch(/^ASIA/);
    expect(akid('other')).toBe('NoSuchAccess');
    issuer.granted = ['imagenet'];
    await timers.advance(450 * S);
    expect(akid('checkpoints')).toBe('NoSuchAccess');
    expect(akid('imagenet')).toMatch(/^ASIA/);
    // One left: it is the default.
    expect(cache.defaultAccess()).toBe('imagenet');
    expect(cache.ready()).toBe(true);
    issuer.mode = 'refuse';
    await timers.advance(450 * S);
    expect(akid('imagenet')).not.toMatch(/^ASIA/);
    expect(cache.ready()).toBe(false);
  });

  it('reports seconds to expiry per access and never logs a secret', async () => {
    const { timers, cache, registry, logger } = setup();
    await cache.start();
    await timers.advance(100 * S);
    expect(await registry.getSingleMetricAsString('valet_sidecar_key_expiry_seconds')).toMatch(/valet_sidecar_key_expiry_seconds\{access="imagenet"\} 740$/m);
    const text = JSON.stringify(logger.lines);
    expect(text).not.toMatch(/secret\d|token\d/);
  });

  it('stops refreshing when stopped', async () => {
    const { timers, issuer, cache } = setup();
    await cache.start();
    cache.stop();
    await timers.advance(3600 * S);
    expect(issuer.calls).toHaveLength(1);
  });
});
