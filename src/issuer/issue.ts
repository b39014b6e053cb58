// One POST /v1/keys, without HTTP: authenticate the token, authorize against the namespace's
// DatasetAccess objects, mint a key per grant, and audit the outcome (one line per key issued, one
// per refusal). Errors are IssuerErrors from the table in errors.ts.
import type { Verb } from '../api/v1alpha1/index.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import type { Auditor } from './audit.ts';
import { authorize } from './authorize.ts';
import type { Grant } from './authorize.ts';
import { IssuerError, toIssuerError } from './errors.ts';
import type { Minter, MintedKey } from './minter.ts';
import { storeId } from './minter.ts';
import type { Authenticator, GrantSource, PodIdentity } from './ports.ts';
import type { KeysRequest } from './request.ts';

/** The container-credentials shape the AWS SDKs read, plus what the key is for. */
export interface IssuedKey {
  access: string;
  bucket: string;
  prefix: string;
  verbs: Verb[];
  region: string;
  endpoint?: string;
  presign?: { enabled: boolean; maxExpirySeconds?: number };
  credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string };
  /** Seconds until Expiration on the issuer's clock (so a sidecar with a skewed clock still refreshes in time). */
  expiresInSeconds: number;
}

export interface KeysResponse {
  keys: IssuedKey[];
}

export interface RequestContext {
  requestId: string;
  remoteAddress?: string;
  /** Monotonic ms. */
  started: number;
  /** Monotonic ms. */
  deadline: number;
  signal: AbortSignal;
}

export interface KeyIssuerDeps {
  authenticator: Authenticator;
  grants: GrantSource;
  minter: Minter;
  audit: Auditor;
  clock: Clock;
  logger?: Logger;
  metrics?: IssuerMetrics;
}

/** RFC 3339 in UTC with whole seconds, as the AWS container-credentials format has it. */
export const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Refusal reasons worth an Event on the access: the grant exists but cannot be used. */
const EVENT_REASONS = new Set(['NotReady', 'StaleStatus', 'StoreNotFound', 'ServiceAccountNotIncluded', 'PodSelectorMismatch']);

export class KeyIssuer {
  private readonly d: KeyIssuerDeps;

  constructor(deps: KeyIssuerDeps) {
    this.d = deps;
  }

  async issue(bearer: string, request: KeysRequest, ctx: RequestContext): Promise<KeysResponse> {
    const { clock, audit } = this.d;
    let pod: PodIdentity | undefined;
    const latency = () => clock.monotonic() - ctx.started;
    try {
      pod = await this.timed(this.d.authenticator.authenticate(bearer, ctx.signal), ctx.signal);
      const accesses = this.d.grants.accesses(pod.namespace);
      const auth = authorize(pod, accesses, (a) => this.d.grants.store(a), request.accesses, (ns) => this.d.grants.namespaceLabels(ns));
      if (!auth.ok) {
        const byName = new Map(accesses.map((a) => [`${a.metadata.namespace}/${a.metadata.name}`, a]));
        for (const r of auth.refusals) {
          const access = byName.get(r.access);
          // A subject mismatch is news only for an access the pod asked for by name.
          const asked = request.accesses?.includes(access?.metadata.name ?? '') ?? false;
          if (access && EVENT_REASONS.has(r.reason) && (asked || (r.reason !== 'ServiceAccountNotIncluded' && r.reason !== 'PodSelectorMismatch'))) {
            audit.event(access, `KeyRefused${r.reason}`, `refused a key to pod ${pod.namespace}/${pod.podName}: ${r.message}`);
          }
        }
        throw auth.error;
      }
      const minted = await Promise.all(auth.grants.map((g) => this.mintOne(pod as PodIdentity, g, ctx)));
      // The caller has had its 504 already: do not record keys it never received as issued.
      if (ctx.signal.aborted) throw new IssuerError('Timeout');
      const now = clock.now();
      const keys = minted.map(({ grant, key }) => {
        const k = toIssuedKey(grant, key, now);
        audit.issued({
          code: 'OK',
          latencyMs: latency(),
          requestId: ctx.requestId,
          pod,
          access: grant.access.metadata.name,
          store: storeId(grant.store),
          bucket: k.bucket,
          prefix: k.prefix,
          verbs: k.verbs,
          sessionName: key.sessionName,
          accessKeyId: key.accessKeyId,
          expiration: key.expiration,
          source: key.source,
        });
        this.d.metrics?.keysIssued.inc({ store: storeId(grant.store), source: key.source });
        return k;
      });
      return { keys };
    } catch (err) {
      const e = ctx.signal.aborted && !(err instanceof IssuerError) ? new IssuerError('Timeout', undefined, { cause: err }) : toIssuerError(err);
      if (e.code === 'Internal') this.d.logger?.error('issuing a key failed', { requestId: ctx.requestId, err: e.cause });
      audit.refused({ code: e.code, latencyMs: latency(), requestId: ctx.requestId, remoteAddress: ctx.remoteAddress, pod, message: e.message, reasons: e.refusals });
      throw e;
    }
  }

  private async mintOne(pod: PodIdentity, grant: Grant, ctx: RequestContext): Promise<{ grant: Grant; key: MintedKey }> {
    try {
      const key = await this.d.minter.mint({ pod, grant, deadline: ctx.deadline, signal: ctx.signal });
      return { grant, key };
    } catch (err) {
      const e = toIssuerError(err);
      if (e.code.startsWith('Sts') || e.code === 'StoreCredentialsUnavailable' || e.code === 'RateLimited') {
        this.d.audit.event(grant.access, `KeyRefused${e.code}`, `could not mint a key for pod ${pod.namespace}/${pod.podName}: ${e.message}`);
      }
      throw e;
    }
  }

  /** Rejects as soon as the request's deadline passes, whatever `p` does. */
  private timed<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(new IssuerError('Timeout'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new IssuerError('Timeout'));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }
}

export function toIssuedKey(grant: Grant, key: MintedKey, nowMs: number): IssuedKey {
  const { access, store } = grant;
  const out: IssuedKey = {
    access: access.metadata.name,
    bucket: store.spec.bucket,
    prefix: access.spec.prefix,
    verbs: [...access.spec.verbs],
    region: store.spec.region,
    credentials: { AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey, SessionToken: key.sessionToken, Expiration: rfc3339(key.expiration) },
    expiresInSeconds: Math.max(0, Math.floor((key.expiration.getTime() - nowMs) / 1000)),
  };
  if (store.spec.endpoint) out.endpoint = store.spec.endpoint;
  if (access.spec.presign?.enabled) {
    out.presign = { enabled: true, maxExpirySeconds: Math.min(access.spec.presign.maxExpirySeconds ?? out.expiresInSeconds, out.expiresInSeconds) };
  }
  return out;
}
