// Where the operator keeps its own TLS material and publishes its CA: a Secret in its namespace
// (written with optimistic concurrency, so replicas racing to create it end up with one), and a
// ConfigMap of the CA in every namespace (sidecars mount it to trust the issuer).
import type { CoreV1Api } from '@kubernetes/client-node';
import { isConflict, isNotFound } from './keys.ts';

export type TlsData = Record<string, string>;

export interface StoredSecret {
  data: TlsData;
  resourceVersion: string;
}

const decode = (data: Record<string, string> | undefined): TlsData =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

export async function readTlsSecret(core: CoreV1Api, namespace: string, name: string): Promise<StoredSecret | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace, name });
    return { data: decode(s.data), resourceVersion: s.metadata?.resourceVersion ?? '' };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Creates the Secret (when `previous` is undefined) or replaces it at `previous.resourceVersion`.
 * Returns false when another writer got there first (409): re-read and use theirs.
 */
export async function writeTlsSecret(core: CoreV1Api, namespace: string, name: string, data: TlsData, previous: StoredSecret | undefined): Promise<boolean> {
  const body = {
    metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'valet', 'app.kubernetes.io/component': 'tls' }, resourceVersion: previous?.resourceVersion },
    type: 'Opaque',
    stringData: data,
  };
  try {
    if (previous) await core.replaceNamespacedSecret({ namespace, name, body });
    else await core.createNamespacedSecret({ namespace, body });
    return true;
  } catch (err) {
    if (isConflict(err)) return false;
    throw err;
  }
}

/** Makes the ConfigMap `name` hold `data` in every namespace; writes only where it differs. Returns how many it wrote. */
export async function publishConfigMapEverywhere(core: CoreV1Api, name: string, data: Record<string, string>): Promise<number> {
  const namespaces = (await core.listNamespace()).items.map((n) => n.metadata?.name ?? '').filter(Boolean);
  const existing = new Map(
    (await core.listConfigMapForAllNamespaces({ fieldSelector: `metadata.name=${name}` })).items.map((c) => [c.metadata?.namespace ?? '', c] as const),
  );
  let written = 0;
  for (const namespace of namespaces) {
    const current = existing.get(namespace);
    if (current && JSON.stringify(current.data ?? {}) === JSON.stringify(data)) continue;
    const body = { metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'valet' }, resourceVersion: current?.metadata?.resourceVersion }, data };
    try {
      if (current) await core.replaceNamespacedConfigMap({ namespace, name, body });
      else await core.createNamespacedConfigMap({ namespace, body });
      written++;
    } catch (err) {
      // A namespace being deleted, or another replica writing the same: the next pass settles it.
      if (!isConflict(err) && !isNotFound(err) && (err as { code?: number }).code !== 403) throw err;
    }
  }
  return written;
}

/**
 * The ConfigMap `name` in one namespace, created or brought up to date: what a namespace that just
 * appeared needs before its first injected pod mounts it (one call in the usual case).
 */
export async function publishConfigMapIn(core: CoreV1Api, namespace: string, name: string, data: Record<string, string>): Promise<void> {
  const metadata = { name, namespace, labels: { 'app.kubernetes.io/name': 'valet' } };
  try {
    await core.createNamespacedConfigMap({ namespace, body: { metadata, data } });
    return;
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  const current = await core.readNamespacedConfigMap({ namespace, name });
  if (JSON.stringify(current.data ?? {}) === JSON.stringify(data)) return;
  await core.replaceNamespacedConfigMap({ namespace, name, body: { metadata: { ...metadata, resourceVersion: current.metadata?.resourceVersion }, data } });
}
