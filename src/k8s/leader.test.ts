import { ApiException, V1MicroTime } from '@kubernetes/client-node';
import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import { decideLease, LeaderElector, leaseRecord, observe, stillLeading } from './leader.ts';
import type { LeaseApi, LeaseRecord } from './leader.ts';
import { FakeTimers, flush } from '../platform/timers.ts';

const record = (holderIdentity: string, resourceVersion = '1', leaseDurationSeconds = 15): LeaseRecord => ({
  holderIdentity,
  leaseDurationSeconds,
  renewTime: '2026-01-01T00:00:00.000000Z',
  leaseTransitions: 0,
  resourceVersion,
});

describe('decideLease', () => {
  const clock = new FakeClock();

  it('creates a lease that does not exist', () => {
    expect(decideLease(undefined, 'a', clock.monotonic(), 15)).toEqual({ action: 'create' });
  });

  it('renews a lease it holds', () => {
    expect(decideLease({ record: record('a'), at: 0 }, 'a', 0, 15)).toEqual({ action: 'renew' });
  });

  it('takes over a released lease at once', () => {
    expect(decideLease({ record: record(''), at: 0 }, 'a', 0, 15)).toEqual({ action: 'acquire', reason: 'released' });
  });

  it('waits while another holder renews, and takes over once the record stays unchanged for the lease duration', () => {
    const c = new FakeClock();
    let seen = observe(undefined, record('b', '1'), c.monotonic());
    c.advance(10_000);
    expect(decideLease(seen, 'a', c.monotonic(), 15)).toEqual({ action: 'wait', holder: 'b', expiresInMs: 5_000 });

    // b renews: a new resourceVersion restarts the count.
    seen = observe(seen, record('b', '2'), c.monotonic());
    c.advance(14_999);
    expect(decideLease(seen, 'a', c.monotonic(), 15).action).toBe('wait');
    c.advance(1);
    expect(decideLease(seen, 'a', c.monotonic(), 15)).toEqual({ action: 'acquire', reason: 'expired' });
  });

  it('keeps the first-seen time while the record is unchanged', () => {
    const first = observe(undefined, record('b', '7'), 100);
    expect(observe(first, record('b', '7'), 900)).toBe(first);
    expect(observe(first, record('b', '8'), 900).at).toBe(900);
  });

  it('a leader stops leading once the renew deadline passes', () => {
    expect(stillLeading(0, 9_999, 10_000)).toBe(true);
    expect(stillLeading(0, 10_000, 10_000)).toBe(false);
  });

  it('reads MicroTime fields whether client-node hands back a string or a Date', () => {
    const lease: V1Lease = { metadata: { resourceVersion: '3' }, spec: { holderIdentity: 'x', renewTime: '2026-01-01T00:00:00.123456Z' as unknown as V1MicroTime } };
    expect(leaseRecord(lease).renewTime).toBe('2026-01-01T00:00:00.123456Z');
    expect(JSON.stringify({ t: new V1MicroTime(Date.UTC(2026, 0, 1, 0, 0, 0, 123)) })).toBe('{"t":"2026-01-01T00:00:00.123000Z"}');
  });
});

/** An in-memory Lease endpoint with resourceVersion checks, and a switch to make it fail. */
class FakeLeases implements LeaseApi {
  lease: V1Lease | undefined;
  rv = 0;
  down = new Set<string>();
  writes: V1Lease[] = [];
  private check(who: string) {
    if (this.down.has(who)) throw new ApiException(503, 'unavailable', {}, {});
  }
  forClient(who: string): LeaseApi {
    return {
      readNamespacedLease: async () => {
        this.check(who);
        if (!this.lease) throw new ApiException(404, 'not found', {}, {});
        return structuredClone(this.lease);
      },
      createNamespacedLease: async ({ body }) => {
        this.check(who);
        if (this.lease) throw new ApiException(409, 'exists', {}, {});
        return this.store(body);
      },
      replaceNamespacedLease: async ({ body }) => {
        this.check(who);
        if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new ApiException(409, 'conflict', {}, {});
        return this.store(body);
      },
    } as LeaseApi;
  }
  readNamespacedLease = this.forClient('').readNamespacedLease;
  createNamespacedLease = this.forClient('').createNamespacedLease;
  replaceNamespacedLease = this.forClient('').replaceNamespacedLease;
  private store(body: V1Lease): V1Lease {
    // What the API server keeps is what came over the wire.
    const wire = JSON.parse(JSON.stringify(body)) as V1Lease;
    this.writes.push(wire);
    wire.metadata = { ...wire.metadata, resourceVersion: String(++this.rv) };
    this.lease = wire;
    return structuredClone(wire);
  }
}

