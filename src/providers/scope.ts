// Packing a signed-URL scope (azureBlob, gcs) for status.sessionPolicy, with the size bound.
import { LIMITS } from '../api/v1alpha1/index.ts';
import type { Rendered } from '../policy/index.ts';

export function packScope<Doc>(document: Doc): Rendered<Doc> {
  const policy = JSON.stringify(document);
  // The scope is not sent anywhere with a size limit; the bound only keeps status small.
  if (policy.length > LIMITS.maxSessionPolicyChars) {
    return { ok: false, reason: 'PolicyTooLarge', packedSize: policy.length, message: `the rendered scope is ${policy.length} characters; at most ${LIMITS.maxSessionPolicyChars}. Use a shorter prefix` };
  }
  return { ok: true, policy, packedSize: policy.length, document };
}

/** `valet policy`'s last line under a signed-URL scope: how much of status it takes. */
export function scopeFooter(packedSize: number): string {
  return `# status.sessionPolicy: ${packedSize} of ${LIMITS.maxSessionPolicyChars} characters\n`;
}

/** `#   label  value` lines with the values aligned (valet policy's explanations). */
export function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `#   ${`${k}:`.padEnd(width + 1)}${v}\n`).join('');
}
