// Refresh timing and expiry as pure decisions (STYLE.md habits 2 and 4). All times that decide
// whether a key is served or refreshed are MONOTONIC milliseconds, anchored at the moment the
// request to the issuer was sent and measured with the issuer's own seconds-until-expiry, so a pod
// whose wall clock is wrong (or jumps) neither serves an expired key nor refreshes too late. The
// wall clock is used only to tell clients an Expiration on their own clock, and to report skew.
import { equalJitter } from '../platform/backoff.ts';
import type { Backoff } from '../platform/backoff.ts';
import { rfc3339 } from '../platform/time.ts';

export interface HeldTiming {
  /** Monotonic ms when the request that returned the key was sent (a conservative origin). */
  obtainedAt: number;
  /** Monotonic ms: obtainedAt + the issuer's expiresInSeconds. */
  expiresAt: number;
}

/** Is the key still servable at monotonic `now`, keeping `marginMs` in hand for the client to use it? */
export function isServable(t: HeldTiming, now: number, marginMs: number): boolean {
  return now < t.expiresAt - marginMs;
}

/** Milliseconds the key may still be served for (0 when it may not). */
export function servableMs(t: HeldTiming, now: number, marginMs: number): number {
  return Math.max(0, t.expiresAt - marginMs - now);
}

export interface RefreshPlan {
  fraction: number;
  /** Share of the refresh delay taken off at random: 0.1 refreshes between 90% and 100% of it. */
  jitter: number;
  marginMs: number;
  /** Never sooner than this after obtaining a key (protects the issuer from a tight loop). */
  minDelayMs: number;
}

/**
 * Monotonic ms at which to refresh a key: `fraction` of its lifetime after it was obtained, less
 * up to `jitter` of that at random (so a thousand pods started together do not refresh together),
 * and never later than the point where it stops being served.
 */
export function refreshAt(t: HeldTiming, plan: RefreshPlan, random: number): number {
  const lifetime = t.expiresAt - t.obtainedAt;
  const delay = lifetime * plan.fraction * (1 - plan.jitter * random);
  const latest = lifetime - plan.marginMs;
  return t.obtainedAt + Math.max(plan.minDelayMs, Math.min(delay, latest));
}

/**
 * Delay before retry number `attempt` (1 for the first retry): the platform's equal-jitter backoff,
 * at least the issuer's Retry-After, never above the cap.
 */
export function retryDelay(attempt: number, plan: Backoff, random: number, retryAfterMs?: number): number {
  return Math.min(plan.maxMs, Math.max(equalJitter(attempt - 1, plan, random), retryAfterMs ?? 0));
}

/**
 * Skew between the issuer's clock and the pod's, in seconds (positive: the issuer is ahead). The
 * issuer says the key expires at `expiration` (its wall clock) and in `expiresInSeconds`; on a
 * pod whose clock agrees, expiration - now equals expiresInSeconds up to latency and rounding.
 */
export function clockSkewSeconds(expiration: string, podNowMs: number, expiresInSeconds: number): number | undefined {
  const exp = Date.parse(expiration);
  if (!Number.isFinite(exp)) return undefined;
  return Math.round((exp - podNowMs) / 1000 - expiresInSeconds);
}

/**
 * The Expiration to tell a client, on the pod's own wall clock: when the sidecar stops serving the
 * key (true expiry less the margin). A client comparing it with the same (possibly skewed) clock
 * then refreshes in time.
 */
export function podExpiration(t: HeldTiming, monoNow: number, wallNow: number, marginMs: number): string {
  return rfc3339(podExpirationMs(t, monoNow, wallNow, marginMs));
}

/** podExpiration in wall-clock milliseconds, not yet rounded down to the second. */
export function podExpirationMs(t: HeldTiming, monoNow: number, wallNow: number, marginMs: number): number {
  return wallNow + (t.expiresAt - marginMs - monoNow);
}
