// From a grant to a key: the AssumeRole parameters, merged concurrent calls, the per-store rate
// limit, retries within the deadline, and (for spec.sharedSession) one session per service account
// and access, reused until half its lifetime has passed.
import { ISSUER_ERRORS } from '../api/issuer/v1/index.ts';
import { createHash } from 'node:crypto';
import { LIMITS } from '../api/v1alpha1/index.ts';
import { s3Source } from '../providers/index.ts';
import type { AnyDatasetStore } from '../api/v1alpha1/index.ts';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import { raceAbort } from '../platform/abort.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { Grant } from './authorize.ts';
import { IssuerError, toIssuerError } from './errors.ts';
import type { Timers } from '../platform/timers.ts';
import type { GrantSource, PodIdentity } from './ports.ts';
import { DEFAULT_RATE_LIMIT, TokenBucket } from './rate-limit.ts';
import type { RateLimitSettings } from './rate-limit.ts';
import { DEFAULT_BACKOFF, retryWithBackoff } from './retry.ts';
import type { BackoffSettings } from './retry.ts';
import { sessionName, stsName } from './session-name.ts';
import { SingleFlight } from './singleflight.ts';
import { classifyStsError, stsErrorName } from './sts.ts';
import type { AssumeRoleParams, AssumedKey, Sts, StsFailure } from './sts.ts';

export interface MinterOptions {
  sts: Sts;
  grants: Pick<GrantSource, 'storeCredentials'>;
  clock: Clock;
  timers: Timers;
  random?: () => number;
  logger?: Logger;
  metrics?: IssuerMetrics;
  /** Per store. */
  rateLimit?: Partial<RateLimitSettings>;
  backoff?: Partial<BackoffSettings>;
  /** Longest single AssumeRole attempt. Default 5 s. */
  attemptTimeoutMs?: number;
  /** Shared sessions kept. Default 10,000. */
  maxSharedSessions?: number;
}

export interface MintRequest {
  pod: PodIdentity;
  grant: Grant;
  /** Monotonic ms. */
  deadline: number;
  signal: AbortSignal;
}

export type KeySource = 'sts' | 'merged' | 'cache';

export interface MintedKey extends AssumedKey {
  sessionName: string;
  source: KeySource;
}

interface CachedSession {
  key: AssumedKey & { sessionName: string };
  /** Wall ms after which the session is no longer handed out (half its lifetime). */
  reuseUntil: number;
}

/** Store name for rate limits, logs and metric labels: "Kind/namespace/name" or "Kind/name". */
export function storeId(store: AnyDatasetStore): string {
  return [store.kind, store.metadata.namespace, store.metadata.name].filter(Boolean).join('/');
}

/** The STS parameters for a grant (without the issuer's credentials). */
export function assumeRoleParams(pod: PodIdentity, grant: Grant): Omit<AssumeRoleParams, 'credentials'> {
  const { access, store } = grant;
  const spec = s3Source(store.spec);
  if (!spec) throw new IssuerError('Internal', undefined, { cause: new Error(`store ${storeId(store)} is not a complete s3 store`) });
  const shared = access.spec.sharedSession === true;
  const params: Omit<AssumeRoleParams, 'credentials'> = {
    region: spec.region,
    roleArn: spec.roleArn,
    roleSessionName: shared ? sessionName(pod.namespace, pod.serviceAccount, 'serviceAccount') : sessionName(pod.namespace, pod.podName),
    durationSeconds: access.spec.sessionDurationSeconds ?? LIMITS.defaultSessionDurationSeconds,
    policy: grant.policy,
  };
  if (spec.stsEndpoint) params.endpoint = spec.stsEndpoint;
  if (spec.externalId) params.externalId = spec.externalId;
  if (spec.sessionTags) {
    params.sourceIdentity = stsName([pod.namespace, pod.serviceAccount], undefined, '.');
    params.tags = [
      { Key: 'valet.dev/namespace', Value: pod.namespace },
      { Key: 'valet.dev/service-account', Value: pod.serviceAccount },
      { Key: 'valet.dev/access', Value: access.metadata.name },
    ];
    if (!shared) params.tags.push({ Key: 'valet.dev/pod', Value: pod.podName });
  }
  return params;
}

const FAILURE_CODE: Record<Exclude<StsFailure, 'aborted'>, 'StsThrottled' | 'StsUnavailable' | 'StsError' | 'StsRejected'> = {
  throttled: 'StsThrottled',
  unavailable: 'StsUnavailable',
  server: 'StsError',
  rejected: 'StsRejected',
};

export class Minter {
  private readonly opts: MinterOptions;
  private readonly random: () => number;
  private readonly rate: RateLimitSettings;
  private readonly backoff: BackoffSettings;
  private readonly attemptTimeoutMs: number;
  private readonly maxShared: number;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly flights = new SingleFlight<MintedKey>();
  private readonly sessions = new Map<string, CachedSession>();

