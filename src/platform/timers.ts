// Timers are injected like the Clock (STYLE.md habit 3), so queues, informers, the leader elector,
// the issuer's retries and the sidecar's refresher can be driven step by step in unit tests. The
// one definition of timers, abortable sleep and the fake for every layer.
import type { FakeClock } from './clock.ts';

export type TimerHandle = unknown;

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** System timers that never keep the process alive on their own (a pending refresh, a debounce). */
export const unrefTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: systemTimers.clearTimeout,
};

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
export function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
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

/**
 * Timers that fire only when the paired FakeClock is advanced through them. `advance` lets
 * promise callbacks run between timers, so async code reacts as it would in real time.
 */
export class FakeTimers implements Timers {
  private readonly clock: FakeClock;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  constructor(clock: FakeClock) {
    this.clock = clock;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.pending.set(id, { at: this.clock.monotonic() + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle as number);
  }

  /** How many timers are waiting. */
  count(): number {
    return this.pending.size;
  }

  /** Moves the clock forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.clock.monotonic() + ms;
    await flush();
    for (;;) {
      const next = this.nextDue();
      if (!next || next[1].at > end) break;
      this.clock.advance(next[1].at - this.clock.monotonic());
      this.pending.delete(next[0]);
      next[1].fn();
      await flush();
    }
    this.clock.advance(end - this.clock.monotonic());
    await flush();
  }

  private nextDue(): [number, { at: number; fn: () => void }] | undefined {
    let best: [number, { at: number; fn: () => void }] | undefined;
    for (const entry of this.pending) if (!best || entry[1].at < best[1].at) best = entry;
    return best;
  }
}

/** Lets queued promise callbacks run: each macrotask turn drains the microtask queue. */
export async function flush(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}
