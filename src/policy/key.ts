// Object keys arrive from pods (presign and manifest requests), so they are checked before the
// sidecar signs anything: inside the grant's folder, and with nothing any layer could read as a
// path escape. S3 itself treats keys as opaque strings, but proxies, gateways, file-system
// backed stores and data loaders may not, so the rule is strict: a key that could mean a
// different key after decoding, normalisation or backslash-to-slash translation is refused.
import { LIMITS } from '../api/v1alpha1/index.ts';
import { checkPrefix, isInsidePrefix } from './prefix.ts';
import { quote } from './result.ts';
import type { Check } from './result.ts';

export type KeyReason =
  | 'PrefixInvalid'
  | 'KeyEmpty'
  | 'KeyTooLong'
  | 'KeyInvalidUnicode'
  | 'KeyInvalidCharacter'
  | 'KeyNotNormalized'
  | 'KeyEncoded'
  | 'KeyAbsolute'
  | 'KeyEmptySegment'
  | 'KeyTraversal'
  | 'KeyIsPrefix'
  | 'KeyOutsidePrefix';

const encoder = new TextEncoder();
const percentEscape = /%[0-9A-Fa-f]{2}/;

function isControl(code: number): boolean {
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
}

/** The segment-level problem of one spelling of the key, if any. */
function segmentProblem(form: string): KeyReason | undefined {
  const segments = form.replaceAll('\\', '/').split('/');
  // Also '..' padded with spaces or invisible characters: a gateway that trims them would read '..'.
  const bare = (s: string) => s.replace(/[\p{White_Space}\p{Default_Ignorable_Code_Point}]/gu, '');
  if (segments.some((s) => s === '.' || s === '..' || bare(s) === '.' || bare(s) === '..')) return 'KeyTraversal';
  // A trailing '/' (a folder-marker key) leaves one empty last segment; any other is '//'.
  if (segments.slice(0, -1).some((s) => s === '')) return 'KeyEmptySegment';
  return undefined;
}

/**
 * May a pod name `key` under the grant `prefix`? Refuses: empty keys; keys over 1,024 UTF-8
 * bytes; lone surrogates; control characters and backslashes; percent escapes (%2e, %2f, %25…);
 * text that NFC normalisation would change; a leading '/'; '//' ; '.' or '..' segments in the
 * key as given or after NFKC folding (which turns e.g. U+FF0E into '.' and U+FF0F into '/'); the
 * prefix itself; and anything outside the prefix.
 */
export function validateObjectKey(key: string, prefix: string): Check<KeyReason> {
  const fail = (reason: KeyReason, why: string): Check<KeyReason> => ({
    ok: false,
    reason,
    message: `object key ${quote(key)} ${why}`,
  });
  const p = checkPrefix(prefix, 'prefix');
  if (!p.ok) return p;
  if (typeof key !== 'string' || key.length === 0) return { ok: false, reason: 'KeyEmpty', message: 'object key must not be empty' };
  const bytes = encoder.encode(key).length;
  if (bytes > LIMITS.maxObjectKeyBytes) {
    return { ok: false, reason: 'KeyTooLong', message: `object key is ${bytes} bytes; S3 allows at most ${LIMITS.maxObjectKeyBytes}` };
  }
  if (!key.isWellFormed()) return fail('KeyInvalidUnicode', 'is not well-formed Unicode (lone surrogate)');
  for (const c of key) {
    if (isControl(c.codePointAt(0) ?? 0)) return fail('KeyInvalidCharacter', 'contains a control character');
    if (c === '\\') return fail('KeyInvalidCharacter', "contains a backslash ('\\')");
  }
  if (key.normalize('NFC') !== key) return fail('KeyNotNormalized', 'is not in Unicode normalisation form C (NFC)');
  const folded = key.normalize('NFKC');
  if (percentEscape.test(key) || percentEscape.test(folded)) {
    return fail('KeyEncoded', 'contains a percent escape such as %2f or %2e; send the key unencoded');
  }
  if (key.startsWith('/') || folded.startsWith('/') || folded.startsWith('\\')) {
    return fail('KeyAbsolute', "must be relative (no leading '/')");
  }
  for (const form of [key, folded]) {
    const problem = segmentProblem(form);
    if (problem === 'KeyTraversal') return fail(problem, "must not contain a '.' or '..' segment");
    if (problem === 'KeyEmptySegment') return fail(problem, "must not contain an empty segment ('//')");
  }
  if (!isInsidePrefix(key, prefix)) return fail('KeyOutsidePrefix', `is outside the granted prefix ${quote(prefix)}`);
  if (key === prefix) return fail('KeyIsPrefix', 'names the granted folder itself, not an object inside it');
  return { ok: true };
}
