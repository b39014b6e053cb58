// Prefixes are folders. "imagenet/" grants imagenet/a.tar and never imagenet-private/a.tar: every
// prefix ends in '/', so "key starts with prefix" is the whole folder rule, in IAM (Resource
// "bucket/imagenet/*", s3:prefix "imagenet/*") and here alike.
import { LIMITS, PATTERNS } from '../api/v1alpha1/index.ts';
import { quote } from './result.ts';
import type { Check } from './result.ts';

const prefixPattern = new RegExp(PATTERNS.prefix);
const allowedChar = /[A-Za-z0-9._!'()=/-]/;

/**
 * Is `prefix` a valid folder? The same rules as the CRD's pattern and CEL rule: 2..512
 * characters of letters, digits and ! - _ . ' ( ) =, relative, ending in '/', no empty, '.' or
 * '..' segment. `field` names the field in the message.
 */
export function checkPrefix(prefix: string, field = 'spec.prefix'): Check<'PrefixInvalid'> {
  const fail = (why: string): Check<'PrefixInvalid'> => ({
    ok: false,
    reason: 'PrefixInvalid',
    message: `${field} ${why}`,
  });
  if (typeof prefix !== 'string' || prefix.length === 0) return fail('must not be empty');
  if (prefix.length < LIMITS.minPrefixLength || prefix.length > LIMITS.maxPrefixLength) {
    return fail(`must be ${LIMITS.minPrefixLength} to ${LIMITS.maxPrefixLength} characters, got ${prefix.length}`);
  }
  if (prefix.startsWith('/')) return fail(`${quote(prefix)} must be relative (no leading '/')`);
  const bad = [...prefix].find((c) => !allowedChar.test(c));
  if (bad !== undefined) {
    return fail(`${quote(prefix)} contains ${quote(bad)}; allowed are letters, digits, '/' and ! - _ . ' ( ) =`);
  }
  if (!prefix.endsWith('/')) return fail(`${quote(prefix)} must end with '/' (a prefix is a folder)`);
  if (prefix.includes('//')) return fail(`${quote(prefix)} must not contain an empty segment ('//')`);
  if (prefix.split('/').some((s) => s === '.' || s === '..')) {
    return fail(`${quote(prefix)} must not contain a '.' or '..' segment`);
  }
  // The checks above are the pattern spelled out for better messages; the pattern is the contract.
  if (!prefixPattern.test(prefix)) return fail(`${quote(prefix)} must match ${PATTERNS.prefix}`);
  return { ok: true };
}

/**
 * The folder rule: is `key` (or a deeper prefix) inside the folder `prefix`? False for any prefix
 * that does not end in '/', so a malformed prefix never widens a grant.
 */
export function isInsidePrefix(key: string, prefix: string): boolean {
  return prefix.length > 0 && prefix.endsWith('/') && key.startsWith(prefix);
}

/** The first of `allowed` that contains the folder `prefix`, if any (prefix equal to it counts). */
export function findAllowedPrefix(prefix: string, allowed: readonly string[]): string | undefined {
  return allowed.find((a) => checkPrefix(a).ok && isInsidePrefix(prefix, a));
}
