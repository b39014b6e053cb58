// What a DatasetAccess grants, rendered per provider as compact, deterministic JSON. For s3 it is
// the STS session policy (session-policy.ts). For azureBlob and gcs there is no policy language on
// the storage side: the issuer signs per-object URLs itself (ADR 0006), and this document is the
// scope it signs within: the container or bucket, the folder, and the SAS permissions or HTTP
// methods each verb allows. The controller writes it to status.sessionPolicy; the issuer renders
// it again and mints only when the two agree (a stale status never signs).
import { LIMITS, PROVIDER_VERBS, VERBS } from '../api/v1alpha1/index.ts';
import type { AzureBlobSource, DatasetAccessSpec, GcsSource, Provider, S3Source, StoreSpec, Verb } from '../api/v1alpha1/index.ts';
import { checkPrefix } from './prefix.ts';
import { quote } from './result.ts';
import { renderSessionPolicy } from './session-policy.ts';
import type { RenderResult, SessionPolicy } from './session-policy.ts';

/** SAS permission letters per verb for a per-blob SAS (sr=b). list is served by the issuer, not by a SAS. */
export const AZURE_SAS_PERMISSIONS: Readonly<Record<Verb, string>> = { read: 'r', list: '', write: 'cw', delete: 'd' };

/** HTTP methods per verb for a GCS V4 signed URL. */
export const GCS_METHODS: Readonly<Record<Verb, readonly ('GET' | 'HEAD' | 'PUT')[]>> = { read: ['GET', 'HEAD'], list: [], write: ['PUT'], delete: [] };

/** Canonical order of SAS permission letters (the order the Azure SDKs write them). */
const SAS_ORDER = 'racwdxyltmeopi';

/** The letters of `verbs`, deduplicated, in canonical SAS order. */
export function sasPermissions(verbs: readonly Verb[]): string {
  const letters = new Set(verbs.flatMap((v) => [...AZURE_SAS_PERMISSIONS[v]]));
  return [...SAS_ORDER].filter((c) => letters.has(c)).join('');
}

export interface AzureBlobScope {
  provider: 'azureBlob';
  /** Per-blob service SAS (sr=b): each URL opens one blob. */
  resource: 'blob';
  account: string;
  container: string;
  prefix: string;
  /** Every letter any URL may carry; one URL carries only its verb's letters. */
  permissions: string;
  /** Whether the issuer lists inside the prefix for the pod. */
  list: boolean;
  protocol: 'https' | 'https,http';
}

export interface GcsScope {
  provider: 'gcs';
  bucket: string;
  prefix: string;
  methods: ('GET' | 'HEAD' | 'PUT')[];
  algorithm: 'GOOG4-RSA-SHA256' | 'GOOG4-HMAC-SHA256';
  host: string;
}

/** A store's S3 fields, when it is an s3 store with all of them (the CRD requires them then). */
export function s3Source(spec: Pick<StoreSpec, 'provider' | 'bucket' | 'region' | 'roleArn' | 'auth'> & Partial<StoreSpec>): S3Source | undefined {
  if (spec.provider !== 's3' || !spec.bucket || !spec.region || !spec.roleArn) return undefined;
  return { ...spec, bucket: spec.bucket, region: spec.region, roleArn: spec.roleArn, auth: spec.auth ?? { mode: 'defaultChain' } } as S3Source;
}

/** The blob service URL of an Azure store: its endpoint, or the public one of its account. */
export function azureServiceUrl(source: Pick<AzureBlobSource, 'accountName' | 'endpoint'>): string {
  return (source.endpoint ?? `https://${source.accountName}.blob.core.windows.net`).replace(/\/+$/, '');
}

/** Scheme, host and port of a GCS store's signed URLs. */
export function gcsOrigin(source: Pick<GcsSource, 'endpoint'>): string {
  return (source.endpoint ?? 'https://storage.googleapis.com').replace(/\/+$/, '');
}

export type GrantRenderResult = Exclude<RenderResult, { ok: true }> | { ok: true; policy: string; packedSize: number; document: SessionPolicy | AzureBlobScope | GcsScope };

export interface GrantStoreInput {
  spec: Partial<StoreSpec> & Pick<StoreSpec, 'provider'>;
}
export interface GrantAccessInput {
  spec: Pick<DatasetAccessSpec, 'prefix' | 'verbs'>;
}

