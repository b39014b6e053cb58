import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import { FakeTimers, flush } from '../platform/timers.ts';
import { WorkQueue } from './workqueue.ts';

function setup(opts: { random?: () => number; baseDelayMs?: number; maxDelayMs?: number } = {}) {
  const clock = new FakeClock();
  const timers = new FakeTimers(clock);
  const queue = new WorkQueue({ clock, timers, random: opts.random ?? (() => 0), baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs });
  return { clock, timers, queue };
}

/** A promise with its resolve function, to hold a handler open. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('WorkQueue', () => {
  it('processes a key added twice before it runs only once', async () => {
    const { queue } = setup();
    const seen: string[] = [];
    queue.add('ns/a');
    queue.add('ns/a');
    queue.add('ns/b');
    expect(queue.depth()).toBe(2);
    const running = queue.run(async (key) => void seen.push(key));
    await flush();
    expect(seen).toEqual(['ns/a', 'ns/b']);
    await queue.shutdown();
    await running;
  });

  it('never runs one key twice at once, and runs it again after a re-add during processing', async () => {
    const { queue } = setup();
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const first = gate();
    const running = queue.run(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs++;
        if (runs === 1) await first.promise;
        active--;
      },
      { concurrency: 4 },
    );
    queue.add('k');
    await flush();
    queue.add('k');
    queue.add('k');
    await flush();
    expect(runs).toBe(1);
    first.open();
    await flush();
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    await queue.shutdown();
    await running;
  });

  it('runs different keys concurrently up to the concurrency', async () => {
    const { queue } = setup();
    const g = gate();
    let active = 0;
    let maxActive = 0;
    const running = queue.run(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await g.promise;
        active--;
      },
      { concurrency: 2 },
    );
    for (const k of ['a', 'b', 'c']) queue.add(k);
    await flush();
    expect(maxActive).toBe(2);
    expect(queue.depth()).toBe(1);
    g.open();
    await flush();
    await queue.shutdown();
    await running;
  });

  it('calls a key again after the delay its handler returns', async () => {
    const { queue, timers } = setup();
    const at: number[] = [];
    let calls = 0;
    const running = queue.run(async () => {
      at.push(calls++);
      return calls === 1 ? 5_000 : undefined;
    });
    queue.add('k');
    await flush();
    expect(calls).toBe(1);
    await timers.advance(4_999);
    expect(calls).toBe(1);
    await timers.advance(1);
    expect(calls).toBe(2);
    await timers.advance(60_000);
    expect(calls).toBe(2);
    await queue.shutdown();
    await running;
  });

  it('keeps the earliest of several delayed adds for one key', async () => {
    const { queue, timers } = setup();
    const seen: string[] = [];
    const running = queue.run(async (key) => void seen.push(key));
    queue.addAfter('k', 10_000);
    queue.addAfter('k', 1_000);
    queue.addAfter('k', 5_000);
    await timers.advance(1_000);
    expect(seen).toEqual(['k']);
    await timers.advance(20_000);
    expect(seen).toEqual(['k']);
    await queue.shutdown();
    await running;
  });

  it('backs off exponentially on failure up to the cap, and a success resets it', async () => {
    const { queue, timers, clock } = setup({ baseDelayMs: 100, maxDelayMs: 1_000 });
    const times: number[] = [];
    let fail = true;
    const errors: number[] = [];
    const running = queue.run(
      async () => {
        times.push(clock.monotonic());
        if (fail) throw new Error('boom');
      },
      { onError: (_key, _err, retries) => errors.push(retries) },
    );
    queue.add('k');
    await timers.advance(100 + 200 + 400 + 800 + 1_000 + 1_000);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(errors).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(queue.retries('k')).toBe(7);

    fail = false;
    await timers.advance(1_000);
    expect(queue.retries('k')).toBe(0);
    fail = true;
    const before = times.length;
    queue.add('k');
    await timers.advance(100);
    expect(times.length - before).toBe(2);
    await queue.shutdown();
    await running;
  });

  it('adds jitter from the injected random source without exceeding the cap', () => {
    const { queue } = setup({ random: () => 0.5, baseDelayMs: 100, maxDelayMs: 1_000 });
    expect(queue.backoff(0)).toBe(110);
    expect(queue.backoff(2)).toBe(440);
    expect(queue.backoff(4)).toBe(1_000);
    expect(queue.backoff(500)).toBe(1_000);
  });

  it('forget resets the backoff of a key', () => {
    const { queue } = setup();
    queue.addRateLimited('k');
    queue.addRateLimited('k');
    expect(queue.retries('k')).toBe(2);
    queue.forget('k');
    expect(queue.retries('k')).toBe(0);
  });

  it('shutdown drops waiting keys, aborts the running handler and waits for it', async () => {
    const { queue, timers } = setup();
    const g = gate();
    let finished = false;
    let aborted = false;
    const seen: string[] = [];
    const running = queue.run(async (key, signal) => {
      seen.push(key);
      signal.addEventListener('abort', () => (aborted = true));
      if (key === 'slow') await g.promise;
      finished = true;
    });
    queue.add('slow');
    queue.add('other');
    queue.addAfter('later', 1_000);
    await flush();
    let stopped = false;
    const stopping = queue.shutdown().then(() => (stopped = true));
    await flush();
    expect(aborted).toBe(true);
    expect(stopped).toBe(false);
    g.open();
    await stopping;
    await running;
    expect(finished).toBe(true);
    expect(timers.count()).toBe(0);
    queue.add('after');
    await timers.advance(5_000);
    expect(seen).toEqual(['slow']);
  });
});
