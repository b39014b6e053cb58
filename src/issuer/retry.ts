// Retries with capped exponential backoff and jitter, inside a deadline: a retry is made only if
// its delay plus a useful attempt still fits before the deadline, so callers get the last error
// (a clear code) rather than a timeout. Time, timers and randomness are injected.
import type { Clock } from '../platform/clock.ts';
import type { Timers } from './ports.ts';

export interface BackoffSettings {
  /** Delay cap of the first retry; doubles per retry. */
  baseMs: number;
  /** Largest delay. */
  maxMs: number;
  /** A retry is skipped unless at least this long remains for the attempt after its delay. */
  minAttemptMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 100, maxMs: 2000, minAttemptMs: 250 };

export interface RetryContext {
  clock: Clock;
  timers: Timers;
  random: () => number;
  /** Monotonic ms after which no attempt starts. */
  deadline: number;
  signal?: AbortSignal;
  /** Called before each retry (for logs and metrics). */
  onRetry?: (err: unknown, retry: number, delayMs: number) => void;
}

/** "Equal jitter": half the capped exponential delay, plus a random share of the other half. */
export function backoffDelay(retry: number, settings: BackoffSettings, random: () => number): number {
  const cap = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(retry, 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}

function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      timers.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = timers.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs `attempt` until it succeeds, throws a non-retryable error, or the deadline leaves no room. */
export async function retryWithBackoff<T>(
  attempt: (n: number) => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  settings: BackoffSettings,
  ctx: RetryContext,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!isRetryable(err) || ctx.signal?.aborted) throw err;
      const delay = backoffDelay(n, settings, ctx.random);
      if (ctx.clock.monotonic() + delay + settings.minAttemptMs > ctx.deadline) throw err;
      ctx.onRetry?.(err, n + 1, delay);
      await sleep(ctx.timers, delay, ctx.signal);
      if (ctx.signal?.aborted) throw err;
    }
  }
}
