// s3 (AWS and S3-compatible stores): the issuer mints STS keys whose session policy is the grant.
import { CAPABILITIES } from '../capabilities.ts';
import { LIMITS, PROVIDER_VERBS } from '../../api/v1alpha1/index.ts';
import type { AnyDatasetStore, S3Source, StoreSpec } from '../../api/v1alpha1/index.ts';
import { renderSessionPolicy } from '../../policy/index.ts';
import type { SessionPolicy, StorageProvider, StoreSpecInput } from '../../policy/index.ts';
import { secretUse } from '../../policy/index.ts';

/** A store's S3 fields, when it is an s3 store with all of them (the CRD requires them then). */
export function s3Source(spec: Pick<StoreSpec, 'provider' | 'bucket' | 'region' | 'roleArn' | 'auth'> & Partial<StoreSpec>): S3Source | undefined {
  if (spec.provider !== 's3' || !spec.bucket || !spec.region || !spec.roleArn) return undefined;
  return { ...spec, bucket: spec.bucket, region: spec.region, roleArn: spec.roleArn, auth: spec.auth ?? { mode: 'defaultChain' } } as S3Source;
}

function stsKeyNames(store: AnyDatasetStore): [string, string] {
  const ref = store.spec.auth?.mode === 'secret' ? store.spec.auth.secretRef : undefined;
  return [ref?.accessKeyIdKey ?? 'accessKeyId', ref?.secretAccessKeyKey ?? 'secretAccessKey'];
}

export const s3Provider: StorageProvider<SessionPolicy> = {
  name: 's3',
  delivery: CAPABILITIES.s3.delivery,
  verbs: PROVIDER_VERBS.s3,
  render(spec: StoreSpecInput, grant) {
    if (!spec.bucket || !spec.roleArn) return { ok: false, reason: 'PolicyInvalid', message: 'store spec.bucket and spec.roleArn are required for provider s3' };
    return renderSessionPolicy({ spec: { bucket: spec.bucket, roleArn: spec.roleArn } }, { spec: { prefix: grant.prefix, verbs: [...grant.verbs] } });
  },
  describe: (packedSize) => `session policy is ${packedSize} of ${LIMITS.maxSessionPolicyChars} characters`,
  explain: (_spec, _doc, _verbs, packedSize) => ({ header: '', footer: `# packed size: ${packedSize} of ${LIMITS.maxSessionPolicyChars} characters\n` }),
  secret(store: AnyDatasetStore) {
    const auth = store.spec.auth;
    if (auth?.mode === 'defaultChain') return 'ambient';
    if (auth?.mode !== 'secret') return undefined;
    return secretUse(store, 'spec.auth.secretRef', auth.secretRef, stsKeyNames(store));
  },
  stsCredentials(store, values) {
    const [idKey, secretKey] = stsKeyNames(store);
    return { accessKeyId: values[idKey] ?? '', secretAccessKey: values[secretKey] ?? '' };
  },
};
