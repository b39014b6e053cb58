// One POST /v1/keys, without HTTP: authenticate the token, authorize against the namespace's
// DatasetAccess objects, mint a key per grant, and audit the outcome (one line per key issued, one
// per refusal). Errors are IssuerErrors from the table in errors.ts.
import type { IssuedKey, KeysRequest, KeysResponse, S3IssuedKey, SignedGrantKey } from '../api/issuer/v1/index.ts';
import { DEFAULT_ACCESS_ANNOTATION, LIMITS } from '../api/v1alpha1/index.ts';
import { providerOf, s3Source } from '../providers/index.ts';
import { raceAbort } from '../platform/abort.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { rfc3339 } from '../platform/time.ts';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import type { Auditor } from './audit.ts';
import { authorize } from './authorize.ts';
import type { Grant } from './authorize.ts';
import { IssuerError, toIssuerError } from './errors.ts';
import type { Minter, MintedKey } from './minter.ts';
import { storeId } from './minter.ts';
import type { Authenticator, GrantSource, PodIdentity } from './ports.ts';


export interface RequestContext {
  requestId: string;
  remoteAddress?: string;
  /** Monotonic ms. */
  started: number;
  /** Monotonic ms. */
  deadline: number;
  signal: AbortSignal;
  /**
   * The caller's pod, when the server authenticated the bearer before it read the body (limits
   * before work); absent, the handler authenticates itself.
   */
  authenticated?: Promise<PodIdentity>;
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
      pod = await raceAbort(ctx.authenticated ?? this.d.authenticator.authenticate(bearer, ctx.signal), ctx.signal, () => new IssuerError('Timeout'));
      const accesses = this.d.grants.accesses(pod.namespace);
      const auth = authorize(pod, accesses, (a) => this.d.grants.store(a), request.accesses, (ns) => this.d.grants.namespaceLabels(ns), { valetNamespace: this.d.grants.valetNamespace, overlappingClaims: (store, prefix, ns) => this.d.grants.overlappingClaims(store, prefix, ns) });
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
      // Several grants and no default named: the pod's /v1/credentials serves none (never an
      // arbitrary one); say so on the pod, where whoever wonders why the SDK finds no key looks.
      if (auth.grants.length > 1 && !pod.defaultAccess) {
        const names = auth.grants.map((g) => g.access.metadata.name);
        audit.podEvent(pod, 'NoDefaultAccess', `pod is granted by ${names.length} DatasetAccess objects (${names.slice(0, 8).join(', ')}) and names no default: AWS SDKs using the plain credentials URI get no key. Set the pod annotation ${DEFAULT_ACCESS_ANNOTATION}, or point each client at /v1/credentials/<access>`);
      }
      // The pod spec set variables that would have given its SDKs other keys; the webhook took them
      // out. Say so on the pod (names only: the annotation never holds a value).
      if (pod.removedEnv) {
        audit.podEvent(pod, 'CompetingCredentialsRemoved', `valet removed variables the pod spec set that would make AWS SDKs use other keys than valet's (${pod.removedEnv.replaceAll(';', '; ')}). To keep a container's own keys, name it in valet.dev/skip-containers`);
      }
      const s3Grants = auth.grants.filter((g) => providerOf(g.store.spec).delivery === 'stsKeys');
      const minted = await Promise.all(s3Grants.map((g) => this.mintOne(pod as PodIdentity, g, ctx)));
      // The caller has had its 504 already: do not record keys it never received as issued.
      if (ctx.signal.aborted) throw new IssuerError('Timeout');
      const now = clock.now();
      const signed = auth.grants.filter((g) => providerOf(g.store.spec).delivery === 'signedUrls').map((g) => {
        const k = toSignedGrantKey(g, now);
        this.d.logger?.info('grant issued', { requestId: ctx.requestId, namespace: pod?.namespace, pod: pod?.podName, datasetAccess: k.access, store: storeId(g.store), provider: k.provider, expiresInSeconds: k.expiresInSeconds });
        this.d.metrics?.keysIssued.inc({ store: storeId(g.store), source: 'grant' });
        return k;
      });
      const keys: IssuedKey[] = minted.map(({ grant, key }) => {
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
      keys.push(...signed);
      keys.sort((a, b) => a.access.localeCompare(b.access));
      return { keys };
    } catch (err) {
      const e = ctx.signal.aborted && !(err instanceof IssuerError) ? new IssuerError('Timeout', undefined, { cause: err }) : toIssuerError(err);
      if (e.code === 'Internal') this.d.logger?.error('issuing a key failed', { requestId: ctx.requestId, err: e.cause });
      audit.refused({ code: e.code, latencyMs: latency(), requestId: ctx.requestId, remoteAddress: ctx.remoteAddress, pod, message: e.message, reasons: e.refusals });
      // A pod that gets no key at all waits at its sidecar's startup probe; say why on the pod. Only
      // for the sidecar's own question (every access of the pod): a request naming accesses is a
      // caller's choice, answered in the response, and must not write to the cluster.
      if (pod && !request.accesses?.length && (e.code === 'NoGrant' || e.code === 'AccessNotReady')) audit.podEvent(pod, `KeyRefused${e.code}`, podRefusalMessage(pod, e));
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
}

/** What a user reads on the pod: why it has no key, in its own namespace's terms, and what to do. */
export function podRefusalMessage(pod: PodIdentity, e: IssuerError): string {
  const considered = e.refusals.filter((r) => r.reason !== 'NotRequested').slice(0, 5).map((r) => `${r.access.split('/').at(-1)}: ${r.reason}`);
  const why =
    e.code === 'NoGrant'
      ? considered.length === 0
        ? `no DatasetAccess in namespace ${pod.namespace} grants service account ${pod.serviceAccount}`
        : `no DatasetAccess in namespace ${pod.namespace} grants this pod (${considered.join('; ')})`
      : `the DatasetAccess objects naming this pod are not Ready (${considered.join('; ')})`;
  const fix = e.code === 'NoGrant' ? 'create a DatasetAccess whose subjects include it, or remove the valet.dev/inject label' : 'see the DatasetAccess conditions (kubectl describe datasetaccess)';
  return `valet sidecar holds no key: ${why}; ${fix}. The app containers start once a key is issued.`;
}

export function toIssuedKey(grant: Grant, key: MintedKey, nowMs: number): S3IssuedKey {
  const { access, store } = grant;
  const s3 = s3Source(store.spec);
  if (!s3) throw new IssuerError('Internal', undefined, { cause: new Error(`store ${storeId(store)} is not a complete s3 store`) });
  const out: S3IssuedKey = {
    access: access.metadata.name,
    bucket: s3.bucket,
    prefix: access.spec.prefix,
    verbs: [...access.spec.verbs],
    region: s3.region,
    credentials: { AccessKeyId: key.accessKeyId, SecretAccessKey: key.secretAccessKey, SessionToken: key.sessionToken, Expiration: rfc3339(key.expiration) },
    expiresInSeconds: Math.max(0, Math.floor((key.expiration.getTime() - nowMs) / 1000)),
  };
  if (s3.endpoint) out.endpoint = s3.endpoint;
  if (access.spec.presign?.enabled) {
    out.presign = { enabled: true, maxExpirySeconds: Math.min(access.spec.presign.maxExpirySeconds ?? out.expiresInSeconds, out.expiresInSeconds) };
  }
  return out;
}

/** The longest life of a URL signed for an azureBlob or gcs access: its presign maximum, never past its session. */
export function urlLifetimeCap(access: Grant['access']): number {
  const session = access.spec.sessionDurationSeconds ?? LIMITS.defaultSessionDurationSeconds;
  return Math.min(access.spec.presign?.maxExpirySeconds ?? session, session);
}

/** The grant of an azureBlob or gcs access, as the sidecar holds it. */
export function toSignedGrantKey(grant: Grant, nowMs: number): SignedGrantKey {
  const { access, store } = grant;
  const spec = store.spec;
  const session = access.spec.sessionDurationSeconds ?? LIMITS.defaultSessionDurationSeconds;
  const base = { access: access.metadata.name, prefix: access.spec.prefix, verbs: [...access.spec.verbs] };
  const presign = { enabled: true as const, maxExpirySeconds: urlLifetimeCap(access) };
  const expiration = rfc3339(new Date(nowMs + session * 1000));
  const target = providerOf(spec).target?.(spec);
  if (target) return { provider: spec.provider as SignedGrantKey['provider'], ...base, ...target, presign, expiresInSeconds: session, expiration };
  throw new IssuerError('Internal', undefined, { cause: new Error(`store ${storeId(store)} has provider ${spec.provider} without its fields`) });
}
