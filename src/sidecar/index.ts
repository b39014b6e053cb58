// The sidecar: fetches keys from the issuer, serves them on loopback in the container-credentials
// format, refreshes them before expiry, presigns URLs and writes manifests. Never talks to
// Kubernetes (only to the issuer, with the pod's projected token).
export { startSidecar } from './sidecar.ts';
export type { Sidecar, SidecarDeps } from './sidecar.ts';
export { KeyCache } from './keys.ts';
export type { HeldKey, KeyCacheDeps, KeyCacheSettings, Lookup } from './keys.ts';
export { createIssuerClient, nodeTransport, parseKeysBody } from './issuer-client.ts';
export type { FetchResult, KeySource, Transport, WireKey } from './issuer-client.ts';
export { writeAuthTokenFile } from './auth.ts';
