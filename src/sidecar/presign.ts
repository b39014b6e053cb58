// What a pod may presign, decided purely before anything is signed: the object key inside the
// grant (src/policy validateObjectKey: no '..', no leading '/', no encoded escape), the method
// allowed by the verbs (GET and HEAD need read, PUT needs write), presigning enabled for the
// access, and a lifetime capped by the access's maximum and by the signing key's own remaining
// life, so a URL never outlives its grant.
// The policy files themselves, not policy/index.ts: the sidecar needs three checks, not the
// session-policy and validation modules the barrel also loads (docs/performance.md §6).
import { CAPABILITIES } from '../providers/capabilities.ts';
import { checkPrefix, isInsidePrefix } from '../policy/prefix.ts';
import { validateObjectKey } from '../policy/key.ts';
import type { PresignMethod } from '../issuer/presign.ts';
import { MAX_PRESIGN_SECONDS } from '../issuer/presign.ts';
import type { HeldKey } from './keys.ts';

export interface SidecarError {
  status: number;
  code: string;
  message: string;
}

/** A SidecarError to throw: from deep in a handler up to the code that answers the request. */
export class SidecarFailure extends Error implements SidecarError {
  override name = 'SidecarFailure';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const METHOD_VERB: Record<PresignMethod, 'read' | 'write'> = { GET: 'read', HEAD: 'read', PUT: 'write' };

/**
 * Query parameters, decoded strictly: '+' stays '+', a malformed escape or a repeated parameter
 * is an error (two values for `key` must never let one be checked and the other signed).
 */
export function parseQuery(search: string): { ok: true; params: Map<string, string> } | { ok: false; error: SidecarError } {
  const params = new Map<string, string>();
  const raw = search.startsWith('?') ? search.slice(1) : search;
  if (raw === '') return { ok: true, params };
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(eq >= 0 ? part.slice(0, eq) : part);
      value = decodeURIComponent(eq >= 0 ? part.slice(eq + 1) : '');
    } catch {
      return { ok: false, error: { status: 400, code: 'BadQuery', message: 'the query string has a malformed percent escape' } };
    }
    if (params.has(name)) return { ok: false, error: { status: 400, code: 'BadQuery', message: `query parameter ${JSON.stringify(name.slice(0, 32))} is given more than once` } };
    params.set(name, value);
  }
  return { ok: true, params };
}

/** The lifetime a URL may have: requested (or the default), capped by the access and the key. */
export function capExpiry(key: HeldKey, remainingSeconds: number, requested: number | undefined, defaultSeconds: number): number {
  const caps = [remainingSeconds, MAX_PRESIGN_SECONDS];
  if (key.presign?.maxExpirySeconds !== undefined) caps.push(key.presign.maxExpirySeconds);
  return Math.floor(Math.min(requested ?? defaultSeconds, ...caps));
}

function parseExpires(v: string | undefined): { ok: true; value: number | undefined } | { ok: false; error: SidecarError } {
  if (v === undefined || v === '') return { ok: true, value: undefined };
  if (!/^\d{1,7}$/.test(v) || Number(v) < 1) return { ok: false, error: { status: 400, code: 'BadExpires', message: 'expires must be a whole number of seconds, at least 1' } };
  return { ok: true, value: Number(v) };
}

export type PresignPlan = { ok: true; objectKey: string; method: PresignMethod | 'DELETE'; expiresSeconds: number } | { ok: false; error: SidecarError };

function presignAllowed(key: HeldKey): SidecarError | undefined {
  if (!key.presign?.enabled) return { status: 403, code: 'PresignDisabled', message: `presigning is not enabled for access ${JSON.stringify(key.access)} (spec.presign.enabled)` };
  return undefined;
}

export function planPresign(key: HeldKey, params: ReadonlyMap<string, string>, remainingSeconds: number, defaultSeconds: number): PresignPlan {
  const disabled = presignAllowed(key);
  if (disabled) return { ok: false, error: disabled };
  const methodRaw = params.get('method') ?? 'GET';
  // DELETE URLs exist where the provider's capabilities say so (azureBlob: a SAS with d).
  const deletable = CAPABILITIES[key.provider].presignsDelete;
  if (methodRaw !== 'GET' && methodRaw !== 'PUT' && methodRaw !== 'HEAD' && !(deletable && methodRaw === 'DELETE')) {
    return { ok: false, error: { status: 400, code: 'BadMethod', message: deletable ? 'method must be GET, PUT, HEAD or DELETE' : 'method must be GET, PUT or HEAD' } };
  }
  const method = methodRaw;
  const verb = method === 'DELETE' ? 'delete' : METHOD_VERB[method];
  if (!key.verbs.includes(verb)) {
    return { ok: false, error: { status: 403, code: 'VerbNotGranted', message: `access ${JSON.stringify(key.access)} does not grant ${verb}, which ${method} needs` } };
  }
  const objectKey = params.get('key');
  if (objectKey === undefined) return { ok: false, error: { status: 400, code: 'KeyMissing', message: 'the query parameter key is required' } };
  const check = validateObjectKey(objectKey, key.prefix);
  if (!check.ok) {
    const outside = check.reason === 'KeyOutsidePrefix' || check.reason === 'KeyIsPrefix';
    return { ok: false, error: { status: outside ? 403 : 400, code: check.reason, message: check.message } };
  }
  const exp = parseExpires(params.get('expires'));
  if (!exp.ok) return exp;
  const expiresSeconds = capExpiry(key, remainingSeconds, exp.value, defaultSeconds);
  if (expiresSeconds < 1) return { ok: false, error: { status: 503, code: 'KeyExpiring', message: 'the signing key is about to expire; retry in a moment' } };
  return { ok: true, objectKey, method, expiresSeconds };
}

export type ManifestPlan = { ok: true; prefix: string; format: 'jsonl' | 'urls'; expiresSeconds: number } | { ok: false; error: SidecarError };

/** A manifest needs list and read, presigning enabled, and a sub-folder (if any) inside the grant. */
export function planManifest(key: HeldKey, params: ReadonlyMap<string, string>, remainingSeconds: number, defaultSeconds: number): ManifestPlan {
  const disabled = presignAllowed(key);
  if (disabled) return { ok: false, error: disabled };
  for (const verb of ['list', 'read'] as const) {
    if (!key.verbs.includes(verb)) return { ok: false, error: { status: 403, code: 'VerbNotGranted', message: `access ${JSON.stringify(key.access)} does not grant ${verb}, which a manifest needs` } };
  }
  const format = params.get('format') ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'urls') return { ok: false, error: { status: 400, code: 'BadFormat', message: 'format must be jsonl or urls' } };
  const prefix = params.get('prefix') ?? key.prefix;
  const p = checkPrefix(prefix, 'prefix');
  if (!p.ok) return { ok: false, error: { status: 400, code: p.reason, message: p.message } };
  if (!isInsidePrefix(prefix, key.prefix)) {
    return { ok: false, error: { status: 403, code: 'KeyOutsidePrefix', message: `prefix ${JSON.stringify(prefix.slice(0, 200))} is outside the granted prefix ${JSON.stringify(key.prefix)}` } };
  }
  const exp = parseExpires(params.get('expires'));
  if (!exp.ok) return exp;
  const expiresSeconds = capExpiry(key, remainingSeconds, exp.value, defaultSeconds);
  if (expiresSeconds < 1) return { ok: false, error: { status: 503, code: 'KeyExpiring', message: 'the signing key is about to expire; retry in a moment' } };
  return { ok: true, prefix, format, expiresSeconds };
}
