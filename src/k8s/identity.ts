// The Kubernetes side of the issuer's authentication: a pod-bound service-account token, proved by
// TokenReview (audience valet.dev), then the pod itself, read fresh: it must exist with the UID the
// token names and not be terminating. kube-apiserver caches successful token reviews for 10 s, so
// TokenReview alone would still accept the token of a pod deleted a moment ago (docs/notes.md).
//
// TokenReview results are cached briefly, keyed by the token's SHA-256 (never the token), and
// concurrent reviews of one token are merged: a burst of requests from one pod costs one review.
// Pod reads are cached for at most ~1 s (default 0: every request reads the pod).
//
// Implements the issuer's Authenticator by shape (src/k8s does not import src/issuer); failures
// are ValetErrors with codes from src/issuer/errors.ts (identity.test.ts holds them to the table).
import { createHash } from 'node:crypto';
import { AuthenticationV1Api } from '@kubernetes/client-node';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { DEFAULT_ACCESS_ANNOTATION, REMOVED_ENV_ANNOTATION, TOKEN_AUDIENCE } from '../api/v1alpha1/index.ts';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import { ValetError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { TtlCache } from '../platform/ttl-cache.ts';
import type { K8sClients } from './clients.ts';
import { httpStatus } from './keys.ts';

const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';
const SA_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** The codes this file throws; each is a row of ISSUER_ERRORS. */
export const IDENTITY_ERROR_CODES = ['Unauthenticated', 'PodNotFound', 'PodTerminating', 'PodFinished', 'PodUidMismatch', 'KubernetesUnavailable'] as const;
type IdentityErrorCode = (typeof IDENTITY_ERROR_CODES)[number];
const STATUS: Record<IdentityErrorCode, number> = { Unauthenticated: 401, PodNotFound: 403, PodTerminating: 403, PodFinished: 403, PodUidMismatch: 403, KubernetesUnavailable: 503 };
const fail = (code: IdentityErrorCode, message: string, cause?: unknown) => new ValetError(code, message, STATUS[code], { cause });

/** The issuer's PodIdentity (same shape). */
export interface AuthenticatedPod {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
  labels: Readonly<Record<string, string>>;
  /** The pod's valet.dev/default-access annotation, when set. */
  defaultAccess?: string;
  /** The pod's valet.dev/removed-env annotation (variable names the webhook removed), when set. */
  removedEnv?: string;
}

/** What a successful TokenReview says about a pod-bound token. */
interface ReviewedToken {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

export interface TokenReviewAuthenticatorOptions {
  authentication: Pick<AuthenticationV1Api, 'createTokenReview'>;
  core: Pick<CoreV1Api, 'readNamespacedPod'>;
  clock?: Clock;
  logger?: Logger;
  metrics?: Pick<IssuerMetrics, 'tokenReviewSeconds' | 'podReadSeconds' | 'cacheLookups'>;
  /** Default ['valet.dev']. */
  audiences?: string[];
  /** How long a successful review is reused (never past the token's exp). Default 10 s. */
  reviewTtlMs?: number;
  /** How long a refused token is remembered (protects the API server from replayed garbage). Default 5 s. */
  refusedTtlMs?: number;
  /** How long a pod read is reused after it completes; capped at 1 s. Default 0 (concurrent reads are still merged). */
  podTtlMs?: number;
  /** Bound on cached reviews. Default 10,000. */
  maxEntries?: number;
}


/** Seconds-since-epoch `exp` of a JWT, read without verifying (only to cap a cache entry). */
function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}


export class TokenReviewAuthenticator {
  private readonly o: TokenReviewAuthenticatorOptions;
  private readonly clock: Clock;
  private readonly audiences: string[];
  private readonly reviewTtlMs: number;
  private readonly refusedTtlMs: number;
  private readonly podTtlMs: number;
  private readonly reviews: TtlCache<ReviewedToken>;
  private readonly pods: TtlCache<V1Pod | undefined>;

  constructor(opts: TokenReviewAuthenticatorOptions) {
    this.o = opts;
    this.clock = opts.clock ?? systemClock;
    this.audiences = opts.audiences ?? [TOKEN_AUDIENCE];
    this.reviewTtlMs = opts.reviewTtlMs ?? 10_000;
    this.refusedTtlMs = opts.refusedTtlMs ?? 5_000;
    this.podTtlMs = Math.min(1000, Math.max(0, opts.podTtlMs ?? 0));
    this.reviews = new TtlCache(opts.maxEntries ?? 10_000);
    this.pods = new TtlCache(opts.maxEntries ?? 10_000);
  }

  async authenticate(bearer: string): Promise<AuthenticatedPod> {
    if (!bearer || bearer.length > 16 * 1024 || /\s/.test(bearer)) throw fail('Unauthenticated', 'malformed bearer token');
    const reviewed = await this.review(bearer);
    const pod = await this.readPod(reviewed.namespace, reviewed.podName);
    const where = `${reviewed.namespace}/${reviewed.podName}`;
    if (!pod) throw fail('PodNotFound', `pod ${where} that the token is bound to does not exist`);
    if (pod.metadata?.uid !== reviewed.podUid) throw fail('PodUidMismatch', `pod ${where} has another UID than the token names: it was replaced`);
    if (pod.metadata?.deletionTimestamp) throw fail('PodTerminating', `pod ${where} is terminating`);
    // A finished pod keeps existing (a completed Job's pods stay until cleaned up), and its token
    // stays valid until it expires: it must not mint keys for whoever kept a copy.
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') throw fail('PodFinished', `pod ${where} has finished (phase ${phase})`);
    const sa = pod.spec?.serviceAccountName ?? 'default';
    if (sa !== reviewed.serviceAccount) throw fail('Unauthenticated', `pod ${where} runs as another service account than the token names`);
    const defaultAccess = pod.metadata?.annotations?.[DEFAULT_ACCESS_ANNOTATION];
    const removedEnv = pod.metadata?.annotations?.[REMOVED_ENV_ANNOTATION];
    return {
      namespace: reviewed.namespace,
      serviceAccount: reviewed.serviceAccount,
      podName: reviewed.podName,
      podUid: reviewed.podUid,
      labels: { ...(pod.metadata?.labels ?? {}) },
      ...(defaultAccess ? { defaultAccess } : {}),
      ...(removedEnv ? { removedEnv: removedEnv.slice(0, 1024) } : {}),
    };
  }

  private review(token: string): Promise<ReviewedToken> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.clock.now();
    const cached = this.reviews.get(key, now);
    this.o.metrics?.cacheLookups.inc({ cache: 'tokenreview', result: cached ? 'hit' : 'miss' });
    if (cached) return cached;
    const exp = tokenExpiry(token);
    const value = this.callTokenReview(token);
    this.reviews.put(key, value, () => this.clock.now(), (ok, err) => {
      // A refused token is remembered briefly; a failure to reach the API server is not.
      if (!ok) return err instanceof ValetError && err.code === 'Unauthenticated' ? this.refusedTtlMs : 0;
      const ttl = this.reviewTtlMs;
      return exp === undefined ? ttl : Math.min(ttl, exp - this.clock.now());
    });
    return value;
  }

  private async callTokenReview(token: string): Promise<ReviewedToken> {
    const started = this.clock.monotonic();
    let result = 'error';
    try {
      const res = await this.o.authentication.createTokenReview({ body: { spec: { token, audiences: this.audiences } } });
      const s = res.status;
      const audienceOk = (s?.audiences ?? []).some((a) => this.audiences.includes(a));
      const user = SA_USER.exec(s?.user?.username ?? '');
      const podName = s?.user?.extra?.[POD_NAME]?.[0];
      const podUid = s?.user?.extra?.[POD_UID]?.[0];
      if (!s?.authenticated || !audienceOk || !user || !podName || !podUid) {
        result = 'refused';
        // Why stays in the debug log (never the token); the caller learns nothing.
        this.o.logger?.debug('token refused', { authenticated: s?.authenticated === true, audienceOk, serviceAccountUser: !!user, podBound: !!podName && !!podUid });
        throw fail('Unauthenticated', 'token refused');
      }
      result = 'ok';
      return { namespace: user[1] ?? '', serviceAccount: user[3] ?? '', podName, podUid };
    } catch (err) {
      if (err instanceof ValetError) throw err;
      this.o.logger?.warn('TokenReview failed', { status: httpStatus(err), error: err instanceof Error ? err.message.slice(0, 200) : String(err) });
      throw fail('KubernetesUnavailable', 'TokenReview failed', err);
    } finally {
      this.o.metrics?.tokenReviewSeconds.observe({ result }, (this.clock.monotonic() - started) / 1000);
    }
  }

  /**
   * Concurrent reads of one pod share one request (a pod's burst of requests then moves on
   * together); once it settles, the result is reused only for podTtlMs (default 0: not at all).
   */
  private readPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    const key = `${namespace}/${name}`;
    const cached = this.pods.get(key, this.clock.now());
    this.o.metrics?.cacheLookups.inc({ cache: 'pod', result: cached ? 'hit' : 'miss' });
    if (cached) return cached;
    const value = this.callReadPod(namespace, name);
    this.pods.put(key, value, () => this.clock.now(), (ok) => (ok ? this.podTtlMs : 0));
    return value;
  }

  private async callReadPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    const started = this.clock.monotonic();
    let result = 'error';
    try {
      const pod = await this.o.core.readNamespacedPod({ namespace, name });
      result = 'ok';
      return pod;
    } catch (err) {
      if (httpStatus(err) === 404) {
        result = 'notfound';
        return undefined;
      }
      this.o.logger?.warn('reading a pod failed', { namespace, pod: name, status: httpStatus(err) });
      throw fail('KubernetesUnavailable', 'reading the pod failed', err);
    } finally {
      this.o.metrics?.podReadSeconds.observe({ result }, (this.clock.monotonic() - started) / 1000);
    }
  }
}

/** The issuer's Authenticator over TokenReview and pod reads, from the operator's clients. */
export function createPodAuthenticator(clients: Pick<K8sClients, 'kubeConfig' | 'core'>, opts: Omit<TokenReviewAuthenticatorOptions, 'authentication' | 'core'> = {}): TokenReviewAuthenticator {
  return new TokenReviewAuthenticator({ ...opts, authentication: clients.kubeConfig.makeApiClient(AuthenticationV1Api), core: clients.core });
}
