// What a storage provider decides, as a port: src/providers/ holds one implementation per provider
// (s3, azureBlob, gcs) and the registry of them; policy and everything above take the registry
// instead of branching on spec.provider. Adding a provider: docs/providers.md.
import type { SignMethod } from '../api/issuer/v1/index.ts';
import type { AnyDatasetStore, Provider, StoreSpec, Verb } from '../api/v1alpha1/index.ts';
import type { RenderResult } from './session-policy.ts';

/** A store spec as far as rendering needs it (the controller, the issuer and `valet policy` pass partial ones). */
export type StoreSpecInput = Partial<StoreSpec> & Pick<StoreSpec, 'provider'>;

/** The checked part of a DatasetAccess a grant is rendered from. */
export interface GrantInput {
  prefix: string;
  /** Deduplicated, in canonical order, each one this provider can grant. */
  verbs: readonly Verb[];
}

/** A rendered grant: the compact JSON written to status.sessionPolicy, its size, and the document. */
export type Rendered<Doc> = Exclude<RenderResult, { ok: true }> | { ok: true; policy: string; packedSize: number; document: Doc };

/** A long-term signing key of a signed-URL store, from its Secret. A secret: never log it. */
export type SigningKey =
  | { kind: 'azureAccountKey'; accountKey: string }
  | { kind: 'gcsServiceAccount'; clientEmail: string; privateKeyPem: string }
  | { kind: 'gcsHmac'; accessId: string; secret: string };

/** A long-term key of the issuer's own for a store's STS, from the store's Secret. A secret: never log it. */
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The Secret a store names: where in the spec, which Secret, and which of its keys hold what. */
export interface SecretUse {
  /** Field path of the reference, e.g. spec.azureBlob.auth.secretRef (for messages). */
  field: string;
  name: string;
  /** The reference's own namespace (ClusterDatasetStore); a DatasetStore's is its own. */
  namespace?: string;
  /** Keys of the Secret this store reads; their values are secrets, never logged or echoed. */
  keys: string[];
}

/** Thrown by a signer handed a key it cannot sign with (another provider's kind): the store's problem, never the request's. */
export class UnusableKeyError extends Error {
  override name = 'UnusableKeyError';
}

/** One object a store lists. */
export interface ListedStoreObject {
  key: string;
  size: number;
  lastModified: string;
  etag?: string;
}

/** How a signedUrls provider signs (and lists) with a store's long-term key. Holds its imported keys. */
export interface UrlSigning {
  /**
   * One URL for `method` on `objectKey`, valid `expiresSeconds` from `now` (ms). Throws TypeError or
   * RangeError for a key the store would read differently; an Error when it cannot sign `method`.
   */
  sign(spec: StoreSpecInput, key: SigningKey, objectKey: string, method: SignMethod, now: number, expiresSeconds: number): Promise<string>;
  /** One page of objects under `prefix`, for providers whose pods list through the issuer. */
  list?(spec: StoreSpecInput, key: SigningKey, prefix: string, opts: { continuationToken?: string; maxResults: number; signal?: AbortSignal }): Promise<{ objects: ListedStoreObject[]; continuationToken?: string }>;
}

export interface StorageProvider<Doc = unknown> {
  readonly name: Provider;
  /**
   * How pods use it. `stsKeys`: the issuer mints scoped STS keys the SDKs use directly (s3).
   * `signedUrls`: the long-term key stays with the issuer, which signs per-object URLs (ADR 0006).
   */
  readonly delivery: 'stsKeys' | 'signedUrls';
  /**
   * What a grant becomes, written to status.sessionPolicy: the STS session policy (s3), the SAS
   * scope (azureBlob), the signed-URL scope (gcs). Prefix and verbs are checked before.
   */
  render(spec: StoreSpecInput, grant: GrantInput): Rendered<Doc>;
  /** Verbs it can grant. */
  readonly verbs: readonly Verb[];
  /** One line saying what the rendered grant is, for the PolicyRendered condition. */
  describe(packedSize: number): string;
  /** `valet policy`'s commented explanation of a rendered document: lines above and below its JSON. */
  explain(spec: StoreSpecInput, document: Doc, verbs: readonly Verb[], packedSize: number): { header: string; footer: string };
  /**
   * The Secret the store reads its long-term key from; `ambient` when it names none on purpose (s3's
   * defaultChain: the issuer's own credentials); undefined when it should name one and does not.
   */
  secret(store: AnyDatasetStore): SecretUse | 'ambient' | undefined;
  /**
   * signedUrls providers: the container or bucket and the URL origin the sidecar holds for a grant.
   * Undefined when the spec lacks the provider's block (the CRD requires it).
   */
  target?(spec: StoreSpecInput): { bucket: string; endpoint: string } | undefined;
  /**
   * signedUrls providers: the signing key from the Secret's values (keyed as `secret()` lists
   * them). Throws an Error whose message says what is wrong with which key, never a value.
   */
  signingKey?(store: AnyDatasetStore, values: Readonly<Record<string, string>>): SigningKey;
  /** signedUrls providers: a new signer (the issuer makes one per provider and keeps it). */
  createSigner?(): UrlSigning;
  /** stsKeys providers: the key the issuer calls STS with, from the Secret's values. */
  stsCredentials?(store: AnyDatasetStore, values: Readonly<Record<string, string>>): StaticCredentials;
}

/** The Secret reference `ref` of `store`, as a SecretUse (namespace only on cluster stores). */
export function secretUse(store: AnyDatasetStore, field: string, ref: { name: string; namespace?: string } | undefined, keys: string[]): SecretUse | undefined {
  if (!ref) return undefined;
  return { field, name: ref.name, ...(store.kind === 'ClusterDatasetStore' && ref.namespace !== undefined ? { namespace: ref.namespace } : {}), keys };
}

/** Every provider, by name: what policy, the controller, the issuer and the CLI are given. */
export type ProviderRegistry = Readonly<Record<Provider, StorageProvider>>;
