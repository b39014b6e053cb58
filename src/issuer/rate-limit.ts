// A token bucket that queues fairly: a call takes a token at once while the bucket has one and
// nobody waits, otherwise it waits in its namespace's queue, and the queues are served round robin
// (issue #16: one namespace at its limit must not delay another's first key; a newcomer waits at
// most one token per other waiting namespace). Each namespace's queue is bounded, and so is the
// total. A call is refused up front (RateLimited, with the wait as Retry-After) when its queue is
// full or its wait would pass the caller's deadline, so no caller waits for a token it cannot use.
// Time and timers are injected (STYLE.md habit 3).
import type { Clock } from '../platform/clock.ts';
import { IssuerError } from './errors.ts';
import type { Timers } from '../platform/timers.ts';

export interface RateLimitSettings {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: calls allowed at once after a quiet spell. */
  burst: number;
  /** Waiting calls beyond which new ones are refused at once. */
  maxQueue: number;
  /** Waiting calls of one namespace beyond which its new ones are refused at once. Default maxQueue. */
  maxQueuePerNamespace?: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { ratePerSecond: 20, burst: 40, maxQueue: 1000, maxQueuePerNamespace: 250 };

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
  /** Waiters by namespace; `order` is the round robin over namespaces with waiters. */
  private readonly queues = new Map<string, Waiter[]>();
  private readonly order: string[] = [];
  private waiting = 0;
  private readonly perNamespace: number;
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
    this.perNamespace = Math.max(1, Math.floor(settings.maxQueuePerNamespace ?? settings.maxQueue));
  }

  /** Calls waiting for a token (of one namespace, when given). */
  depth(namespace?: string): number {
    return namespace === undefined ? this.waiting : (this.queues.get(namespace)?.length ?? 0);
  }

  /**
   * Resolves when the caller may make its call. Rejects with RateLimited when the queue is full or
   * the wait would end after `deadline` (monotonic ms), and with the signal's reason on abort.
   */
  acquire(deadline: number, signal?: AbortSignal, namespace = ''): Promise<void> {
    this.refill();
    if (this.waiting === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    const mine = this.queues.get(namespace)?.length ?? 0;
    const others = this.order.filter((n) => n !== namespace).length;
    // Round robin: ahead of this call are its own queue, and at most one call per other waiting
    // namespace for each of them (a namespace's first call is served next: nothing ahead).
    const ahead = mine === 0 ? 0 : Math.min(this.waiting, mine + mine * others);
    const waitMs = ((ahead + 1 - this.tokens) / this.settings.ratePerSecond) * 1000;
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    if (mine >= this.perNamespace) {
      return Promise.reject(new IssuerError('RateLimited', `this namespace has ${mine} calls waiting for this store's STS rate limit, its share; retry later`, { retryAfterSeconds }));
    }
    if (this.waiting >= this.settings.maxQueue) {
      return Promise.reject(new IssuerError('RateLimited', `the STS rate limit queue of this store is full (${this.settings.maxQueue} waiting)`, { retryAfterSeconds }));
    }
    if (this.clock.monotonic() + waitMs > deadline) {
      return Promise.reject(new IssuerError('RateLimited', `the STS rate limit of this store would delay this request past its deadline (about ${Math.ceil(waitMs)} ms)`, { retryAfterSeconds }));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.remove(namespace, waiter);
        this.onDepth?.(this.waiting);
        reject(signal?.reason);
      };
      const waiter: Waiter = { resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      let q = this.queues.get(namespace);
      if (!q) {
        q = [];
        this.queues.set(namespace, q);
        // A namespace that starts waiting is served next: its first key waits for no backlog.
        this.order.unshift(namespace);
      }
      q.push(waiter);
      this.waiting++;
      this.onDepth?.(this.waiting);
      this.schedule();
    });
  }

  private remove(namespace: string, waiter: Waiter): void {
    const q = this.queues.get(namespace);
    const i = q?.indexOf(waiter) ?? -1;
    if (!q || i < 0) return;
    q.splice(i, 1);
    this.waiting--;
    if (q.length === 0) this.dropQueue(namespace);
  }

  private dropQueue(namespace: string): void {
    this.queues.delete(namespace);
    const i = this.order.indexOf(namespace);
    if (i >= 0) this.order.splice(i, 1);
  }

  /** The next waiter, round robin over namespaces. */
  private next(): Waiter | undefined {
    const namespace = this.order.shift();
    if (namespace === undefined) return undefined;
    const q = this.queues.get(namespace);
    const w = q?.shift();
    if (q && q.length > 0) this.order.push(namespace);
    else this.queues.delete(namespace);
    if (w) this.waiting--;
    return w;
  }

  private refill(): void {
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.settings.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.settings.ratePerSecond);
    this.updatedAt = now;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.waiting === 0) return;
    this.refill();
    const ms = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.settings.ratePerSecond) * 1000);
    this.timer = this.timers.setTimeout(() => this.drain(), ms);
  }

  private drain(): void {
    this.timer = undefined;
    this.refill();
    while (this.waiting > 0 && this.tokens >= 1) {
      const w = this.next();
      if (!w) break;
      this.tokens -= 1;
      w.cleanup();
      w.resolve();
    }
    this.onDepth?.(this.waiting);
    this.schedule();
  }
}
