// Retries with capped exponential backoff and jitter, inside a deadline: a retry is made only if
// its delay plus a useful attempt still fits before the deadline, so callers get the last error
// (a clear code) rather than a timeout. Time, timers and randomness are injected.
import type { Clock } from '../platform/clock.ts';
import { equalJitter } from '../platform/backoff.ts';
import type { Backoff } from '../platform/backoff.ts';
import { sleep } from '../platform/timers.ts';
import type { Timers } from '../platform/timers.ts';

export interface BackoffSettings extends Backoff {
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
      const delay = equalJitter(n, settings, ctx.random());
      if (ctx.clock.monotonic() + delay + settings.minAttemptMs > ctx.deadline) throw err;
      ctx.onRetry?.(err, n + 1, delay);
      await sleep(ctx.timers, delay, ctx.signal);
      if (ctx.signal?.aborted) throw err;
    }
  }
}
