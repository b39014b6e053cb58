// A keyed work queue in the manner of client-go's workqueue: a key waiting twice is processed once,
// a key is never processed by two workers at once (re-added while running, it runs again after),
// failures back off per key, and a handler can ask to be called again later (requeue-after).
import { addedJitter } from '../platform/backoff.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import type { TimerHandle, Timers } from '../platform/timers.ts';
import { systemTimers } from '../platform/timers.ts';

/** Returns a delay in ms to be called again for this key (requeue-after), or nothing when done. */
export type WorkHandler = (key: string, signal: AbortSignal) => Promise<number | void>;

export interface WorkQueueOptions {
  clock?: Clock;
  timers?: Timers;
  /** Returns a number in [0, 1); injected so that backoff is deterministic in tests. */
  random?: () => number;
  /** First retry delay after a failure. Default 100 ms. */
  baseDelayMs?: number;
  /** Largest retry delay. Default 60 s. */
  maxDelayMs?: number;
  /** Up to this fraction is added to each retry delay (the cap still holds). Default 0.2. */
  jitter?: number;
}

export interface RunOptions {
  concurrency?: number;
  /** Called when a handler throws; `retries` counts consecutive failures, this one included. */
  onError?: (key: string, err: unknown, retries: number) => void;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitter: number;

  /** Keys ready to be handed to a worker, in order. */
  private readonly ready: string[] = [];
  /** Keys waiting to be processed (in `ready`, or re-added while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Delayed adds: the earliest time each key is due, and its timer. */
  private readonly delayed = new Map<string, { at: number; handle: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    this.random = opts.random ?? Math.random;
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.jitter = opts.jitter ?? 0.2;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    // A key being processed is queued again when its run finishes (see `done`).
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `ms`; of several pending delays for one key, the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.monotonic() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.timers.clearTimeout(existing.handle);
    const handle = this.timers.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Adds `key` after its backoff: base·2^(failures), capped, with jitter. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, this.backoff(n));
  }

  /** The delay the n-th consecutive failure (from 0) waits. */
  backoff(n: number): number {
    return addedJitter(n, { baseMs: this.baseDelayMs, maxMs: this.maxDelayMs }, this.jitter, this.random());
  }

  /** Clears the failure count of `key`, so its next failure starts again from the base delay. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys ready and waiting for a worker (not the delayed ones). */
  depth(): number {
    return this.ready.length;
  }

  /**
   * Processes keys with `concurrency` workers until `shutdown()`. The returned promise resolves
   * when every worker has stopped.
   */
  async run(handler: WorkHandler, opts: RunOptions = {}): Promise<void> {
    const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, () => this.worker(handler, opts));
    await Promise.all(workers);
  }

  /**
   * Stops taking keys: queued and delayed keys are dropped, running handlers see their signal
   * abort. Resolves when the running handlers have returned. A queue is not restarted after this.
   */
  async shutdown(): Promise<void> {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      this.abort.abort();
      for (const { handle } of this.delayed.values()) this.timers.clearTimeout(handle);
      this.delayed.clear();
      this.ready.length = 0;
      this.dirty.clear();
      for (const wake of this.waiters.splice(0)) wake(undefined);
    }
    await Promise.all(this.inFlight);
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.take(key);
      waiter(key);
    } else {
      this.ready.push(key);
    }
  }

  private take(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
  }

  private next(): Promise<string | undefined> {
    const key = this.ready.shift();
    if (key !== undefined) {
      this.take(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
  }

  private async worker(handler: WorkHandler, opts: RunOptions): Promise<void> {
    for (;;) {
      const key = await this.next();
      if (key === undefined) return;
      const run = this.process(key, handler, opts);
      this.inFlight.add(run);
      await run;
      this.inFlight.delete(run);
    }
  }

  private async process(key: string, handler: WorkHandler, opts: RunOptions): Promise<void> {
    try {
      const after = await handler(key, this.abort.signal);
      this.forget(key);
      if (typeof after === 'number' && after > 0) this.addAfter(key, after);
    } catch (err) {
      this.addRateLimited(key);
      try {
        opts.onError?.(key, err, this.retries(key));
      } catch {
        // A failing error callback must not stop the worker.
      }
    } finally {
      this.done(key);
    }
  }
}
