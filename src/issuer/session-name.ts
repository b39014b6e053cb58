// STS RoleSessionName and SourceIdentity: what CloudTrail (or MinIO's audit log) shows for a key,
// so they name the pod (or, for a shared session, the service account). STS allows 2–64
// characters of [\w+=,.@-]; anything else becomes '-', and a name cut to fit keeps its
// uniqueness with a short hash of the whole name.
import { createHash } from 'node:crypto';

export const MAX_SESSION_NAME = 64;
const HASH_CHARS = 8;

/** `parts` joined with `separator`, sanitised to STS's alphabet and at most `max` characters. */
export function stsName(parts: readonly string[], max = MAX_SESSION_NAME, separator = '-'): string {
  const full = parts.join(separator);
  const clean = full.replace(/[^\w+=,.@-]/g, '-');
  if (clean.length <= max && clean === full) return clean.length >= 2 ? clean : clean.padEnd(2, '-');
  // Sanitising can merge names ("a/b" and "a:b"), so hash the original whenever it changed.
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_CHARS);
  if (clean.length + 1 + HASH_CHARS <= max && clean !== full) return `${clean}-${hash}`;
  return `${clean.slice(0, max - 1 - HASH_CHARS)}-${hash}`;
}

/**
 * `valet.<namespace>.<pod>`, or `valet-sa.<namespace>.<serviceAccount>` for a shared session.
 * Unique per namespace and pod (issue #16): a namespace name has no '.', so the first '.' after the
 * prefix ends it (with '-' as the separator, namespace "a-b" with pod "c" and namespace "a" with
 * pod "b-c" collided), and the prefixes keep a pod apart from a service account of the same name.
 * A name cut to 64 characters keeps a hash of the whole.
 */
export function sessionName(namespace: string, who: string, kind: 'pod' | 'serviceAccount' = 'pod'): string {
  return stsName([kind === 'pod' ? 'valet' : 'valet-sa', namespace, who], MAX_SESSION_NAME, '.');
}
