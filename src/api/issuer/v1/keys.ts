// POST /v1/keys: what a pod's sidecar sends (its projected token as Bearer, an optional body) and
// what it gets back, one key per granted DatasetAccess. Part of the issuer's wire contract.
import type { Verb } from '../../v1alpha1/index.ts';

/** The optional body: DatasetAccess names of the pod's namespace; none means every grant. */
export interface KeysRequest {
  accesses?: string[];
}

/** Accesses one request may name. */
export const MAX_REQUESTED_ACCESSES = 64;

/** An s3 key: the container-credentials shape the AWS SDKs read, plus what the key is for. */
export interface S3IssuedKey {
  /** Absent (older issuers) or s3. */
  provider?: 's3';
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

/**
 * An azureBlob or gcs grant: no credentials (the issuer keeps the signing key and signs each URL
 * through POST /v1/sign), only what the grant is and how long it holds before the sidecar asks
 * again (a revoked access then stops being served within one refresh, as for s3).
 */
export interface SignedGrantKey {
  provider: 'azureBlob' | 'gcs';
  access: string;
  /** The container (azureBlob) or bucket (gcs). */
  bucket: string;
  prefix: string;
  verbs: Verb[];
  /** The blob service URL (azureBlob) or signed-URL origin (gcs). */
  endpoint: string;
  /** Always enabled: per-object URLs are how these providers are used. */
  presign: { enabled: true; maxExpirySeconds: number };
  /** Seconds until the grant should be checked again (the access's sessionDurationSeconds). */
  expiresInSeconds: number;
  /** When the grant lapses, RFC 3339. */
  expiration: string;
}

export type IssuedKey = S3IssuedKey | SignedGrantKey;

export interface KeysResponse {
  keys: IssuedKey[];
}
