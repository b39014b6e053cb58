// What a DatasetAccess grants, rendered by its store's provider as compact, deterministic JSON
// (s3: the STS session policy; azureBlob and gcs: the scope the issuer signs URLs within, ADR 0006).
// The controller writes it to status.sessionPolicy; the issuer renders it again and mints only when
// the two agree (a stale status never signs). The checks every provider shares (prefix, verbs) are
// made here, once; the provider renders (src/providers, through the port in provider.ts).
import { PROVIDER_VERBS, VERBS } from '../api/v1alpha1/index.ts';
import type { DatasetAccessSpec, Provider, Verb } from '../api/v1alpha1/index.ts';
import { checkPrefix } from './prefix.ts';
import type { ProviderRegistry, Rendered, StoreSpecInput } from './provider.ts';
import { quote } from './result.ts';

export type GrantRenderResult = Rendered<unknown>;

export interface GrantStoreInput {
  spec: StoreSpecInput;
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

/** Renders the grant of `access` on `store` with the store's provider from `providers`. */
export function renderGrant(store: GrantStoreInput, access: GrantAccessInput, providers: ProviderRegistry): GrantRenderResult {
  const provider = providers[store.spec.provider];
  if (!provider) return { ok: false, reason: 'PolicyInvalid', message: `store spec.provider ${quote(String(store.spec.provider))} is not one of ${Object.keys(providers).join(', ')}` };
  const p = checkPrefix(access.spec.prefix);
  if (!p.ok) return p;
  const v = checkVerbs(provider.name, access.spec.verbs ?? []);
  if (!v.ok) return v;
  return provider.render(store.spec, { prefix: access.spec.prefix, verbs: v.verbs });
}
