// A token bucket that queues: a call takes a token at once while the bucket has one, otherwise it
// waits in a bounded FIFO queue for the next. A call is refused up front (RateLimited, with the
// wait as Retry-After) when the queue is full or its wait would pass the caller's deadline, so no
// caller waits for a token it cannot use. Time and timers are injected (STYLE.md habit 3).
import type { Clock } from '../platform/clock.ts';
import { IssuerError } from './errors.ts';
import type { Timers } from './ports.ts';

export interface RateLimitSettings {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: calls allowed at once after a quiet spell. */
  burst: number;
  /** Waiting calls beyond which new ones are refused at once. */
  maxQueue: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { ratePerSecond: 20, burst: 40, maxQueue: 1000 };

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

export class TokenBucket {
  private readonly settings: RateLimitSettings;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly onDepth: ((depth: number) => void) | undefined;
  private tokens: number;
  private updatedAt: number;
  private readonly queue: Waiter[] = [];
  private timer: unknown;

  constructor(settings: RateLimitSettings, clock: Clock, timers: Timers, onDepth?: (depth: number) => void) {
    if (!(settings.ratePerSecond > 0) || !(settings.burst >= 1) || !(settings.maxQueue >= 0)) {
      throw new RangeError(`rate limit needs ratePerSecond > 0, burst >= 1, maxQueue >= 0; got ${JSON.stringify(settings)}`);
    }
    this.settings = settings;
    this.clock = clock;
    this.timers = timers;
    this.onDepth = onDepth;
    this.tokens = settings.burst;
    this.updatedAt = clock.monotonic();
  }

  /** Calls waiting for a token. */
  depth(): number {
    return this.queue.length;
  }

  /**
   * Resolves when the caller may make its call. Rejects with RateLimited when the queue is full or
   * the wait would end after `deadline` (monotonic ms), and with the signal's reason on abort.
   */
  acquire(deadline: number, signal?: AbortSignal): Promise<void> {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    const waitMs = ((this.queue.length + 1 - this.tokens) / this.settings.ratePerSecond) * 1000;
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    if (this.queue.length >= this.settings.maxQueue) {
      return Promise.reject(new IssuerError('RateLimited', `the STS rate limit queue of this store is full (${this.settings.maxQueue} waiting)`, { retryAfterSeconds }));
    }
    if (this.clock.monotonic() + waitMs > deadline) {
      return Promise.reject(new IssuerError('RateLimited', `the STS rate limit of this store would delay this request past its deadline (about ${Math.ceil(waitMs)} ms)`, { retryAfterSeconds }));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        this.onDepth?.(this.queue.length);
        reject(signal?.reason);
      };
      const waiter: Waiter = { resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.onDepth?.(this.queue.length);
      this.schedule();
    });
  }

  private refill(): void {
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.settings.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.settings.ratePerSecond);
    this.updatedAt = now;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    this.refill();
    const ms = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.settings.ratePerSecond) * 1000);
    this.timer = this.timers.setTimeout(() => this.drain(), ms);
  }

  private drain(): void {
    this.timer = undefined;
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      const w = this.queue.shift();
      this.tokens -= 1;
      w?.cleanup();
      w?.resolve();
    }
    this.onDepth?.(this.queue.length);
    this.schedule();
  }
}
