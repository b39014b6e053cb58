// The issuer's GrantSource over informers: DatasetAccess, DatasetStore and ClusterDatasetStore
// objects come from watch caches (no API call per request), and a store's Secret (auth mode
// secret) is read on demand and cached briefly, with concurrent reads merged. Implements the
// issuer's GrantSource by shape; failures are ValetErrors with code StoreCredentialsUnavailable
// (a row of src/issuer/errors.ts).
import { createPrivateKey } from 'node:crypto';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { DEFAULT_VALET_NAMESPACE, KINDS, PLURALS } from '../api/v1alpha1/index.ts';
import { checkCredentialsPlacement } from '../policy/index.ts';
import type { AnyDatasetStore, ClusterDatasetStore, DatasetAccess, DatasetStore } from '../api/v1alpha1/index.ts';
import type { IssuerMetrics } from '../metrics/issuer.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import { ValetError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { TtlCache } from '../platform/ttl-cache.ts';
import type { K8sClients } from './clients.ts';
import { RestartableInformer, customObjectSource, namespaceSource } from './informer.ts';

interface NamespaceLike {
  metadata?: { name?: string; labels?: Record<string, string> };
}
import { httpStatus } from './keys.ts';

/** A store's long-term key for STS. A secret: never log it. */
export interface StoreKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A long-term signing key of an azureBlob or gcs store. A secret: never log it. */
export type SigningKey =
  | { kind: 'azureAccountKey'; accountKey: string }
  | { kind: 'gcsServiceAccount'; clientEmail: string; privateKeyPem: string }
  | { kind: 'gcsHmac'; accessId: string; secret: string };

/** Read-only views of the caches the grant source needs; informers fit, tests pass maps. */
export interface GrantCaches {
  accesses(namespace: string): readonly DatasetAccess[];
  /** Every DatasetAccess of all namespaces (optional: folder ownership on cluster stores). */
  allAccesses?(): readonly DatasetAccess[];
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

