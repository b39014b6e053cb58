// Stable loader URLs: data loaders (WebDataset, wids, fsspec's HTTP file system, curl) cannot
// send an Authorization header and never re-sign, so a presigned URL in a manifest dies with the
// session that signed it. The sidecar serves instead, on 127.0.0.1,
//
//   <VALET_LOADER_URL>/<access>/<object key>                    GET, HEAD: 302 to a fresh presigned URL
//   <VALET_LOADER_URL>/_manifests/<access>/urls.txt?prefix=…     one stable URL per object
//   <VALET_LOADER_URL>/_manifests/<access>/pattern.txt?prefix=…  one WebDataset brace pattern
//   <VALET_LOADER_URL>/_manifests/<access>/wids.json?prefix=…    a wids shard index (nsamples counted)
//
// where VALET_LOADER_URL is http://127.0.0.1:<port>/v1/loader/<capability>. The capability is an
// HMAC of the pod token (src/policy/pod-token.ts): only containers the webhook gave the token's
// variables know it (not one named in valet.dev/skip-containers, which shares the loopback), and a
// URL that leaks into a log opens no /v1/credentials. Every request is checked against the key the
// sidecar holds now, so a revoked access stops answering as soon as the sidecar drops its key, and
// each redirect target lives only --loader-url-seconds. This file holds the pure parts; the HTTP
// handling is in http.ts.
import type { SidecarError } from './presign.ts';

export type LoaderPath =
  | { kind: 'object'; capability: string; access: string; key: string }
  | { kind: 'manifest'; capability: string; access: string; format: LoaderManifestFormat };

export type LoaderManifestFormat = 'urls' | 'pattern' | 'wids';

const MANIFEST_FILES: Record<string, LoaderManifestFormat> = { 'urls.txt': 'urls', 'pattern.txt': 'pattern', 'wids.json': 'wids' };

/** Segments of an access name: DNS subdomain characters only, so `_manifests` never is one. */
const ACCESS = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Splits a /v1/loader/… path. Each segment is percent-decoded once, strictly; undefined for a
 * path that is not a loader URL at all, an error for one that is but is malformed.
 */
export function parseLoaderPath(pathname: string): LoaderPath | SidecarError | undefined {
  if (!pathname.startsWith('/v1/loader/')) return undefined;
  const raw = pathname.slice('/v1/loader/'.length).split('/');
  let parts: string[];
  try {
    parts = raw.map((p) => decodeURIComponent(p));
  } catch {
    return { status: 400, code: 'BadPath', message: 'the loader URL has a malformed percent escape' };
  }
  const [capability = '', first = '', ...rest] = parts;
  if (first === '_manifests') {
    const [access = '', file = '', ...extra] = rest;
    const format = MANIFEST_FILES[file];
    if (!ACCESS.test(access) || format === undefined || extra.length > 0) {
      return { status: 404, code: 'NotFound', message: 'use <VALET_LOADER_URL>/_manifests/<access>/urls.txt, pattern.txt or wids.json' };
    }
    return { kind: 'manifest', capability, access, format };
  }
  if (!ACCESS.test(first) || rest.length === 0 || rest.join('/') === '') {
    return { status: 404, code: 'NotFound', message: 'use <VALET_LOADER_URL>/<access>/<object key>' };
  }
  return { kind: 'object', capability, access: first, key: rest.join('/') };
}

/** The loader URL of one object: each key segment percent-encoded, so any key round-trips. */
export function loaderObjectUrl(base: string, access: string, key: string): string {
  return `${base}/${access}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Checks a Range header before the redirect (the client sends it again to the storage service, which
 * would silently ignore a malformed one and send the whole object): `bytes=` with one or more
 * `first-last`, `first-` or `-suffix` ranges, first ≤ last.
 */
export function checkRange(header: string | undefined): SidecarError | undefined {
  if (header === undefined) return undefined;
  const bad: SidecarError = { status: 400, code: 'BadRange', message: `the Range header ${JSON.stringify(header.slice(0, 100))} is not bytes=<first>-<last>[, …]` };
  const m = /^bytes=(.+)$/.exec(header.trim());
  if (!m || header.length > 1024) return bad;
  const ranges = (m[1] ?? '').split(',').map((r) => r.trim());
  for (const r of ranges) {
    const parts = /^(\d{0,19})-(\d{0,19})$/.exec(r);
    if (!parts) return bad;
    const [, first = '', last = ''] = parts;
    if (first === '' && last === '') return bad;
    if (first !== '' && last !== '' && BigInt(first) > BigInt(last)) return bad;
    if (first === '' && BigInt(last) === 0n) return bad;
  }
  return undefined;
}

/**
 * The WebDataset brace pattern that names exactly `keys` (sorted or not): one run of digits of
 * the same width, the same text around it, and every number from the first to the last present.
 * `shards/train-000000.tar … train-000099.tar` → `shards/train-{000000..000099}.tar`.
 */
export function bracePattern(keys: readonly string[]): string | undefined {
  if (keys.length === 0) return undefined;
  const first = keys[0] ?? '';
  if (keys.length === 1) return first;
  // Try each run of digits in the first key, last first (shard numbers end the name).
  const runs = [...first.matchAll(/\d+/g)].reverse();
  for (const run of runs) {
    const start = run.index;
    const width = run[0].length;
    const head = first.slice(0, start);
    const tail = first.slice(start + width);
    const numbers: number[] = [];
    let fits = true;
    for (const k of keys) {
      if (k.length !== first.length || !k.startsWith(head) || !k.endsWith(tail)) {
        fits = false;
        break;
      }
      const digits = k.slice(start, start + width);
      if (!/^\d+$/.test(digits)) {
        fits = false;
        break;
      }
      numbers.push(Number(digits));
    }
    if (!fits) continue;
    numbers.sort((a, b) => a - b);
    const lo = numbers[0] ?? 0;
    const hi = numbers[numbers.length - 1] ?? 0;
    if (hi - lo + 1 !== numbers.length || new Set(numbers).size !== numbers.length) continue;
    const pad = (n: number) => String(n).padStart(width, '0');
    // braceexpand keeps the width only when both ends are written padded.
    return `${head}{${pad(lo)}..${pad(hi)}}${tail}`;
  }
  return undefined;
}
