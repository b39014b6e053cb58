// azureBlob: the account key stays with the issuer, which signs one service SAS per blob (sr=b)
// inside the granted folder and lists for the pod (ADR 0006).
import { CAPABILITIES } from '../capabilities.ts';
import { PROVIDER_VERBS } from '../../api/v1alpha1/index.ts';
import { METHOD_VERBS } from '../../api/issuer/v1/index.ts';
import type { AnyDatasetStore, AzureBlobSource, Verb } from '../../api/v1alpha1/index.ts';
import { secretUse, UnusableKeyError } from '../../policy/index.ts';
import type { SigningKey, StorageProvider, StoreSpecInput } from '../../policy/index.ts';
import { packScope, scopeFooter, table } from '../scope.ts';
import type { AzureAccount, AzureSigner } from './sas.ts';

/** The Azure SDK (tens of MB resident) is loaded on first use: an operator with no azureBlob store never loads it. */
let sas: Promise<typeof import('./sas.ts')> | undefined;
const loadSas = () => (sas ??= import('./sas.ts'));

/** SAS permission letters per verb for a per-blob SAS (sr=b). list is served by the issuer, not by a SAS. */
export const AZURE_SAS_PERMISSIONS: Readonly<Record<Verb, string>> = { read: 'r', list: '', write: 'cw', delete: 'd' };

/** Canonical order of SAS permission letters (the order the Azure SDKs write them). */
const SAS_ORDER = 'racwdxyltmeopi';

/** The letters of `verbs`, deduplicated, in canonical SAS order. */
export function sasPermissions(verbs: readonly Verb[]): string {
  const letters = new Set(verbs.flatMap((v) => [...AZURE_SAS_PERMISSIONS[v]]));
  return [...SAS_ORDER].filter((c) => letters.has(c)).join('');
}

/** The blob service URL of an Azure store: its endpoint, or the public one of its account. */
export function azureServiceUrl(source: Pick<AzureBlobSource, 'accountName' | 'endpoint'>): string {
  return (source.endpoint ?? `https://${source.accountName}.blob.core.windows.net`).replace(/\/+$/, '');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether `key` has the form of an account key (non-empty base64). */
export function isAccountKey(key: string): boolean {
  return key.length > 0 && BASE64.test(key);
}

/** A SAS starts a minute back, so a storage server whose clock is a little behind accepts it. */
export const SAS_START_SKEW_MS = 60_000;

/** The account a store signs and lists with, once its key is an account key. */
function account(spec: StoreSpecInput, key: SigningKey): { account: AzureAccount; container: string } {
  if (!spec.azureBlob || key.kind !== 'azureAccountKey') throw new UnusableKeyError('an azureBlob store signs with its account key');
  const a = spec.azureBlob;
  return { account: { accountName: a.accountName, accountKey: key.accountKey, ...(a.endpoint ? { endpoint: a.endpoint } : {}) }, container: a.container };
}

export interface AzureBlobScope {
  provider: 'azureBlob';
  /** Per-blob service SAS (sr=b): each URL opens one blob. */
  resource: 'blob';
  account: string;
  container: string;
  prefix: string;
  /** Every letter any URL may carry; one URL carries only its verb's letters. */
  permissions: string;
  /** Whether the issuer lists inside the prefix for the pod. */
  list: boolean;
  protocol: 'https' | 'https,http';
}

export const azureBlobProvider: StorageProvider<AzureBlobScope> = {
  name: 'azureBlob',
  delivery: CAPABILITIES.azureBlob.delivery,
  verbs: PROVIDER_VERBS.azureBlob,
  render(spec: StoreSpecInput, grant) {
    const az = spec.azureBlob;
    if (!az) return { ok: false, reason: 'PolicyInvalid', message: 'store spec.azureBlob is required for provider azureBlob' };
    return packScope<AzureBlobScope>({
      provider: 'azureBlob',
      resource: 'blob',
      account: az.accountName,
      container: az.container,
      prefix: grant.prefix,
      permissions: sasPermissions(grant.verbs),
      list: grant.verbs.includes('list'),
      protocol: azureServiceUrl(az).startsWith('https://') ? 'https' : 'https,http',
    });
  },
  describe: () => 'per-blob SAS scope rendered (the issuer signs each URL; see status.sessionPolicy)',
  explain(spec, scope, verbs, packedSize) {
    const perVerb = verbs.map((v): [string, string] => [v, v === 'list' ? 'no SAS; the issuer lists for the pod, inside the prefix only' : `sp=${AZURE_SAS_PERMISSIONS[v]}`]);
    const endpoint = spec.azureBlob ? azureServiceUrl(spec.azureBlob) : '';
    const header =
      `# azureBlob: per-blob SAS scope (sr=b). The issuer signs one service SAS per blob inside the prefix;\n` +
      `# no SAS opens the container or lists it.\n` +
      table([
        ['account', `${scope.account} (${endpoint})`],
        ['container', scope.container],
        ['prefix', scope.prefix],
        ['protocol', scope.protocol],
        ['permissions', scope.permissions === '' ? '(none)' : `sp=${scope.permissions}`],
      ]) +
      `# per verb:\n` +
      table(perVerb);
    return { header, footer: scopeFooter(packedSize) };
  },
  secret(store: AnyDatasetStore) {
    const ref = store.spec.azureBlob?.auth.secretRef;
    return secretUse(store, 'spec.azureBlob.auth.secretRef', ref, [ref?.accountKeyKey ?? 'accountKey']);
  },
  createSigner() {
    let azure: AzureSigner | undefined;
    return {
      sign: async (spec, key, blob, method, now, expiresSeconds) => {
        const { account: acct, container } = account(spec, key);
        azure ??= (await loadSas()).createAzureSigner();
        return azure.sign({
          account: acct,
          container,
          blob,
          permissions: AZURE_SAS_PERMISSIONS[METHOD_VERBS[method]],
          startsOn: new Date(now - SAS_START_SKEW_MS),
          expiresOn: new Date(now + expiresSeconds * 1000),
        }).url;
      },
      list: async (spec, key, prefix, opts) => {
        const { account: acct, container } = account(spec, key);
        const page = await (await loadSas()).listBlobPage(acct, container, prefix, opts);
        return {
          objects: page.blobs.map((b) => ({ key: b.name, size: b.size, lastModified: b.lastModified, ...(b.etag ? { etag: b.etag } : {}) })),
          ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
        };
      },
    };
  },
  target: (spec) => (spec.azureBlob ? { bucket: spec.azureBlob.container, endpoint: azureServiceUrl(spec.azureBlob) } : undefined),
  signingKey(store, values) {
    const k = store.spec.azureBlob?.auth.secretRef.accountKeyKey ?? 'accountKey';
    const accountKey = values[k] ?? '';
    // Checked here, so a bad key is the store's problem (503), never blamed on a request's keys.
    if (!isAccountKey(accountKey)) throw new Error(`key ${JSON.stringify(k)} is not a base64 account key`);
    return { kind: 'azureAccountKey', accountKey };
  },
};