function checkVerbs(provider: Provider, requested: readonly string[]): { ok: true; verbs: Verb[] } | { ok: false; reason: 'PolicyInvalid'; message: string } {
  const set = new Set(requested);
  const unknown = [...set].filter((v) => !(VERBS as readonly string[]).includes(v));
  if (unknown.length > 0) return { ok: false, reason: 'PolicyInvalid', message: `spec.verbs contains unknown verb ${quote(unknown[0] ?? '')}; known are ${VERBS.join(', ')}` };
  const verbs = VERBS.filter((v) => set.has(v));
  if (verbs.length === 0) return { ok: false, reason: 'PolicyInvalid', message: 'spec.verbs must name at least one verb' };
  const unsupported = verbs.filter((v) => !PROVIDER_VERBS[provider].includes(v));
  if (unsupported.length > 0) {
    return { ok: false, reason: 'PolicyInvalid', message: `provider ${provider} cannot grant spec.verbs [${unsupported.join(', ')}]; it grants ${PROVIDER_VERBS[provider].join(', ')}` };
  }
  return { ok: true, verbs };
}

/**
 * Renders the grant of `access` on `store` for the store's provider. s3: the STS session policy.
 * azureBlob and gcs: the signing scope as JSON (AzureBlobScope, GcsScope), with a fixed key order.
 */
export function renderGrant(store: GrantStoreInput, access: GrantAccessInput): GrantRenderResult {
  const spec = store.spec;
  if (spec.provider === 's3') {
    if (!spec.bucket || !spec.roleArn) return { ok: false, reason: 'PolicyInvalid', message: 'store spec.bucket and spec.roleArn are required for provider s3' };
    return renderSessionPolicy({ spec: { bucket: spec.bucket, roleArn: spec.roleArn } }, access);
  }
  const p = checkPrefix(access.spec.prefix);
  if (!p.ok) return p;
  const v = checkVerbs(spec.provider, access.spec.verbs ?? []);
  if (!v.ok) return v;
  let doc: AzureBlobScope | GcsScope;
  if (spec.provider === 'azureBlob') {
    const az = spec.azureBlob;
    if (!az) return { ok: false, reason: 'PolicyInvalid', message: 'store spec.azureBlob is required for provider azureBlob' };
    doc = {
      provider: 'azureBlob',
      resource: 'blob',
      account: az.accountName,
      container: az.container,
      prefix: access.spec.prefix,
      permissions: sasPermissions(v.verbs),
      list: v.verbs.includes('list'),
      protocol: azureServiceUrl(az).startsWith('https://') ? 'https' : 'https,http',
    };
  } else {
    const gcs = spec.gcs;
    if (!gcs) return { ok: false, reason: 'PolicyInvalid', message: 'store spec.gcs is required for provider gcs' };
    doc = {
      provider: 'gcs',
      bucket: gcs.bucket,
      prefix: access.spec.prefix,
      methods: [...new Set(v.verbs.flatMap((x) => GCS_METHODS[x]))],
      algorithm: gcs.auth.mode === 'hmac' ? 'GOOG4-HMAC-SHA256' : 'GOOG4-RSA-SHA256',
      host: new URL(gcsOrigin(gcs)).host,
    };
  }
  const policy = JSON.stringify(doc);
  // The scope is not sent anywhere with a size limit; the bound only keeps status small.
  if (policy.length > LIMITS.maxSessionPolicyChars) {
    return { ok: false, reason: 'PolicyTooLarge', packedSize: policy.length, message: `the rendered scope is ${policy.length} characters; at most ${LIMITS.maxSessionPolicyChars}. Use a shorter prefix` };
  }
  return { ok: true, policy, packedSize: policy.length, document: doc };
}

/** One line saying what the rendered grant is, for the PolicyRendered condition. */
export function describeGrant(provider: Provider, packedSize: number): string {
  if (provider === 's3') return `session policy is ${packedSize} of ${LIMITS.maxSessionPolicyChars} characters`;
  if (provider === 'azureBlob') return 'per-blob SAS scope rendered (the issuer signs each URL; see status.sessionPolicy)';
  return 'V4 signed-URL scope rendered (the issuer signs each URL; see status.sessionPolicy)';
}
