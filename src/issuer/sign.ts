// POST /v1/sign and POST /v1/list, without HTTP: the issuer's side of the azureBlob and gcs
// providers (ADR 0006). Neither Azure SAS nor GCS signed URLs can be narrowed to a folder by a
// token the pod could sign with itself (Azure's directory SAS needs a hierarchical-namespace
// account; GCS has no scoped signing key), so the issuer keeps the long-term key and signs each
// object URL for the pod: authenticate the token, authorize the one access named, check every key
// is inside the access's folder, then sign. One refused key refuses the whole request: nothing is
// half signed. Listing (azureBlob) is done by the issuer with the account key, inside the folder
// only, so a pod never holds a container-wide list permission.
import { MAX_SIGN_KEYS, MAX_SIGN_SECONDS, METHOD_VERBS, SIGN_METHODS } from '../api/issuer/v1/index.ts';
import type { ListRequest, ListResponse, SignMethod, SignRequest, SignResponse } from '../api/issuer/v1/index.ts';
import { PATTERNS } from '../api/v1alpha1/index.ts';
import type { Provider } from '../api/v1alpha1/index.ts';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { rfc3339 } from '../platform/time.ts';
import { checkPrefix, isInsidePrefix, UnusableKeyError, validateObjectKey } from '../policy/index.ts';
import { providerOf } from '../providers/index.ts';
import type { Auditor } from './audit.ts';
import { authorize } from './authorize.ts';
import type { Grant } from './authorize.ts';
import { IssuerError, toIssuerError } from './errors.ts';
import type { RequestContext } from './issue.ts';
import { urlLifetimeCap } from './issue.ts';
import { storeId } from './minter.ts';
import type { Authenticator, GrantSource, PodIdentity } from './ports.ts';
import type { SigningKey, UrlSigning } from '../policy/index.ts';


/** How many object keys, and how many characters of each, one audit line of /v1/sign carries. */
const AUDIT_MAX_KEYS = 32;
const AUDIT_MAX_KEY_CHARS = 256;

const NAME = new RegExp(PATTERNS.dnsSubdomain);
const bad = (message: string) => new IssuerError('BadRequest', message);

