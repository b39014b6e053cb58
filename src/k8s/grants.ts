// The issuer's GrantSource over informers: DatasetAccess, DatasetStore and ClusterDatasetStore
// objects come from watch caches (no API call per request), and a store's Secret (auth mode
// secret) is read on demand and cached briefly, with concurrent reads merged. Implements the
// issuer's GrantSource by shape; failures are ValetErrors with code StoreCredentialsUnavailable
// (a row of src/api/issuer/v1/errors.ts).
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { DEFAULT_VALET_NAMESPACE, KINDS } from '../api/v1alpha1/index.ts';
import { checkCredentialsPlacement } from '../policy/index.ts';
import type { SigningKey, StaticCredentials, StorageProvider } from '../policy/index.ts';
import { PROVIDER_REGISTRY, providerOf } from '../providers/index.ts';
import type { AnyDatasetStore, ClusterDatasetStore, DatasetAccess, DatasetStore } from '../api/v1alpha1/index.ts';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import { ValetError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { TtlCache } from '../platform/ttl-cache.ts';
import type { K8sClients } from './clients.ts';
import { SharedInformers } from './shared-informers.ts';
import { httpStatus } from './keys.ts';

/** Read-only views of the caches the grant source needs; informers fit, tests pass maps. */
export interface GrantCaches {
  accesses(namespace: string): readonly DatasetAccess[];
  /**
   * The accesses on ClusterDatasetStore `name`, in other namespaces than `namespace`, whose folder
   * overlaps `prefix` (ADR 0009; SharedInformers' ClaimIndex).
   */
  overlappingClaims(name: string, prefix: string, namespace: string | undefined): readonly DatasetAccess[];
  datasetStore(namespace: string, name: string): DatasetStore | undefined;
  clusterStore(name: string): ClusterDatasetStore | undefined;
  /** Labels of a namespace; undefined when it is not known. */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
}

export interface SecretGrantSourceOptions {
  caches: GrantCaches;
  core: Pick<CoreV1Api, 'readNamespacedSecret'>;
  clock?: Clock;
  logger?: Logger;
  metrics?: Pick<IssuerMetrics, 'cacheLookups'>;
  /** How long a Secret's key is reused. Default 30 s (a rotated key is picked up within it). */
  secretTtlMs?: number;
  /** Valet's own namespace: the only one whose Secrets are read (ADR 0008). Default valet-system. */
  valetNamespace?: string;
}

const unavailable = (message: string, cause?: unknown) => new ValetError('StoreCredentialsUnavailable', message, 503, { cause });

/** The GrantSource logic over any caches (tests pass plain maps; production, informers). */
export class GrantSourceOverCaches {
  private readonly o: SecretGrantSourceOptions;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly secrets = new TtlCache<Record<string, string>>(10_000);
  readonly valetNamespace: string;

  constructor(opts: SecretGrantSourceOptions) {
    this.o = opts;
    this.valetNamespace = opts.valetNamespace ?? DEFAULT_VALET_NAMESPACE;
    this.clock = opts.clock ?? systemClock;
    this.ttlMs = opts.secretTtlMs ?? 30_000;
  }

  accesses(namespace: string): readonly DatasetAccess[] {
    return this.o.caches.accesses(namespace);
  }

  /**
   * Other namespaces' accesses on ClusterDatasetStore `clusterStore` whose folder overlaps `prefix`
   * (ADR 0009): from the informers' ClaimIndex, so a key request costs the overlaps.
   */
  overlappingClaims(clusterStore: string, prefix: string, namespace: string): readonly DatasetAccess[] {
    return this.o.caches.overlappingClaims(clusterStore, prefix, namespace);
  }

  store(access: DatasetAccess): AnyDatasetStore | undefined {
    const ref = access.spec.storeRef;
    if (ref.kind === KINDS.ClusterDatasetStore) return this.o.caches.clusterStore(ref.name);
    if (ref.kind === KINDS.DatasetStore && access.metadata.namespace) return this.o.caches.datasetStore(access.metadata.namespace, ref.name);
    return undefined;
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.o.caches.namespaceLabels(namespace);
  }

  async storeCredentials(store: AnyDatasetStore): Promise<StaticCredentials | 'defaultChain'> {
    const what = `${store.kind} ${store.metadata.name}`;
    const provider = providerOf(store.spec);
    if (!provider.stsCredentials) throw unavailable(`${what} is a ${store.spec.provider} store; it has no STS credentials`);
    const read = await this.readStoreSecret(store, what, provider);
    return read === 'ambient' ? 'defaultChain' : provider.stsCredentials(store, read);
  }

  /** The long-term key a signed-URL store (azureBlob, gcs) signs URLs with, from the store's Secret. */
  async signingKey(store: AnyDatasetStore): Promise<SigningKey> {
    const what = `${store.kind} ${store.metadata.name}`;
    const provider = providerOf(store.spec);
    if (!provider.signingKey) throw unavailable(`${what} is a ${store.spec.provider} store; it signs no URLs through the issuer`);
    const read = await this.readStoreSecret(store, what, provider);
    if (read === 'ambient') throw unavailable(`${what} has no usable secretRef for provider ${JSON.stringify(store.spec.provider)}`);
    try {
      return provider.signingKey(store, read);
    } catch (err) {
      // Checked here, so a bad key is the store's problem (503), never blamed on a request's keys.
      throw unavailable(`the Secret of ${what}: ${(err as Error).message}`);
    }
  }

  /** The values of the Secret the store's provider names (never outside Valet's namespace), or `ambient`. */
  private async readStoreSecret(store: AnyDatasetStore, what: string, provider: StorageProvider): Promise<Record<string, string> | 'ambient'> {
    const use = provider.secret(store);
    if (use === 'ambient') return 'ambient';
    const namespace = store.kind === KINDS.ClusterDatasetStore ? use?.namespace : store.metadata.namespace;
    if (!use || !namespace) throw unavailable(`${what} has no usable secretRef for provider ${JSON.stringify(store.spec.provider)}`);
    this.checkPlacement(store);
    return this.secretValues(what, namespace, use.name, use.keys);
  }

  /** Fail closed: never read a Secret outside Valet's namespace, whatever the store says. */
  private checkPlacement(store: AnyDatasetStore): void {
    const placement = checkCredentialsPlacement(store, this.valetNamespace, PROVIDER_REGISTRY);
    if (!placement.ok) throw unavailable(placement.message);
  }

  /** The named values of a Secret, each non-empty; cached for the TTL with concurrent reads merged. */
  private secretValues(what: string, namespace: string, name: string, keys: string[]): Promise<Record<string, string>> {
    const cacheKey = [namespace, name, ...keys].join('\0');
    const hit = this.secrets.get(cacheKey, this.clock.now());
    this.o.metrics?.cacheLookups.inc({ cache: 'secret', result: hit ? 'hit' : 'miss' });
    if (hit) return hit;
    const value = this.readSecret(what, namespace, name, keys);
    this.secrets.put(cacheKey, value, () => this.clock.now(), (ok) => (ok ? this.ttlMs : 0));
    return value;
  }

  private async readSecret(what: string, namespace: string, name: string, keys: string[]): Promise<Record<string, string>> {
    let secret: V1Secret;
    try {
      secret = await this.o.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      const status = httpStatus(err);
      // The log (operator-owned) names the Secret; the caller's message does not.
      this.o.logger?.warn('reading a store Secret failed', { namespace, secretName: name, status });
      throw unavailable(status === 404 ? `the Secret of ${what} was not found` : `the Secret of ${what} could not be read`, err);
    }
    const decode = (k: string) => {
      const b64 = secret.data?.[k];
      return b64 === undefined ? secret.stringData?.[k] : Buffer.from(b64, 'base64').toString('utf8');
    };
    const out: Record<string, string> = {};
    for (const k of keys) {
      const v = decode(k)?.trim();
      if (!v) {
        this.o.logger?.warn('a store Secret lacks a key', { namespace, secretName: name, key: k });
        throw unavailable(`the Secret of ${what} lacks key ${JSON.stringify(k)}`);
      }
      out[k] = v;
    }
    return out;
  }
}

export interface InformerGrantSourceOptions {
  clients: Pick<K8sClients, 'kubeConfig' | 'core' | 'customObjects'>;
  /** The process's shared informers; absent, the source makes its own (tests that need only it). */
  informers?: SharedInformers;
  clock?: Clock;
  logger?: Logger;
  metrics?: Pick<IssuerMetrics, 'cacheLookups'>;
  secretTtlMs?: number;
  /** Called on informer restarts (for metrics) when the source makes its own informers. */
  onRestart?: (informer: string) => void;
  valetNamespace?: string;
}

/** The GrantSource the operator runs: the shared informers plus Secret reads. start() before use. */
export class InformerGrantSource extends GrantSourceOverCaches {
  readonly informers: SharedInformers;
  /** Whether this source made (and so starts and stops) its informers. */
  private readonly owns: boolean;

  constructor(opts: InformerGrantSourceOptions) {
    const informers = opts.informers ?? new SharedInformers({ clients: opts.clients, ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.onRestart ? { onRestart: opts.onRestart } : {}) });
    super({
      caches: informers.grantCaches(),
      core: opts.clients.core,
      clock: opts.clock,
      logger: opts.logger,
      metrics: opts.metrics,
      secretTtlMs: opts.secretTtlMs,
      valetNamespace: opts.valetNamespace,
    });
    this.informers = informers;
    this.owns = !opts.informers;
  }

  /** Starts the informers it made; shared ones are started by their owner. */
  start(): void {
    if (this.owns) this.informers.start();
  }

  waitForSync(signal?: AbortSignal): Promise<boolean> {
    return this.informers.waitForSync(signal);
  }

  hasSynced(): boolean {
    return this.informers.hasSynced();
  }

  async stop(): Promise<void> {
    if (this.owns) await this.informers.stop();
  }
}
