// The narrow interfaces the issuer is built on (STYLE.md habit 5). src/k8s implements the
// Kubernetes ones (identity.ts, grants.ts) without importing this folder: TypeScript matches them
// by shape. Tests pass small fakes.
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';

/** Who is asking, as proved by a pod-bound service-account token and a fresh read of the pod. */
export interface PodIdentity {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
  labels: Readonly<Record<string, string>>;
  /** The pod's valet.dev/default-access annotation, when set. */
  defaultAccess?: string;
  /** The pod's valet.dev/removed-env annotation (variable names the webhook removed), when set. */
  removedEnv?: string;
}

export interface Authenticator {
  /**
   * Resolves the pod behind a bearer token, or throws a ValetError whose code is in
   * ISSUER_ERRORS (Unauthenticated, PodNotFound, PodTerminating, PodUidMismatch,
   * KubernetesUnavailable).
   */
  authenticate(bearer: string, signal?: AbortSignal): Promise<PodIdentity>;
}

import type { SigningKey, StaticCredentials } from '../policy/index.ts';

export interface GrantSource {
  /** Valet's own namespace: the only one whose Secrets a store may name (ADR 0008); default valet-system. */
  readonly valetNamespace?: string;
  /**
   * The accesses on ClusterDatasetStore `clusterStore`, in other namespaces than `namespace`, whose
   * folder overlaps `prefix` (one inside the other): the only claims that can take a folder from an
   * access of `namespace` (ADR 0009). From an index, so a key request costs the overlaps, not a
   * scan of every access in the cluster.
   */
  overlappingClaims(clusterStore: string, prefix: string, namespace: string): readonly DatasetAccess[];
  /** The DatasetAccess objects of a namespace, as cached (informer). */
  accesses(namespace: string): readonly DatasetAccess[];
  /** The store an access names (a DatasetStore in its namespace or a ClusterDatasetStore). */
  store(access: DatasetAccess): AnyDatasetStore | undefined;
  /**
   * How the issuer authenticates to the store's STS: a key from the store's Secret, or its own
   * default AWS chain. Throws a ValetError with code StoreCredentialsUnavailable.
   */
  storeCredentials(store: AnyDatasetStore): Promise<StaticCredentials | 'defaultChain'>;
  /**
   * The key an azureBlob or gcs store signs per-object URLs with, from the store's Secret, checked
   * usable by the store's provider (StorageProvider.signingKey): the issuer signs with it as it is.
   * Throws a ValetError with code StoreCredentialsUnavailable, also for a key that cannot sign.
   */
  signingKey(store: AnyDatasetStore): Promise<SigningKey>;
  /**
   * The labels of a namespace, or undefined when it is not known. A ClusterDatasetStore grants a
   * pod only when its namespaceSelector selects the pod's namespace now: the issuer checks this
   * itself rather than trust an access's status (which anyone allowed to write status could forge,
   * and which lags a namespace that just lost its label).
   */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
}

/** Kubernetes Events on a DatasetAccess; best effort (src/k8s/events.ts EventRecorder fits). */
/** What an Event can be about: a DatasetAccess, or the Pod a key was refused to. */
export interface EventSubject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string };
}

export interface EventSink {
  record(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string): unknown;
}