  allAccesses(): readonly DatasetAccess[] {
    return this.o.caches.allAccesses?.() ?? [];
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

  async storeCredentials(store: AnyDatasetStore): Promise<StoreKey | 'defaultChain'> {
    const auth = store.spec.auth;
    const what = `${store.kind} ${store.metadata.name}`;
    if (store.spec.provider !== 's3' || !auth) throw unavailable(`${what} is a ${store.spec.provider} store; it has no STS credentials`);
    if (auth.mode === 'defaultChain') return 'defaultChain';
    this.checkPlacement(store);
    const ref = auth.secretRef;
    const namespace = store.kind === KINDS.ClusterDatasetStore ? store.spec.auth?.secretRef?.namespace : store.metadata.namespace;
    if (auth.mode !== 'secret' || !ref || !namespace) throw unavailable(`${what} has auth mode ${JSON.stringify(auth.mode)} without a usable secretRef`);
    const idKey = ref.accessKeyIdKey ?? 'accessKeyId';
    const secretKey = ref.secretAccessKeyKey ?? 'secretAccessKey';
    const v = await this.secretValues(what, namespace, ref.name, [idKey, secretKey]);
    return { accessKeyId: v[idKey] ?? '', secretAccessKey: v[secretKey] ?? '' };
  }

  /** The long-term key an azureBlob or gcs store signs URLs with, from the store's Secret. */
  async signingKey(store: AnyDatasetStore): Promise<SigningKey> {
    const what = `${store.kind} ${store.metadata.name}`;
    const spec = store.spec;
    const source = spec.provider === 'azureBlob' ? spec.azureBlob : spec.provider === 'gcs' ? spec.gcs : undefined;
    const ref = source?.auth.secretRef as { name: string; namespace?: string } | undefined;
    const namespace = store.kind === KINDS.ClusterDatasetStore ? ref?.namespace : store.metadata.namespace;
    if (!source || !ref || !namespace) throw unavailable(`${what} has no usable secretRef for provider ${JSON.stringify(spec.provider)}`);
    this.checkPlacement(store);
    if (spec.provider === 'azureBlob' && spec.azureBlob) {
      const k = spec.azureBlob.auth.secretRef.accountKeyKey ?? 'accountKey';
      const v = await this.secretValues(what, namespace, ref.name, [k]);
      const accountKey = v[k] ?? '';
      // Checked here, so a bad key is the store's problem (503), never blamed on a request's keys.
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(accountKey) || accountKey.length % 4 !== 0) {
        throw unavailable(`the Secret of ${what}: key ${JSON.stringify(k)} is not a base64 account key`);
      }
      return { kind: 'azureAccountKey', accountKey };
    }
    if (spec.gcs?.auth.mode === 'hmac') {
      const idKey = spec.gcs.auth.secretRef.accessIdKey ?? 'accessId';
      const secretKey = spec.gcs.auth.secretRef.secretKey ?? 'secret';
      const v = await this.secretValues(what, namespace, ref.name, [idKey, secretKey]);
      return { kind: 'gcsHmac', accessId: v[idKey] ?? '', secret: v[secretKey] ?? '' };
    }
    const k = spec.gcs?.auth.secretRef.serviceAccountKeyKey ?? 'key.json';
    const v = await this.secretValues(what, namespace, ref.name, [k]);
    let parsed: { client_email?: unknown; private_key?: unknown };
    try {
      parsed = JSON.parse(v[k] ?? '') as typeof parsed;
    } catch {
      throw unavailable(`the Secret of ${what}: key ${JSON.stringify(k)} is not a service-account JSON key`);
    }
    if (typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string') {
      throw unavailable(`the Secret of ${what}: key ${JSON.stringify(k)} lacks client_email or private_key`);
    }
    try {
      if (createPrivateKey(parsed.private_key).asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    } catch {
      throw unavailable(`the Secret of ${what}: the private_key in ${JSON.stringify(k)} is not a readable RSA key`);
    }
    return { kind: 'gcsServiceAccount', clientEmail: parsed.client_email, privateKeyPem: parsed.private_key };
  }

  /** Fail closed: never read a Secret outside Valet's namespace, whatever the store says. */
  private checkPlacement(store: AnyDatasetStore): void {
    const placement = checkCredentialsPlacement(store, this.valetNamespace);
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
  clock?: Clock;
  logger?: Logger;
  metrics?: Pick<IssuerMetrics, 'cacheLookups'>;
  secretTtlMs?: number;
  /** Called on informer restarts (for metrics). */
  onRestart?: (informer: string) => void;
  valetNamespace?: string;
}

/** The GrantSource the operator runs: three informers plus Secret reads. start() before use. */
export class InformerGrantSource extends GrantSourceOverCaches {
  private readonly informers: {
    accesses: RestartableInformer<DatasetAccess>;
    stores: RestartableInformer<DatasetStore>;
    clusterStores: RestartableInformer<ClusterDatasetStore>;
    namespaces: RestartableInformer<NamespaceLike>;
  };

  constructor(opts: InformerGrantSourceOptions) {
    const { clients, logger } = opts;
    const make = <T extends DatasetAccess | DatasetStore | ClusterDatasetStore>(plural: string) =>
      new RestartableInformer<T>({
        name: `issuer-${plural}`,
        kubeConfig: clients.kubeConfig,
        ...customObjectSource<T>(clients.customObjects, { plural }),
        logger,
        onRestart: () => opts.onRestart?.(plural),
      });
    const informers = {
      accesses: make<DatasetAccess>(PLURALS.DatasetAccess),
      stores: make<DatasetStore>(PLURALS.DatasetStore),
      clusterStores: make<ClusterDatasetStore>(PLURALS.ClusterDatasetStore),
      namespaces: new RestartableInformer<NamespaceLike>({
        name: 'issuer-namespaces',
        kubeConfig: clients.kubeConfig,
        ...namespaceSource(clients.core),
        logger,
        onRestart: () => opts.onRestart?.('namespaces'),
      }),
    };
    super({
      caches: {
        accesses: (ns) => informers.accesses.list(ns),
        allAccesses: () => informers.accesses.list(),
        datasetStore: (ns, name) => informers.stores.get(ns, name),
        clusterStore: (name) => informers.clusterStores.get(undefined, name),
        namespaceLabels: (ns) => {
          const n = informers.namespaces.get(undefined, ns);
          return n ? (n.metadata?.labels ?? {}) : undefined;
        },
      },
      core: clients.core,
      clock: opts.clock,
      logger,
      metrics: opts.metrics,
      secretTtlMs: opts.secretTtlMs,
      valetNamespace: opts.valetNamespace,
    });
    this.informers = informers;
  }

  start(): void {
    for (const i of Object.values(this.informers)) i.start();
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    return (await Promise.all(Object.values(this.informers).map((i) => i.waitForSync(signal)))).every(Boolean);
  }

  hasSynced(): boolean {
    return Object.values(this.informers).every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
  }
}
