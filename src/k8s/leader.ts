// Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection package.
//
// Expiry is judged on this process's monotonic clock, not by comparing the Lease's renewTime
// (written with the holder's clock) to our wall clock: a record we have watched stay unchanged for
// leaseDurationSeconds is expired. Clock skew between replicas then cannot make a healthy lease
// look expired. A fresh replica waits one lease duration before taking over an abandoned lease; a
// graceful stop clears holderIdentity, so the successor takes over at its next retry.
import { V1MicroTime } from '@kubernetes/client-node';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import { ValetError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { isNotFound } from './keys.ts';
import type { Timers } from '../platform/timers.ts';
import { sleep, systemTimers } from '../platform/timers.ts';

export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

/** What the election reads from a Lease. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number | undefined;
  renewTime: string | undefined;
  leaseTransitions: number;
  resourceVersion: string;
}

/** A record and the monotonic time at which we first saw it. */
export interface Observed {
  record: LeaseRecord;
  at: number;
}

export type LeaseDecision =
  | { action: 'create' }
  | { action: 'renew' }
  | { action: 'acquire'; reason: 'released' | 'expired' }
  | { action: 'wait'; holder: string; expiresInMs: number };

// ---- pure decisions ----------------------------------------------------------------------------

/**
 * client-node 2.x leaves MicroTime fields as the strings the server sent (they are not in its
 * type map), though typed as V1MicroTime; accept either.
 */
export function microTimeString(v: unknown): string | undefined {
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' ? v : undefined;
}

export function leaseRecord(lease: V1Lease): LeaseRecord {
  return {
    holderIdentity: lease.spec?.holderIdentity ?? '',
    leaseDurationSeconds: lease.spec?.leaseDurationSeconds,
    renewTime: microTimeString(lease.spec?.renewTime),
    leaseTransitions: lease.spec?.leaseTransitions ?? 0,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

/** Keeps the first-seen time while the record is unchanged (every write changes resourceVersion). */
export function observe(prev: Observed | undefined, record: LeaseRecord, now: number): Observed {
  return prev && prev.record.resourceVersion === record.resourceVersion ? prev : { record, at: now };
}

/** Should this candidate create, renew, take over, or wait? `now` is monotonic ms. */
export function decideLease(observed: Observed | undefined, identity: string, now: number, defaultDurationSeconds: number): LeaseDecision {
  if (!observed) return { action: 'create' };
  const { record, at } = observed;
  if (record.holderIdentity === identity) return { action: 'renew' };
  if (!record.holderIdentity) return { action: 'acquire', reason: 'released' };
  const durationMs = (record.leaseDurationSeconds ?? defaultDurationSeconds) * 1000;
  const expiresInMs = at + durationMs - now;
  if (expiresInMs <= 0) return { action: 'acquire', reason: 'expired' };
  return { action: 'wait', holder: record.holderIdentity, expiresInMs };
}

/** A leader that last renewed at `lastRenew` keeps leading until the renew deadline passes. */
export function stillLeading(lastRenew: number, now: number, renewDeadlineMs: number): boolean {
  return now - lastRenew < renewDeadlineMs;
}

// ---- the elector -------------------------------------------------------------------------------

export interface LeaderElectorOptions {
  coordination: LeaseApi;
  namespace: string;
  name: string;
  /** Unique per replica, e.g. the pod name. */
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  clock?: Clock;
  timers?: Timers;
  random?: () => number;
  logger?: Logger;
}

export interface LeaderCallbacks {
  /** Start leader-only work; stop it when `signal` aborts. A returned promise is awaited on stop. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly logger: Logger | undefined;
  private readonly stopping = new AbortController();
  private observed: Observed | undefined;
  private leading = false;
  private lastHolder: string | undefined;
  private runLoop: Promise<void> | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.api = opts.coordination;
    this.namespace = opts.namespace;
    this.name = opts.name;
    this.identity = opts.identity;
    this.leaseDurationSeconds = opts.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = (opts.renewDeadlineSeconds ?? 10) * 1000;
    this.retryPeriodMs = (opts.retryPeriodSeconds ?? 2) * 1000;
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    this.random = opts.random ?? Math.random;
    this.logger = opts.logger?.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    // As client-go: the holder must give up (renew deadline) before others may take over (lease
    // duration), and must get several renew attempts within the deadline.
    if (!this.identity) throw new ValetError('LeaderElectionConfig', 'leader election needs a non-empty identity');
    if (this.leaseDurationSeconds * 1000 <= this.renewDeadlineMs) throw new ValetError('LeaderElectionConfig', 'leaseDurationSeconds must be greater than renewDeadlineSeconds');
    if (this.renewDeadlineMs <= this.retryPeriodMs * 1.2) throw new ValetError('LeaderElectionConfig', 'renewDeadlineSeconds must be greater than 1.2 × retryPeriodSeconds');
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until stop(): leads while it can renew, and campaigns again after losing the lease.
   * Resolves after stop() has ended leadership and released the lease.
   */
  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.runLoop) throw new ValetError('LeaderElectionState', 'LeaderElector.run called twice');
    this.runLoop = this.loop(callbacks);
    return this.runLoop;
  }

  /** Ends leadership (awaiting the leader work), clears holderIdentity if held, and returns. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.runLoop;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async loop(callbacks: LeaderCallbacks): Promise<void> {
    while (!this.stopped) {
      const won = await this.tryAcquireOrRenew();
      if (won) {
        await this.lead(callbacks);
      } else {
        // Jittered so that candidates do not move in step.
        await sleep(this.timers, this.retryPeriodMs * (1 + 0.2 * this.random()), this.stopping.signal);
      }
    }
  }

  private async lead(callbacks: LeaderCallbacks): Promise<void> {
    if (this.stopped) {
      await this.withDeadline(this.release(), this.renewDeadlineMs); // won while being stopped
      return;
    }
    let lastRenew = this.clock.monotonic();
    const leader = new AbortController();
    this.leading = true;
    this.logger?.info('became leader');
    const work = Promise.resolve()
      .then(() => callbacks.onStartedLeading(leader.signal))
      .catch((err: unknown) => this.logger?.error('leader work failed', { err }));

    while (!this.stopped) {
      await sleep(this.timers, this.retryPeriodMs, this.stopping.signal);
      if (this.stopped) break;
      const remaining = this.renewDeadlineMs - (this.clock.monotonic() - lastRenew);
      // A renew call that hangs must not keep us leading past the deadline.
      const renewed = remaining > 0 && (await this.withDeadline(this.tryAcquireOrRenew(), remaining));
      if (renewed) lastRenew = this.clock.monotonic();
      else if (!stillLeading(lastRenew, this.clock.monotonic(), this.renewDeadlineMs)) {
        this.logger?.warn('lost leadership: could not renew the lease within the renew deadline');
        break;
      }
    }

    leader.abort();
    this.leading = false;
    await work;
    try {
      callbacks.onStoppedLeading();
    } catch (err) {
      this.logger?.error('onStoppedLeading threw', { err });
    }
    if (this.stopped) await this.withDeadline(this.release(), this.renewDeadlineMs);
  }

  /** One read and at most one write. Returns whether we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.logger?.debug('reading the lease failed', { err });
        return false;
      }
    }
    const now = this.clock.monotonic();
    this.observed = lease ? observe(this.observed, leaseRecord(lease), now) : undefined;
    const holder = this.observed?.record.holderIdentity;
    if (holder !== this.lastHolder) {
      this.lastHolder = holder;
      this.logger?.info('lease holder observed', { holder: holder || null });
    }
    const decision = decideLease(this.observed, this.identity, now, this.leaseDurationSeconds);
    if (decision.action === 'wait') return false;

    const stamp = new V1MicroTime(this.clock.now()); // serializes with microseconds, as the API requires
    try {
      if (decision.action === 'create' || !lease) {
        const body: V1Lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace: this.namespace },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
        };
        lease = await this.api.createNamespacedLease({ namespace: this.namespace, body });
      } else {
        const spec = { ...lease.spec, holderIdentity: this.identity, leaseDurationSeconds: this.leaseDurationSeconds, renewTime: stamp };
        if (decision.action === 'acquire') {
          spec.acquireTime = stamp;
          spec.leaseTransitions = (lease.spec?.leaseTransitions ?? 0) + 1;
          this.logger?.info('taking over the lease', { reason: decision.reason, from: lease.spec?.holderIdentity || null });
        }
        // metadata carries resourceVersion: a concurrent writer makes this fail with 409.
        lease = await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...lease, spec } });
      }
    } catch (err) {
      this.logger?.debug('writing the lease failed', { err, action: decision.action });
      return false;
    }
    this.observed = observe(this.observed, leaseRecord(lease), this.clock.monotonic());
    return true;
  }

  /** Clears holderIdentity if we still hold the lease, so a successor need not wait for expiry. */
  private async release(): Promise<boolean> {
    try {
      const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
      if (lease.spec?.holderIdentity !== this.identity) return false;
      const stamp = new V1MicroTime(this.clock.now());
      const spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: stamp, acquireTime: stamp };
      await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...lease, spec } });
      this.logger?.info('released the lease');
      return true;
    } catch (err) {
      this.logger?.warn('releasing the lease failed; a successor waits for it to expire', { err });
      return false;
    }
  }

  /** Resolves false if `op` has not resolved true within `ms`. */
  private withDeadline(op: Promise<boolean>, ms: number): Promise<boolean> {
    let handle: unknown;
    const timeout = new Promise<boolean>((resolve) => (handle = this.timers.setTimeout(() => resolve(false), ms)));
    return Promise.race([op, timeout]).finally(() => this.timers.clearTimeout(handle));
  }
}
