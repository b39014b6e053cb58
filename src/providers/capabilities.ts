// What each provider offers the sidecar, as plain data: how its pods get keys and which loopback
// routes serve its accesses. Kept apart from the provider modules (which bring signing code and
// SDKs) so the sidecar, in every pod, loads only this table.
import type { Provider } from '../api/v1alpha1/index.ts';

/** The sidecar's per-access routes (under /v1/<route>/<access>). */
export type SidecarRoute = 'credentials' | 'presign' | 'sas' | 'list' | 'manifest';

export interface ProviderCapabilities {
  /**
   * `stsKeys`: the issuer mints scoped STS keys the SDKs use directly (and the sidecar presigns
   * with them). `signedUrls`: the long-term key stays with the issuer, which signs each URL (ADR 0006).
   */
  readonly delivery: 'stsKeys' | 'signedUrls';
  /** The routes that serve an access on this provider; any other answers 409 WrongProvider. */
  readonly sidecarRoutes: readonly SidecarRoute[];
  /** Whether /v1/presign hands out DELETE URLs (the verb must be granted too). */
  readonly presignsDelete: boolean;
}

export const CAPABILITIES: Readonly<Record<Provider, ProviderCapabilities>> = {
  // S3 presigning in the sidecar serves GET, PUT and HEAD; a delete goes through the SDK's keys.
  s3: { delivery: 'stsKeys', sidecarRoutes: ['credentials', 'presign', 'manifest'], presignsDelete: false },
  azureBlob: { delivery: 'signedUrls', sidecarRoutes: ['presign', 'sas', 'list', 'manifest'], presignsDelete: true },
  gcs: { delivery: 'signedUrls', sidecarRoutes: ['presign', 'manifest'], presignsDelete: false },
};

/** The capabilities of `provider` (absent on keys from older issuers: s3), or undefined for one this build does not know. */
export function capabilitiesOf(provider: string | undefined): ProviderCapabilities | undefined {
  const p = provider ?? 's3';
  return Object.hasOwn(CAPABILITIES, p) ? CAPABILITIES[p as Provider] : undefined;
}
