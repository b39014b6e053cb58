// Queue keys are "namespace/name", or "name" for cluster-scoped objects (client-go's
// MetaNamespaceKeyFunc), so a key can be split back into a cache lookup.

/**
 * The metadata this folder reads. Client-node models and Valet's own API types (whose timestamps
 * are strings, as they arrive over the wire) both fit.
 */
export interface ObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number };
}

export function objectKey(obj: ObjectLike): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The HTTP status of a client-node ApiException (or a watch error), if there is one. */
export function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export const isNotFound = (err: unknown): boolean => httpStatus(err) === 404;
export const isConflict = (err: unknown): boolean => httpStatus(err) === 409;
export const isAlreadyExists = (err: unknown): boolean => httpStatus(err) === 409;
