import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import { FakeTimers } from '../platform/timers.ts';
import { TokenBucket } from './rate-limit.ts';
import { IssuerError } from './errors.ts';

function setup(settings = { ratePerSecond: 10, burst: 2, maxQueue: 5 }) {
  const clock = new FakeClock();
  const timers = new FakeTimers(clock);
  const depths: number[] = [];
  return { clock, timers, depths, bucket: new TokenBucket(settings, clock, timers, (d) => depths.push(d)) };
}

describe('the per-store rate limit', () => {
  it('lets a burst through at once, then queues calls at the configured rate', async () => {
    const { clock, timers, bucket } = setup();
    const granted: number[] = [];
    const deadline = 60_000;
    const all = Array.from({ length: 6 }, () => bucket.acquire(deadline).then(() => granted.push(clock.monotonic())));
    await timers.advance(0);
    expect(granted).toEqual([0, 0]);
    expect(bucket.depth()).toBe(4);
    await timers.advance(1000);
    await Promise.all(all);
    expect(granted).toEqual([0, 0, 100, 200, 300, 400]);
  });

  it('refuses at once with RateLimited and a Retry-After when the queue is full', async () => {
    const { bucket } = setup({ ratePerSecond: 1, burst: 1, maxQueue: 1 });
    await bucket.acquire(60_000);
    void bucket.acquire(60_000);
    const err = await bucket.acquire(60_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IssuerError);
    expect(err).toMatchObject({ code: 'RateLimited', httpStatus: 429, retryAfterSeconds: 2 });
  });

  it('refuses a call whose wait would pass its deadline, instead of letting it wait in vain', async () => {
    const { bucket } = setup({ ratePerSecond: 2, burst: 1, maxQueue: 100 });
    await bucket.acquire(1000);
    await expect(bucket.acquire(400)).rejects.toMatchObject({ code: 'RateLimited' });
    const ok = bucket.acquire(600);
    await expect(Promise.race([ok, Promise.resolve('pending')])).resolves.toBe('pending');
  });

  it('drops a waiter whose request is aborted, and reports the queue depth', async () => {
    const { timers, bucket, depths } = setup({ ratePerSecond: 1, burst: 1, maxQueue: 10 });
    await bucket.acquire(60_000);
    const ac = new AbortController();
    const waiting = bucket.acquire(60_000, ac.signal);
    expect(bucket.depth()).toBe(1);
    ac.abort(new IssuerError('Timeout'));
    await expect(waiting).rejects.toMatchObject({ code: 'Timeout' });
    expect(bucket.depth()).toBe(0);
    await timers.advance(1000);
    expect(depths).toEqual([1, 0, 0]);
  });
});

describe('fairness between namespaces', () => {
  it("serves waiting namespaces round robin: a newcomer's first call goes before a flooding namespace's backlog", async () => {
    const { clock, timers, bucket } = setup({ ratePerSecond: 10, burst: 1, maxQueue: 100, maxQueuePerNamespace: 50 } as never);
    const order: string[] = [];
    const deadline = 60_000;
    const flood = Array.from({ length: 20 }, (_, i) => bucket.acquire(deadline, undefined, 'team-a').then(() => order.push(`a${i}`)));
    await timers.advance(0);
    expect(order).toEqual(['a0']);
    await timers.advance(250); // two more of team-a's calls
    const first = bucket.acquire(deadline, undefined, 'team-b').then(() => order.push('b0'));
    await timers.advance(1000);
    await first;
    // team-b got the very next token, not one after team-a's 17 still queued.
    expect(order.slice(0, 5)).toEqual(['a0', 'a1', 'a2', 'b0', 'a3']);
    await timers.advance(3000);
    await Promise.all(flood);
    expect(clock.monotonic()).toBeGreaterThan(0);
  });

  it("refuses a namespace past its share of the queue with RateLimited, while another namespace still queues", async () => {
    const { timers, bucket } = setup({ ratePerSecond: 1, burst: 1, maxQueue: 100, maxQueuePerNamespace: 2 } as never);
    await bucket.acquire(60_000, undefined, 'team-a');
    const queued = [bucket.acquire(60_000, undefined, 'team-a'), bucket.acquire(60_000, undefined, 'team-a')];
    const over = await bucket.acquire(60_000, undefined, 'team-a').then(() => undefined, (e: unknown) => e);
    expect(over).toBeInstanceOf(IssuerError);
    expect(over).toMatchObject({ code: 'RateLimited', retryAfterSeconds: expect.any(Number) as number });
    expect((over as Error).message).toContain('this namespace');
    const other = bucket.acquire(60_000, undefined, 'team-b');
    expect(bucket.depth('team-b')).toBe(1);
    await timers.advance(5000);
    await Promise.all([...queued, other]);
  });
});
