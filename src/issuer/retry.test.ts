import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import { FakeTimers } from '../platform/timers.ts';
import { retryWithBackoff } from './retry.ts';

const settings = { baseMs: 100, maxMs: 1000, minAttemptMs: 100 };

describe('retry with backoff', () => {
  it('retries retryable failures until one succeeds', async () => {
    const clock = new FakeClock();
    const timers = new FakeTimers(clock);
    let n = 0;
    const p = retryWithBackoff(
      async () => {
        if (n++ < 3) throw new Error('flaky');
        return 'ok';
      },
      () => true,
      settings,
      { clock, timers, random: () => 0.5, deadline: 10_000 },
    );
    await timers.advance(5000);
    await expect(p).resolves.toBe('ok');
    expect(n).toBe(4);
  });

  it('throws a non-retryable error at once', async () => {
    const clock = new FakeClock();
    let n = 0;
    const p = retryWithBackoff(
      async () => {
        n++;
        throw new Error('denied');
      },
      () => false,
      settings,
      { clock, timers: new FakeTimers(clock), random: () => 0.5, deadline: 10_000 },
    );
    await expect(p).rejects.toThrow('denied');
    expect(n).toBe(1);
  });

  it('stops before the deadline with the last error rather than sleeping past it', async () => {
    const clock = new FakeClock();
    const timers = new FakeTimers(clock);
    const attempts: number[] = [];
    const p = retryWithBackoff(
      async () => {
        attempts.push(clock.monotonic());
        throw new Error('down');
      },
      () => true,
      settings,
      { clock, timers, random: () => 1, deadline: 2000 },
    ).catch((e: unknown) => e);
    await timers.advance(10_000);
    expect(await p).toMatchObject({ message: 'down' });
    // 0, +100, +200, +400, +800 = 1500; the next (+1000) would end past 2000.
    expect(attempts).toEqual([0, 100, 300, 700, 1500]);
  });
});
