import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore } from '../api/v1alpha1/index.ts';
import { PROVIDER_REGISTRY, providerOf } from './index.ts';

const store = (spec: Record<string, unknown>, kind: 'DatasetStore' | 'ClusterDatasetStore' = 'DatasetStore') =>
  ({ apiVersion: 'valet.dev/v1alpha1', kind, metadata: { name: 's', namespace: 'team-a' }, spec: { allowedPrefixes: ['data/'], allowedVerbs: ['read'], maxSessionDurationSeconds: 3600, ...spec } }) as unknown as AnyDatasetStore;

describe('the provider registry', () => {
  it('holds one provider per API provider name, under its own name', () => {
    expect(Object.keys(PROVIDER_REGISTRY).sort()).toEqual([...PROVIDERS].sort());
    for (const p of PROVIDERS) expect(PROVIDER_REGISTRY[p].name).toBe(p);
    expect(providerOf({ provider: 's3' }).delivery).toBe('stsKeys');
    expect(providerOf({ provider: 'azureBlob' }).delivery).toBe('signedUrls');
    expect(providerOf({ provider: 'gcs' }).delivery).toBe('signedUrls');
  });

  it('says which Secret and keys each store reads, ambient for s3 defaultChain', () => {
    expect(PROVIDER_REGISTRY.s3.secret(store({ provider: 's3', auth: { mode: 'defaultChain' } }))).toBe('ambient');
    expect(PROVIDER_REGISTRY.s3.secret(store({ provider: 's3', auth: { mode: 'secret', secretRef: { name: 'k' } } }))).toEqual({ field: 'spec.auth.secretRef', name: 'k', keys: ['accessKeyId', 'secretAccessKey'] });
    expect(PROVIDER_REGISTRY.s3.secret(store({ provider: 's3', auth: { mode: 'secret' } }))).toBeUndefined();
    const az = store({ provider: 'azureBlob', azureBlob: { accountName: 'a', container: 'c', auth: { mode: 'accountKey', secretRef: { name: 'z', namespace: 'valet-system', accountKeyKey: 'k1' } } } }, 'ClusterDatasetStore');
    expect(PROVIDER_REGISTRY.azureBlob.secret(az)).toEqual({ field: 'spec.azureBlob.auth.secretRef', name: 'z', namespace: 'valet-system', keys: ['k1'] });
    const hmac = store({ provider: 'gcs', gcs: { bucket: 'b', auth: { mode: 'hmac', secretRef: { name: 'g' } } } });
    expect(PROVIDER_REGISTRY.gcs.secret(hmac)).toEqual({ field: 'spec.gcs.auth.secretRef', name: 'g', keys: ['accessId', 'secret'] });
  });

  it('turns Secret values into a signing key, or says which key is wrong without its value', () => {
    const az = store({ provider: 'azureBlob', azureBlob: { accountName: 'a', container: 'c', auth: { mode: 'accountKey', secretRef: { name: 'z' } } } });
    expect(PROVIDER_REGISTRY.azureBlob.signingKey?.(az, { accountKey: 'AAAA' })).toEqual({ kind: 'azureAccountKey', accountKey: 'AAAA' });
    expect(() => PROVIDER_REGISTRY.azureBlob.signingKey?.(az, { accountKey: 'not base64!' })).toThrow(/key "accountKey" is not a base64 account key/);
    expect(() => PROVIDER_REGISTRY.azureBlob.signingKey?.(az, { accountKey: 'not base64!' })).not.toThrow(/not base64!/);
    const sa = store({ provider: 'gcs', gcs: { bucket: 'b', auth: { mode: 'serviceAccountKey', secretRef: { name: 'g' } } } });
    expect(() => PROVIDER_REGISTRY.gcs.signingKey?.(sa, { 'key.json': '{"client_email":"x"}' })).toThrow(/lacks client_email or private_key/);
    // The one check of an HMAC key (the issuer does not check it again): both halves present.
    const hmac = store({ provider: 'gcs', gcs: { bucket: 'b', auth: { mode: 'hmac', secretRef: { name: 'g' } } } });
    expect(PROVIDER_REGISTRY.gcs.signingKey?.(hmac, { accessId: 'GOOG1E', secret: 's' })).toEqual({ kind: 'gcsHmac', accessId: 'GOOG1E', secret: 's' });
    expect(() => PROVIDER_REGISTRY.gcs.signingKey?.(hmac, { accessId: 'GOOG1E', secret: '' })).toThrow('an HMAC key lacks an access id or secret (key "secret" is empty)');
    expect(() => PROVIDER_REGISTRY.gcs.signingKey?.(hmac, { secret: 's' })).toThrow('an HMAC key lacks an access id or secret (key "accessId" is empty)');
    expect(PROVIDER_REGISTRY.s3.signingKey).toBeUndefined();
  });

  it('gives a signed-URL grant its container or bucket and URL origin', () => {
    expect(PROVIDER_REGISTRY.azureBlob.target?.({ provider: 'azureBlob', azureBlob: { accountName: 'acct', container: 'c', auth: { mode: 'accountKey', secretRef: { name: 'z' } } } })).toEqual({ bucket: 'c', endpoint: 'https://acct.blob.core.windows.net' });
    expect(PROVIDER_REGISTRY.gcs.target?.({ provider: 'gcs', gcs: { bucket: 'b', endpoint: 'http://127.0.0.1:4443/', auth: { mode: 'hmac', secretRef: { name: 'g' } } } })).toEqual({ bucket: 'b', endpoint: 'http://127.0.0.1:4443' });
  });
});
