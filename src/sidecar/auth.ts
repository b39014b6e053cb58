// The Authorization value every loopback request must carry: the pod token the webhook put in the
// sidecar's environment (src/policy/pod-token.ts, ADR 0010), or one generated at start when the
// sidecar runs without the webhook. It is written to a file on the pod's shared in-memory volume, which the AWS SDKs read
// through AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE and send verbatim as the Authorization header.
//
// The file has no trailing newline (botocore rejects a header value containing one) and is
// written atomically (temporary file + rename), so a client never reads half a token. Its mode
// defaults to 0644: the app container usually runs as another user than the sidecar, and the
// volume is a pod-private emptyDir (medium Memory) that only this pod's containers mount, so
// "others" are this pod's own containers. Use 0640 with a shared fsGroup to narrow it further.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
export async function writeAuthTokenFile(path: string, token: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(tmp, token, { mode, flag: 'wx' });
  await chmod(tmp, mode); // writeFile's mode is filtered by the umask
  await rename(tmp, path);
}

/**
 * A check of presented values against the secret `expected`, whose SHA-256 is taken once here. Per
 * call: one SHA-256 of the presented value and a constant-time comparison of the two digests, so
 * neither the answer time nor the length of the secret leaks; the same answers as policy's
 * secretMatches, which hashes both sides on every call.
 */
export function secretChecker(expected: string): (given: string | undefined) => boolean {
  const want = hash('sha256', expected, 'buffer');
  // The digest comes back as a 'binary' (latin1) string, one byte a character, and becomes a
  // Buffer from the shared pool: half the cost of asking hash() for a Buffer, which allocates one.
  return (given) => given !== undefined && timingSafeEqual(Buffer.from(hash('sha256', given, 'binary'), 'binary'), want);
}