  constructor(opts: MinterOptions) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    this.rate = { ...DEFAULT_RATE_LIMIT, ...opts.rateLimit };
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 5000;
    this.maxShared = opts.maxSharedSessions ?? 10_000;
  }

  async mint(req: MintRequest): Promise<MintedKey> {
    const { pod, grant } = req;
    const { access, store } = grant;
    const shared = access.spec.sharedSession === true;
    const who = shared ? `sa\0${pod.serviceAccount}` : `pod\0${pod.podUid}`;
    // The generation of the access and the store, and the policy: any change means a new session.
    const version = `${access.metadata.uid ?? ''}\0${access.metadata.generation ?? 0}\0${store.metadata.uid ?? ''}\0${store.metadata.generation ?? 0}\0${createHash('sha256').update(grant.policy).digest('hex')}`;
    const key = `${pod.namespace}\0${access.metadata.name}\0${who}\0${version}`;
    const metrics = this.opts.metrics;

    if (shared) {
      const cached = this.sessions.get(key);
      if (cached && this.opts.clock.now() < cached.reuseUntil) {
        metrics?.cacheLookups.inc({ cache: 'session', result: 'hit' });
        return { ...cached.key, source: 'cache' };
      }
      metrics?.cacheLookups.inc({ cache: 'session', result: 'miss' });
    }

    const { promise, shared: joined } = this.flights.do(key, async () => {
      const k = await this.call(req);
      if (shared) this.remember(key, k);
      return k;
    });
    metrics?.cacheLookups.inc({ cache: 'inflight', result: joined ? 'hit' : 'miss' });
    const minted = await raceAbort(promise, req.signal, (s) => (s.reason instanceof Error ? s.reason : new IssuerError('Timeout')));
    return joined ? { ...minted, source: 'merged' } : minted;
  }

  /** Calls waiting on a store's rate limit. */
  queueDepth(store: AnyDatasetStore): number {
    return this.buckets.get(storeId(store))?.depth() ?? 0;
  }

  private remember(key: string, k: MintedKey): void {
    const now = this.opts.clock.now();
    const lifetime = k.expiration.getTime() - now;
    if (lifetime <= 0) return;
    this.sessions.set(key, { key: { ...k }, reuseUntil: now + lifetime / 2 });
    for (const [k2, s] of this.sessions) {
      if (this.sessions.size <= this.maxShared && s.reuseUntil > now) break;
      this.sessions.delete(k2);
    }
  }

  private bucket(id: string): TokenBucket {
    let b = this.buckets.get(id);
    if (!b) {
      b = new TokenBucket(this.rate, this.opts.clock, this.opts.timers, (depth) => this.opts.metrics?.rateLimitQueueDepth.set({ store: id }, depth));
      this.buckets.set(id, b);
    }
    return b;
  }

  private async call(req: MintRequest): Promise<MintedKey> {
    const { pod, grant, deadline, signal } = req;
    const id = storeId(grant.store);
    const log = this.opts.logger?.child({ store: id, namespace: pod.namespace, pod: pod.podName, datasetAccess: grant.access.metadata.name });
    let credentials: Awaited<ReturnType<GrantSource['storeCredentials']>>;
    try {
      credentials = await this.opts.grants.storeCredentials(grant.store);
    } catch (err) {
      const e = toIssuerError(err);
      throw e.code === 'Internal' ? new IssuerError('StoreCredentialsUnavailable', undefined, { cause: err }) : e;
    }
    const params: AssumeRoleParams = { ...assumeRoleParams(pod, grant), credentials };
    const bucket = this.bucket(id);
    const { clock, timers, metrics } = this.opts;
    try {
      const key = await retryWithBackoff(
        async () => {
          await bucket.acquire(deadline, signal, pod.namespace);
          const attempt = new AbortController();
          const abort = () => attempt.abort();
          signal.addEventListener('abort', abort, { once: true });
          const timer = timers.setTimeout(abort, Math.max(1, Math.min(this.attemptTimeoutMs, deadline - clock.monotonic())));
          const started = clock.monotonic();
          let result = 'ok';
          try {
            return await this.opts.sts.assumeRole(params, attempt.signal);
          } catch (err) {
            result = classifyStsError(err);
            throw err;
          } finally {
            timers.clearTimeout(timer);
            signal.removeEventListener('abort', abort);
            metrics?.stsCalls.inc({ store: id, result });
            metrics?.stsSeconds.observe({ store: id, result }, (clock.monotonic() - started) / 1000);
          }
        },
        (err) => !(err instanceof IssuerError) && ['throttled', 'unavailable', 'server'].includes(classifyStsError(err)),
        this.backoff,
        {
          clock,
          timers,
          random: this.random,
          deadline,
          signal,
          onRetry: (err, retry, delayMs) => log?.debug('STS AssumeRole failed; retrying', { failure: classifyStsError(err), error: stsErrorName(err), retry, delayMs }),
        },
      );
      return { ...key, sessionName: params.roleSessionName, source: 'sts' };
    } catch (err) {
      if (err instanceof IssuerError) throw err;
      const failure = classifyStsError(err);
      if (failure === 'aborted' || signal.aborted) throw new IssuerError('Timeout', undefined, { cause: err });
      const code = FAILURE_CODE[failure];
      log?.warn('STS AssumeRole failed', { failure, error: stsErrorName(err), message: err instanceof Error ? err.message.slice(0, 300) : undefined });
      const detail = failure === 'rejected' ? `: ${stsErrorName(err)}` : '';
      throw new IssuerError(code, `${ISSUER_ERRORS[code].message} (store ${id})${detail}`, { cause: err });
    }
  }
}