function candidate(leases: FakeLeases, clock: FakeClock, timers: FakeTimers, identity: string) {
  const events: string[] = [];
  let signal: AbortSignal | undefined;
  const elector = new LeaderElector({ coordination: leases.forClient(identity), namespace: 'valet-system', name: 'valet-controller', identity, clock, timers, random: () => 0 });
  const running = elector.run({
    onStartedLeading: (s) => {
      signal = s;
      events.push('started');
    },
    onStoppedLeading: () => events.push('stopped'),
  });
  return { elector, events, running, signal: () => signal };
}

describe('LeaderElector', () => {
  it('elects exactly one of two candidates and hands over at once on a graceful stop', async () => {
    const clock = new FakeClock();
    const timers = new FakeTimers(clock);
    const leases = new FakeLeases();
    const a = candidate(leases, clock, timers, 'a');
    await flush();
    const b = candidate(leases, clock, timers, 'b');
    await timers.advance(20_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    expect(leases.lease?.spec?.holderIdentity).toBe('a');
    // Renewals happened, and times went over the wire with microseconds.
    expect(leases.writes.length).toBeGreaterThan(5);
    expect(String(leases.lease?.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    await a.elector.stop();
    await a.running;
    expect(a.events).toEqual(['started', 'stopped']);
    expect(a.signal()?.aborted).toBe(true);
    expect(leases.lease?.spec?.holderIdentity).toBe('');

    await timers.advance(2_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(leases.lease?.spec?.leaseTransitions).toBe(1);
    await b.elector.stop();
  });

  it('a leader that cannot renew steps down after the renew deadline, and another takes over after the lease duration', async () => {
    const clock = new FakeClock();
    const timers = new FakeTimers(clock);
    const leases = new FakeLeases();
    const a = candidate(leases, clock, timers, 'a');
    await flush();
    const b = candidate(leases, clock, timers, 'b');
    await timers.advance(3_000);
    expect(a.elector.isLeader()).toBe(true);

    leases.down.add('a');
    const cutAt = clock.monotonic();
    await timers.advance(8_000);
    expect(a.elector.isLeader()).toBe(true);
    await timers.advance(4_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.events).toEqual(['started', 'stopped']);
    expect(b.elector.isLeader()).toBe(false);

    // b saw a's last renewal at most one retry period before the cut; it waits out the duration.
    await timers.advance(15_000 + 4_000 - (clock.monotonic() - cutAt));
    expect(b.elector.isLeader()).toBe(true);
    expect(clock.monotonic() - cutAt).toBeLessThanOrEqual(19_000);
    await a.elector.stop();
    await b.elector.stop();
  });

  it('refuses timings where a holder could lead past the point others take over', () => {
    const leases = new FakeLeases();
    expect(() => new LeaderElector({ coordination: leases, namespace: 'n', name: 'l', identity: 'a', leaseDurationSeconds: 10, renewDeadlineSeconds: 10 })).toThrow(/leaseDurationSeconds/);
    expect(() => new LeaderElector({ coordination: leases, namespace: 'n', name: 'l', identity: 'a', renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).toThrow(/retryPeriodSeconds/);
  });
});
