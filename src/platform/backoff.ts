// Capped exponential backoff, the two ways Valet jitters it. One definition for the issuer's STS
// retries, the sidecar's refresh retries, the work queue and the informers' restarts.

export interface Backoff {
  /** Delay of the first retry (n = 0); doubles per retry. */
  baseMs: number;
  /** Largest delay. */
  maxMs: number;
}

/** base·2^n, capped at max. */
export function cappedExponential(n: number, b: Backoff): number {
  return Math.min(b.maxMs, b.baseMs * 2 ** Math.min(Math.max(0, n), 52));
}

/**
 * "Equal jitter": half the capped delay, plus a random share (`random` in [0, 1)) of the other half.
 * Callers that retry a shared server (STS, the issuer) use it: it spreads a crowd out.
 */
export function equalJitter(n: number, b: Backoff, random: number): number {
  const cap = cappedExponential(n, b);
  return Math.round(cap / 2 + random * (cap / 2));
}

/** The capped delay plus up to `jitter` of it at random, never above the cap (client-go's queue). */
export function addedJitter(n: number, b: Backoff, jitter: number, random: number): number {
  return Math.round(Math.min(b.maxMs, b.baseMs * 2 ** Math.min(Math.max(0, n), 52) * (1 + jitter * random)));
}
