// Every storage provider Valet knows, one module each, behind the StorageProvider port
// (src/policy/provider.ts). Nothing outside this folder branches on spec.provider: it looks the
// provider up here. Adding one: docs/providers.md.
import type { Provider } from '../api/v1alpha1/index.ts';
import type { ProviderRegistry, StorageProvider } from '../policy/index.ts';
import { azureBlobProvider } from './azure-blob/index.ts';
import { gcsProvider } from './gcs/index.ts';
import { s3Provider } from './s3/index.ts';

export const PROVIDER_REGISTRY: ProviderRegistry = { s3: s3Provider, azureBlob: azureBlobProvider, gcs: gcsProvider };

/** The provider of a store spec. */
export function providerOf(spec: { provider: Provider }): StorageProvider {
  return PROVIDER_REGISTRY[spec.provider];
}

export { AZURE_SAS_PERMISSIONS, azureServiceUrl, isAccountKey, sasPermissions } from './azure-blob/index.ts';
export type { AzureBlobScope } from './azure-blob/index.ts';
export { GCS_METHODS, gcsOrigin } from './gcs/index.ts';
export type { GcsScope } from './gcs/index.ts';
export { s3Source } from './s3/index.ts';
export { CAPABILITIES, capabilitiesOf } from './capabilities.ts';
export type { ProviderCapabilities, SidecarRoute } from './capabilities.ts';
