// gcs: the service-account or HMAC key stays with the issuer, which signs one V4 URL per object
// inside the granted folder (ADR 0006). No listing.
import { CAPABILITIES } from '../capabilities.ts';
import { createPrivateKey } from 'node:crypto';
import { PROVIDER_VERBS } from '../../api/v1alpha1/index.ts';
import type { AnyDatasetStore, GcsSource, Verb } from '../../api/v1alpha1/index.ts';
import { secretUse, UnusableKeyError } from '../../policy/index.ts';
import type { SigningKey, StorageProvider, StoreSpecInput } from '../../policy/index.ts';
import { packScope, scopeFooter, table } from '../scope.ts';
import { createGcsSigner } from './sign.ts';

/** HTTP methods per verb for a GCS V4 signed URL. */
export const GCS_METHODS: Readonly<Record<Verb, readonly ('GET' | 'HEAD' | 'PUT')[]>> = { read: ['GET', 'HEAD'], list: [], write: ['PUT'], delete: [] };

/** Scheme, host and port of a GCS store's signed URLs. */
export function gcsOrigin(source: Pick<GcsSource, 'endpoint'>): string {
  return (source.endpoint ?? 'https://storage.googleapis.com').replace(/\/+$/, '');
}

export interface GcsScope {
  provider: 'gcs';
  bucket: string;
  prefix: string;
  methods: ('GET' | 'HEAD' | 'PUT')[];
  algorithm: 'GOOG4-RSA-SHA256' | 'GOOG4-HMAC-SHA256';
  host: string;
}

function hmacKeys(store: AnyDatasetStore): [string, string] {
  const ref = store.spec.gcs?.auth.secretRef;
  return [ref?.accessIdKey ?? 'accessId', ref?.secretKey ?? 'secret'];
}

function serviceAccountKey(store: AnyDatasetStore): string {
  return store.spec.gcs?.auth.secretRef.serviceAccountKeyKey ?? 'key.json';
}

export const gcsProvider: StorageProvider<GcsScope> = {
  name: 'gcs',
  delivery: CAPABILITIES.gcs.delivery,
  verbs: PROVIDER_VERBS.gcs,
  render(spec: StoreSpecInput, grant) {
    const gcs = spec.gcs;
    if (!gcs) return { ok: false, reason: 'PolicyInvalid', message: 'store spec.gcs is required for provider gcs' };
    return packScope<GcsScope>({
      provider: 'gcs',
      bucket: gcs.bucket,
      prefix: grant.prefix,
      methods: [...new Set(grant.verbs.flatMap((x) => GCS_METHODS[x]))],
      algorithm: gcs.auth.mode === 'hmac' ? 'GOOG4-HMAC-SHA256' : 'GOOG4-RSA-SHA256',
      host: new URL(gcsOrigin(gcs)).host,
    });
  },
  describe: () => 'V4 signed-URL scope rendered (the issuer signs each URL; see status.sessionPolicy)',
  explain(_spec, scope, verbs, packedSize) {
    const header =
      `# gcs: V4 signed-URL scope. The issuer signs one URL per object inside the prefix; there is no listing.\n` +
      table([
        ['bucket', scope.bucket],
        ['prefix', scope.prefix],
        ['host', scope.host],
        ['algorithm', scope.algorithm],
        ['methods', scope.methods.join(', ')],
      ]) +
      `# per verb:\n` +
      table(verbs.map((v): [string, string] => [v, GCS_METHODS[v].join(', ')]));
    return { header, footer: scopeFooter(packedSize) };
  },
  secret(store: AnyDatasetStore) {
    const gcs = store.spec.gcs;
    if (!gcs) return undefined;
    return secretUse(store, 'spec.gcs.auth.secretRef', gcs.auth.secretRef, gcs.auth.mode === 'hmac' ? hmacKeys(store) : [serviceAccountKey(store)]);
  },
  createSigner() {
    const gcs = createGcsSigner();
    return {
      sign: async (spec, key, objectKey, method, now, expiresSeconds) => {
        if (!spec.gcs || (key.kind !== 'gcsServiceAccount' && key.kind !== 'gcsHmac')) throw new UnusableKeyError('a gcs store signs with a service-account or HMAC key');
        if (method === 'DELETE') throw new UnusableKeyError('gcs signs no DELETE');
        const credentials = key.kind === 'gcsHmac' ? { kind: 'hmac' as const, accessId: key.accessId, secret: key.secret } : { kind: 'serviceAccount' as const, clientEmail: key.clientEmail, privateKeyPem: key.privateKeyPem };
        // RSA off the event loop (a batch of 1,000 would otherwise stall every other request for seconds).
        return gcs.signAsync({ credentials, bucket: spec.gcs.bucket, key: objectKey, method, expiresSeconds, now, endpoint: gcsOrigin(spec.gcs) });
      },
    };
  },
  target: (spec) => (spec.gcs ? { bucket: spec.gcs.bucket, endpoint: gcsOrigin(spec.gcs) } : undefined),
  signingKey(store, values): SigningKey {
    if (store.spec.gcs?.auth.mode === 'hmac') {
      const [idKey, secretKey] = hmacKeys(store);
      const accessId = values[idKey] ?? '';
      const secret = values[secretKey] ?? '';
      if (!accessId || !secret) throw new Error(`an HMAC key lacks an access id or secret (key ${JSON.stringify(accessId ? secretKey : idKey)} is empty)`);
      return { kind: 'gcsHmac', accessId, secret };
    }
    const k = serviceAccountKey(store);
    let parsed: { client_email?: unknown; private_key?: unknown };
    try {
      parsed = JSON.parse(values[k] ?? '') as typeof parsed;
    } catch {
      throw new Error(`key ${JSON.stringify(k)} is not a service-account JSON key`);
    }
    if (typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string') {
      throw new Error(`key ${JSON.stringify(k)} lacks client_email or private_key`);
    }
    try {
      if (createPrivateKey(parsed.private_key).asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    } catch {
      throw new Error(`the private_key in ${JSON.stringify(k)} is not a readable RSA key`);
    }
    return { kind: 'gcsServiceAccount', clientEmail: parsed.client_email, privateKeyPem: parsed.private_key };
  },
};