function object(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the request body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw bad(`unknown field ${JSON.stringify(unknown[0]?.slice(0, 64))}; the body may contain ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  return body as Record<string, unknown>;
}

function accessName(v: unknown): string {
  if (typeof v !== 'string' || v.length > 253 || !NAME.test(v)) throw bad('"access" must be the name of a DatasetAccess in the pod\'s namespace');
  return v;
}

export function parseSignRequest(body: unknown): SignRequest {
  const o = object(body, ['access', 'method', 'keys', 'expiresSeconds']);
  const access = accessName(o.access);
  if (typeof o.method !== 'string' || !(SIGN_METHODS as readonly string[]).includes(o.method)) throw bad(`"method" must be one of ${SIGN_METHODS.join(', ')}`);
  if (!Array.isArray(o.keys) || o.keys.length === 0 || o.keys.length > MAX_SIGN_KEYS) throw bad(`"keys" must be a list of 1 to ${MAX_SIGN_KEYS} object keys`);
  for (const k of o.keys) if (typeof k !== 'string') throw bad('"keys" must hold strings');
  const out: SignRequest = { access, method: o.method as SignMethod, keys: o.keys as string[] };
  if (o.expiresSeconds !== undefined) {
    if (typeof o.expiresSeconds !== 'number' || !Number.isInteger(o.expiresSeconds) || o.expiresSeconds < 1 || o.expiresSeconds > MAX_SIGN_SECONDS) {
      throw bad(`"expiresSeconds" must be a whole number from 1 to ${MAX_SIGN_SECONDS}`);
    }
    out.expiresSeconds = o.expiresSeconds;
  }
  return out;
}

export function parseListRequest(body: unknown): ListRequest {
  const o = object(body, ['access', 'prefix', 'continuationToken', 'maxResults']);
  const out: ListRequest = { access: accessName(o.access) };
  if (o.prefix !== undefined) {
    if (typeof o.prefix !== 'string') throw bad('"prefix" must be a string');
    out.prefix = o.prefix;
  }
  if (o.continuationToken !== undefined) {
    if (typeof o.continuationToken !== 'string' || o.continuationToken.length === 0 || o.continuationToken.length > 2048) throw bad('"continuationToken" must be the string a previous page returned');
    out.continuationToken = o.continuationToken;
  }
  if (o.maxResults !== undefined) {
    if (typeof o.maxResults !== 'number' || !Number.isInteger(o.maxResults) || o.maxResults < 1 || o.maxResults > 5000) throw bad('"maxResults" must be a whole number from 1 to 5000');
    out.maxResults = o.maxResults;
  }
  return out;
}

/** Why `key` cannot sign, or undefined. Says what is wrong, never what the key is. */
export interface UrlSignerDeps {
  authenticator: Authenticator;
  grants: GrantSource;
  audit: Auditor;
  clock: Clock;
  logger?: Logger;
  metrics?: IssuerMetrics;
}

export class UrlSigner {
  private readonly d: UrlSignerDeps;
  /** One signer per provider, made on first use: keys imported once per store key, not per URL (bench/provider-signing.bench.ts). */
  private readonly signers = new Map<Provider, UrlSigning>();

  constructor(deps: UrlSignerDeps) {
    this.d = deps;
  }

  async sign(bearer: string, req: SignRequest, ctx: RequestContext): Promise<SignResponse> {
    return this.audited(bearer, ctx, 'sign', req.access, async (pod, grant, provider) => {
      const verb = METHOD_VERBS[req.method];
      if (!grant.access.spec.verbs.includes(verb)) {
        throw new IssuerError('VerbNotGranted', `access ${JSON.stringify(req.access)} does not grant ${verb}, which ${req.method} needs`);
      }
      const prefix = grant.access.spec.prefix;
      for (const [i, key] of req.keys.entries()) {
        const check = validateObjectKey(key, prefix);
        if (!check.ok) throw new IssuerError('ObjectOutsideGrant', `keys[${i}]: ${check.message}`);
      }
      const cap = urlLifetimeCap(grant.access);
      const expiresSeconds = Math.min(req.expiresSeconds ?? cap, cap);
      const key = await this.signingKey(grant);
      const now = this.d.clock.now();
      // All or nothing: a key the signer refuses (a name Azure or GCS would read differently) fails the batch.
      const urls = await Promise.all(
        req.keys.map(async (k, i) => {
          try {
            return { key: k, url: await this.signOne(grant, key, k, req.method, now, expiresSeconds) };
          } catch (err) {
            if (err instanceof TypeError || err instanceof RangeError) throw new IssuerError('BadRequest', `keys[${i}]: ${err.message}`);
            throw err;
          }
        }),
      );
      const id = storeId(grant.store);
      this.d.metrics?.urlsSigned.inc({ provider, store: id, method: req.method }, urls.length);
      // The audit line names the objects (not secrets; never a URL or signature), bounded: the first
      // AUDIT_MAX_KEYS keys, each cut to AUDIT_MAX_KEY_CHARS and JSON-escaped by the logger.
      const objectKeys = urls.slice(0, AUDIT_MAX_KEYS).map((u) => (u.key.length > AUDIT_MAX_KEY_CHARS ? `${u.key.slice(0, AUDIT_MAX_KEY_CHARS)}…` : u.key));
      this.d.logger?.info('urls signed', { requestId: ctx.requestId, namespace: pod.namespace, pod: pod.podName, datasetAccess: req.access, store: id, provider, method: req.method, count: urls.length, objectKeys, ...(urls.length > AUDIT_MAX_KEYS ? { objectKeysOmitted: urls.length - AUDIT_MAX_KEYS } : {}), expiresInSeconds: expiresSeconds });
      return { access: req.access, provider: provider as SignResponse['provider'], method: req.method, expiresAt: rfc3339(new Date(now + expiresSeconds * 1000)), expiresInSeconds: expiresSeconds, urls };
    });
  }

  async list(bearer: string, req: ListRequest, ctx: RequestContext): Promise<ListResponse> {
    return this.audited(bearer, ctx, 'list', req.access, async (_pod, grant, provider) => {
      const spec = grant.store.spec;
      const lister = this.signer(provider).list;
      if (!lister) throw new IssuerError('WrongProvider', `access ${JSON.stringify(req.access)} is on a ${provider} store, which has no listing through the issuer`);
      if (!grant.access.spec.verbs.includes('list')) throw new IssuerError('VerbNotGranted', `access ${JSON.stringify(req.access)} does not grant list`);
      const granted = grant.access.spec.prefix;
      const prefix = req.prefix ?? granted;
      const p = checkPrefix(prefix, 'prefix');
      if (!p.ok) throw new IssuerError('ObjectOutsideGrant', p.message);
      if (!isInsidePrefix(prefix, granted)) throw new IssuerError('ObjectOutsideGrant', `prefix ${JSON.stringify(prefix.slice(0, 200))} is outside the granted prefix ${JSON.stringify(granted)}`);
      const key = await this.signingKey(grant);
      let page: Awaited<ReturnType<typeof lister>>;
      try {
        page = await lister(spec, key, prefix, { ...(req.continuationToken ? { continuationToken: req.continuationToken } : {}), maxResults: req.maxResults ?? 1000, signal: ctx.signal });
      } catch (err) {
        if (err instanceof UnusableKeyError) throw new IssuerError('StoreCredentialsUnavailable', undefined, { cause: err });
        if (ctx.signal.aborted) throw new IssuerError('Timeout', undefined, { cause: err });
        this.d.logger?.warn('listing a store failed', { store: storeId(grant.store), provider, error: (err as Error).name, status: (err as { statusCode?: number }).statusCode });
        throw new IssuerError('StoreListFailed', `listing ${JSON.stringify(prefix)} in store ${storeId(grant.store)} failed`, { cause: err });
      }
      // Defence in depth: the service was asked for the prefix; never pass on a name outside it.
      const objects = page.objects.filter((o) => o.key.startsWith(granted));
      return { access: req.access, prefix, objects, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) };
    });
  }

  private async signOne(grant: Grant, key: SigningKey, objectKey: string, method: SignMethod, now: number, expiresSeconds: number): Promise<string> {
    const spec = grant.store.spec;
    try {
      return await this.signer(spec.provider).sign(spec, key, objectKey, method, now, expiresSeconds);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw err;
      throw new IssuerError('StoreCredentialsUnavailable', `store ${storeId(grant.store)} has no signing key for ${spec.provider} ${method}`, { cause: err });
    }
  }

  /** The provider's signer, made once. */
  private signer(provider: Provider): UrlSigning {
    let s = this.signers.get(provider);
    if (!s) {
      const make = providerOf({ provider }).createSigner;
      if (!make) throw new IssuerError('WrongProvider', `a ${provider} store signs no URLs through the issuer`);
      s = make();
      this.signers.set(provider, s);
    }
    return s;
  }

  /**
   * The store's key. The grant source's provider checked it usable (a key that cannot sign is the
   * store's problem, 503, never the request's), so it is not checked again here; any failure to
   * get it is StoreCredentialsUnavailable.
   */
  private async signingKey(grant: Grant): Promise<SigningKey> {
    try {
      return await this.d.grants.signingKey(grant.store);
    } catch (err) {
      const e = toIssuerError(err);
      throw e.code === 'Internal' ? new IssuerError('StoreCredentialsUnavailable', undefined, { cause: err }) : e;
    }
  }

  /** Authenticates, authorizes the one access (an azureBlob or gcs one), runs `fn`, and audits a refusal. */
  private async audited<T>(bearer: string, ctx: RequestContext, route: 'sign' | 'list', access: string, fn: (pod: PodIdentity, grant: Grant, provider: Provider) => Promise<T>): Promise<T> {
    let pod: PodIdentity | undefined;
    try {
      pod = await (ctx.authenticated ?? this.d.authenticator.authenticate(bearer, ctx.signal));
      const p = pod;
      const auth = authorize(p, this.d.grants.accesses(p.namespace), (a) => this.d.grants.store(a), [access], (ns) => this.d.grants.namespaceLabels(ns), { valetNamespace: this.d.grants.valetNamespace, overlappingClaims: (store, prefix, ns) => this.d.grants.overlappingClaims(store, prefix, ns) });
      if (!auth.ok) throw auth.error;
      const grant = auth.grants.find((g) => g.access.metadata.name === access);
      if (!grant) throw new IssuerError('NoGrant');
      const provider = grant.store.spec.provider;
      if (providerOf(grant.store.spec).delivery !== 'signedUrls') throw new IssuerError('WrongProvider', `access ${JSON.stringify(access)} is on an ${provider} store: its pods use the STS keys of POST /v1/keys`);
      return await fn(p, grant, provider);
    } catch (err) {
      const e = ctx.signal.aborted && !(err instanceof IssuerError) ? new IssuerError('Timeout', undefined, { cause: err }) : toIssuerError(err);
      if (e.code === 'Internal') this.d.logger?.error(`POST /v1/${route} failed`, { requestId: ctx.requestId, err: e.cause });
      this.d.audit.refused({ code: e.code, latencyMs: this.d.clock.monotonic() - ctx.started, requestId: ctx.requestId, remoteAddress: ctx.remoteAddress, pod, message: e.message, reasons: e.refusals });
      throw e;
    }
  }
}
