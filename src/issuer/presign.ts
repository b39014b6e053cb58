// SigV4 query presigning for S3 GET, PUT and HEAD, computed directly with node:crypto: no SDK
// client, no middleware stack, no per-call allocation beyond the strings of the URL. The signing
// key (four HMACs) is cached per access key, date and region as a KeyObject, so one URL costs one
// SHA-256 and one HMAC (~90,000 URLs/s on one core; bench/presign.bench.ts). The output is byte
// for byte the URL that @aws-sdk/s3-request-presigner builds for a client
// with requestChecksumCalculation and responseChecksumValidation set to WHEN_REQUIRED
// (presign.test.ts holds this for a table of keys); the checksum parameters the SDK adds otherwise
// (x-amz-checksum-crc32 of an empty body on PUT) would make every real upload fail.
//
// The caller validates the object key (src/policy validateObjectKey) before calling; this file
// only encodes and signs.
import { uriEncode, uriEncodePath } from '../platform/uri.ts';
import { createHash, createHmac, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export type PresignMethod = 'GET' | 'PUT' | 'HEAD';

export interface PresignCredentials {
  accessKeyId: string;
  /** A secret: never logged. */
  secretAccessKey: string;
  sessionToken?: string;
}

export interface PresignTarget {
  bucket: string;
  region: string;
  /** S3-compatible endpoint (e.g. MinIO); absent means AWS S3 in `region`. */
  endpoint?: string;
}

export interface PresignRequest {
  credentials: PresignCredentials;
  target: PresignTarget;
  key: string;
  method: PresignMethod;
  /** 1 to 604,800 (SigV4's limit of seven days). */
  expiresSeconds: number;
  /** Signing time, wall-clock ms. */
  now: number;
}

export const MAX_PRESIGN_SECONDS = 604_800;

const X_ID: Record<PresignMethod, string | undefined> = { GET: 'GetObject', PUT: 'PutObject', HEAD: undefined };

interface Origin {
  /** scheme://host[:port] */
  origin: string;
  host: string;
  /** Path before the object key, with leading and trailing '/'. */
  basePath: string;
}

const dnsBucket = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

function originOf(target: PresignTarget): Origin {
  if (target.endpoint) {
    // S3-compatible stores: path style, as the SDK with forcePathStyle builds it.
    const u = new URL(target.endpoint);
    const base = u.pathname.replace(/\/+$/, '');
    return { origin: `${u.protocol}//${u.host}`, host: u.host, basePath: `${base}/${uriEncode(target.bucket)}/` };
  }
  const suffix = target.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  if (dnsBucket.test(target.bucket)) {
    const host = `${target.bucket}.s3.${target.region}.${suffix}`;
    return { origin: `https://${host}`, host, basePath: '/' };
  }
  const host = `s3.${target.region}.${suffix}`;
  return { origin: `https://${host}`, host, basePath: `/${uriEncode(target.bucket)}/` };
}

/** 20260101T120000Z and 20260101 for a wall-clock ms. */
function amzDate(ms: number): { long: string; short: string } {
  const iso = new Date(ms).toISOString();
  const long = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return { long, short: long.slice(0, 8) };
}

export interface Presigner {
  presign(req: PresignRequest): string;
}

/**
 * A presigner with its own signing-key cache (no module-level state). `maxCachedKeys` bounds the
 * cache; it is cleared when full (a key rotates every few minutes at most, the date once a day).
 */
export function createPresigner(opts: { maxCachedKeys?: number } = {}): Presigner {
  const max = opts.maxCachedKeys ?? 64;
  const signingKeys = new Map<string, { secret: string; sessionToken: string | undefined; key: KeyObject; token: string }>();
  const origins = new Map<string, Origin>();

  // Per access key, date and region: the derived signing key and the encoded session token. The
  // secret is kept to compare (a changed secret under the same id derives a new key).
  const signing = (c: PresignCredentials, date: string, region: string): { key: KeyObject; token: string } => {
    const id = `${c.accessKeyId}\n${date}\n${region}`;
    let e = signingKeys.get(id);
    if (!e || e.secret !== c.secretAccessKey || e.sessionToken !== c.sessionToken) {
      const kDate = createHmac('sha256', `AWS4${c.secretAccessKey}`).update(date).digest();
      const kRegion = createHmac('sha256', kDate).update(region).digest();
      const kService = createHmac('sha256', kRegion).update('s3').digest();
      // A KeyObject: createHmac with a raw Buffer re-imports the key on every call (~20 µs).
      const key = createSecretKey(createHmac('sha256', kService).update('aws4_request').digest());
      e = { secret: c.secretAccessKey, sessionToken: c.sessionToken, key, token: c.sessionToken ? `&X-Amz-Security-Token=${uriEncode(c.sessionToken)}` : '' };
      if (signingKeys.size >= max) signingKeys.clear();
      signingKeys.set(id, e);
    }
    return e;
  };

  const origin = (t: PresignTarget): Origin => {
    const id = `${t.endpoint ?? ''}\n${t.bucket}\n${t.region}`;
    let o = origins.get(id);
    if (!o) {
      o = originOf(t);
      if (origins.size >= max) origins.clear();
      origins.set(id, o);
    }
    return o;
  };

  return {
    presign(req: PresignRequest): string {
      const { credentials: c, target, method } = req;
      if (!Number.isInteger(req.expiresSeconds) || req.expiresSeconds < 1 || req.expiresSeconds > MAX_PRESIGN_SECONDS) {
        throw new RangeError(`expiresSeconds must be a whole number from 1 to ${MAX_PRESIGN_SECONDS}`);
      }
      const o = origin(target);
      const d = amzDate(req.now);
      const scope = `${d.short}/${target.region}/s3/aws4_request`;
      const k = signing(c, d.short, target.region);
      const path = o.basePath + uriEncodePath(req.key);
      // Parameters in byte order of their names; X-Amz-Signature goes between Security-Token and SignedHeaders.
      const head =
        `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD` +
        `&X-Amz-Credential=${uriEncode(c.accessKeyId)}%2F${d.short}%2F${uriEncode(target.region)}%2Fs3%2Faws4_request&X-Amz-Date=${d.long}&X-Amz-Expires=${req.expiresSeconds}` +
        k.token;
      const xid = X_ID[method];
      const tail = `X-Amz-SignedHeaders=host${xid ? `&x-id=${xid}` : ''}`;
      const canonical = `${method}\n${path}\n${head}&${tail}\nhost:${o.host}\n\nhost\nUNSIGNED-PAYLOAD`;
      const toSign = `AWS4-HMAC-SHA256\n${d.long}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
      const signature = createHmac('sha256', k.key).update(toSign).digest('hex');
      return `${o.origin}${path}?${head}&X-Amz-Signature=${signature}&${tail}`;
    },
  };
}
