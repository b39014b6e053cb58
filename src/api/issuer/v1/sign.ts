// POST /v1/sign and /v1/list: per-object URLs and listings for azureBlob and gcs accesses, whose
// signing keys never leave the issuer. Part of the issuer's wire contract.
import type { Provider } from '../../v1alpha1/index.ts';

export const SIGN_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE'] as const;
export type SignMethod = (typeof SIGN_METHODS)[number];
export const METHOD_VERBS: Readonly<Record<SignMethod, 'read' | 'write' | 'delete'>> = { GET: 'read', HEAD: 'read', PUT: 'write', DELETE: 'delete' };

/** Keys one POST /v1/sign may name. */
export const MAX_SIGN_KEYS = 1000;
/** GCS V4 and Azure both cap a URL at seven days; the access's own caps are far lower. */
export const MAX_SIGN_SECONDS = 604_800;

export interface SignRequest {
  access: string;
  method: SignMethod;
  keys: string[];
  expiresSeconds?: number;
}

export interface ListRequest {
  access: string;
  prefix?: string;
  continuationToken?: string;
  maxResults?: number;
}

export interface SignedUrl {
  key: string;
  url: string;
}

export interface SignResponse {
  access: string;
  provider: Exclude<Provider, 's3'>;
  method: SignMethod;
  expiresAt: string;
  expiresInSeconds: number;
  urls: SignedUrl[];
}

export interface ListResponse {
  access: string;
  prefix: string;
  objects: { key: string; size: number; lastModified: string; etag?: string }[];
  continuationToken?: string;
}
