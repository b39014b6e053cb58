// Google Cloud Storage V4 signed URLs (GET, PUT, HEAD of one object), computed directly with
// node:crypto: no SDK, no network, no module-level state. It follows
// https://cloud.google.com/storage/docs/authentication/signatures: a canonical request over the
// path-style resource /<bucket>/<object>, the X-Goog-* query parameters, the signed `host` header
// (and `content-type` when given) and UNSIGNED-PAYLOAD; credential scope
// <date>/auto/storage/goog4_request; signed with a service account's RSA key (GOOG4-RSA-SHA256) or
// an HMAC key (GOOG4-HMAC-SHA256).
//
// Why ours: @google-cloud/storage signs the same URL, but it brings google-auth-library, gaxios and
// a Storage client with it, reads the clock itself, answers through a promise, and signs locally
// only when handed a deprecated `credentials` option (otherwise it asks the GCE metadata server who
// it is). This is one synchronous call, pure in its inputs (the signing time is one of them), and
// fast: ~25 µs for an HMAC URL with createGcsSigner's cached signing key (~60 µs without); an RSA
// URL is the 1–2 ms of the RSA-2048 signature itself. gcs-sign.test.ts holds it byte for byte to the
// official library's own V4 signer (File#getSignedUrl, and its URLSigner for HEAD) over a table of
// keys, methods, endpoints, parameters and lifetimes.
//
// The HMAC form is SigV4 under other names, so its core is shared and parameterised by a dialect:
// GOOG4 (GOOG4-HMAC-SHA256, X-Goog-*, auto/storage/goog4_request) and amzDialect(region)
// (AWS4-HMAC-SHA256, X-Amz-*, <region>/s3/aws4_request), which GCS also accepts with HMAC keys and
// which S3 and MinIO verify. test/gcs-hmac.lab.test.ts holds the AMZ form against a real MinIO and
// byte for byte to presign.ts (itself held to @aws-sdk/s3-request-presigner).
//
// Two places where the dialects differ on purpose, each to match its reference implementation:
// - the signed `host` header: GOOG4 signs the endpoint's host name without a port, as
//   @google-cloud/storage (URL#hostname) and the Go client do; AMZ signs the Host a client sends,
//   non-default port included, as every SigV4 server checks it;
// - the order of the URL's query: GOOG4 writes the five X-Goog-* parameters, then the caller's in
//   object order, then X-Goog-Signature (as @google-cloud/storage does); AMZ writes every parameter
//   in canonical (byte) order with the signature in its sorted place (as the AWS SDK does).
// Both orders are valid: servers sort the query themselves.
//
// The caller validates the object key (src/policy validateObjectKey) before calling; this file
// refuses only what would make the URL wrong (an empty key, '.' or '..' segments that URL parsers
// collapse, ill-formed Unicode). No error message carries a secret, a private key or an endpoint.
import { createHash, createHmac, createPrivateKey, createSecretKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { uriEncode, uriEncodePath } from '../../platform/uri.ts';

export type GcsMethod = 'GET' | 'PUT' | 'HEAD';

export interface GcsServiceAccountCredentials {
  kind: 'serviceAccount';
  clientEmail: string;
  /** A secret: never logged. PKCS#8 ('BEGIN PRIVATE KEY') or PKCS#1 ('BEGIN RSA PRIVATE KEY') PEM. */
  privateKeyPem: string;
}

export interface GcsHmacCredentials {
  kind: 'hmac';
  accessId: string;
  /** A secret: never logged. */
  secret: string;
  /** AMZ dialect only (temporary S3 credentials); GCS HMAC keys have none. */
  sessionToken?: string;
}

export type GcsCredentials = GcsServiceAccountCredentials | GcsHmacCredentials;

export interface GcsSignRequest {
  credentials: GcsCredentials;
  bucket: string;
  /** Object name: any well-formed Unicode; spaces, '/', '?', '&', '+', '=', '%', '#' are fine. */
  key: string;
  method: GcsMethod;
  /** 1 to 604,800 (seven days, V4's limit). */
  expiresSeconds: number;
  /** Signing time, wall-clock ms. */
  now: number;
  /** An http(s) origin (no path), e.g. 'https://storage.example.internal:8443'; default the dialect's. */
  endpoint?: string;
  /** Extra signed query parameters (response-content-disposition, generation, ...). */
  queryParams?: Record<string, string>;
  /** Signs a content-type header: the request must then send exactly this Content-Type. */
  contentType?: string;
}

/** The names one SigV4-style scheme uses; see GOOG4 and amzDialect. */
export interface V4Dialect {
  /** 'GOOG4' or 'AWS4': prefix of the algorithm names and of the HMAC key chain's secret. */
  readonly scheme: 'GOOG4' | 'AWS4';
  /** Prefix of the signing query parameters: 'X-Goog-' or 'X-Amz-'. */
  readonly paramPrefix: 'X-Goog-' | 'X-Amz-';
  readonly region: string;
  readonly service: string;
  /** Last element of the credential scope: 'goog4_request' or 'aws4_request'. */
  readonly terminator: string;
  readonly defaultEndpoint: string;
  /** Sign the host with its non-default port (AMZ) or the host name alone (GOOG4). */
  readonly signPort: boolean;
  /** URL query order (both are valid; each matches its reference library). */
  readonly queryOrder: 'signature-last' | 'sorted';
  /** RSA signing (service accounts): GCS only. */
  readonly rsa: boolean;
}

export const GOOG4: V4Dialect = Object.freeze({
  scheme: 'GOOG4',
  paramPrefix: 'X-Goog-',
  region: 'auto',
  service: 'storage',
  terminator: 'goog4_request',
  defaultEndpoint: 'https://storage.googleapis.com',
  signPort: false,
  queryOrder: 'signature-last',
  rsa: true,
});

/** SigV4 for S3 in `region` (GCS accepts it with HMAC keys and region 'auto'). */
export function amzDialect(region: string, defaultEndpoint = 'https://storage.googleapis.com'): V4Dialect {
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new TypeError('region must be 1 to 64 of a-z, 0-9 and -');
  return Object.freeze({
    scheme: 'AWS4',
    paramPrefix: 'X-Amz-',
    region,
    service: 's3',
    terminator: 'aws4_request',
    defaultEndpoint,
    signPort: true,
    queryOrder: 'sorted',
    rsa: false,
  });
}

export const MAX_GCS_SIGN_SECONDS = 604_800;

const METHODS: ReadonlySet<string> = new Set(['GET', 'PUT', 'HEAD']);
/** GCS bucket names (and S3's, which are a subset): what may stand unencoded in the path. */
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const RESERVED = ['algorithm', 'credential', 'date', 'expires', 'signedheaders', 'signature', 'security-token'];

/** The parts of one signed URL before the signature: what tests compare across forms. */
export interface V4Canonical {
  algorithm: string;
  /** The scope's date, YYYYMMDD (UTC). */
  date: string;
  canonicalRequest: string;
  stringToSign: string;
  /** The finished URL for a hex signature. */
  url(signatureHex: string): string;
}

/** 20260101T120000Z and 20260101 for a wall-clock ms (seconds truncated, as the libraries do). */
function v4Date(ms: number): { long: string; short: string } {
  const iso = new Date(ms).toISOString();
  const long = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return { long, short: long.slice(0, 8) };
}

function endpointOf(endpoint: string): URL {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new TypeError('endpoint must be an absolute http(s) URL');
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || u.pathname !== '/' || u.search || u.hash) {
    throw new TypeError('endpoint must be an http(s) origin: no credentials, path, query or fragment');
  }
  return u;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string');
  if (!key.isWellFormed()) throw new TypeError('key is not well-formed Unicode (lone surrogate)');
  // URL parsers collapse these segments, so the path sent would not be the path signed.
  if (key.split('/').some((s) => s === '.' || s === '..')) throw new TypeError("key must not contain a '.' or '..' segment");
}

/**
 * Everything but the signature: validates the request and builds the canonical request and string
 * to sign exactly as `signV4Url` signs them. Exported for tests (HMAC and RSA forms share it).
 */
export function canonicalV4(req: GcsSignRequest, dialect: V4Dialect): V4Canonical {
  const { credentials: c, method } = req;
  const e = req.expiresSeconds;
  if (!Number.isInteger(e) || e < 1 || e > MAX_GCS_SIGN_SECONDS) {
    throw new RangeError(`expiresSeconds must be a whole number from 1 to ${MAX_GCS_SIGN_SECONDS}; got ${String(e)}`);
  }
  if (!Number.isFinite(req.now) || Number.isNaN(new Date(req.now).getTime())) throw new RangeError('now must be a valid wall-clock time in ms');
  if (!METHODS.has(method)) throw new TypeError(`method must be GET, PUT or HEAD; got ${JSON.stringify(String(method))}`);
  if (typeof req.bucket !== 'string' || !BUCKET.test(req.bucket)) throw new TypeError(`bucket ${JSON.stringify(String(req.bucket))} is not a valid bucket name`);
  checkKey(req.key);

  let id: string;
  let algorithm: string;
  if (c.kind === 'serviceAccount') {
    if (!dialect.rsa) throw new TypeError(`the ${dialect.scheme} dialect signs with HMAC keys only`);
    id = c.clientEmail;
    algorithm = `${dialect.scheme}-RSA-SHA256`;
  } else if (c.kind === 'hmac') {
    id = c.accessId;
    algorithm = `${dialect.scheme}-HMAC-SHA256`;
    if (c.sessionToken !== undefined && dialect.scheme !== 'AWS4') throw new TypeError('GCS HMAC keys have no session token');
  } else {
    throw new TypeError("credentials.kind must be 'serviceAccount' or 'hmac'");
  }
  if (typeof id !== 'string' || id.length === 0 || !id.isWellFormed()) throw new TypeError('the credential id (client email or access id) must be a non-empty string');

  const origin = endpointOf(req.endpoint ?? dialect.defaultEndpoint);
  const host = dialect.signPort ? origin.host : origin.hostname;

  const headers: [string, string][] = [];
  if (req.contentType !== undefined) {
    // Printable ASCII only, so every library's whitespace folding leaves it as it is.
    if (!/^[\x20-\x7e]+$/.test(req.contentType) || req.contentType.trim() !== req.contentType || /\s{2}/.test(req.contentType)) {
      throw new TypeError('contentType must be printable ASCII without leading, trailing or repeated spaces');
    }
    headers.push(['content-type', req.contentType]);
  }
  headers.push(['host', host]);
  const signedHeaders = headers.map(([n]) => n).join(';');

  const d = v4Date(req.now);
  const scope = `${d.short}/${dialect.region}/${dialect.service}/${dialect.terminator}`;
  const p = dialect.paramPrefix;

  // An object, like the libraries build: its key order (integer-like names first) is the URL's.
  const params: Record<string, string> = {
    [`${p}Algorithm`]: algorithm,
    [`${p}Credential`]: `${id}/${scope}`,
    [`${p}Date`]: d.long,
    [`${p}Expires`]: String(e),
  };
  if (c.kind === 'hmac' && c.sessionToken !== undefined) params[`${p}Security-Token`] = c.sessionToken;
  params[`${p}SignedHeaders`] = signedHeaders;
  for (const [name, value] of Object.entries(req.queryParams ?? {})) {
    if (name.length === 0 || !name.isWellFormed() || typeof value !== 'string' || !value.isWellFormed()) {
      throw new TypeError('queryParams names must be non-empty and names and values well-formed strings');
    }
    const lower = name.toLowerCase();
    if (RESERVED.some((r) => lower === `${p.toLowerCase()}${r}`)) throw new TypeError(`queryParams must not set ${name}: the signer does`);
    params[name] = value;
  }

  const encoded: [string, string][] = Object.entries(params).map(([n, v]) => [uriEncode(n), uriEncode(v)]);
  const byName = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const canonicalQuery = [...encoded].sort(byName).map(([n, v]) => `${n}=${v}`).join('&');
  const path = `/${req.bucket}/${uriEncodePath(req.key)}`;
  const canonicalHeaders = headers.map(([n, v]) => `${n}:${v}\n`).join('');
  const canonicalRequest = `${method}\n${path}\n${canonicalQuery}\n${canonicalHeaders}\n${signedHeaders}\nUNSIGNED-PAYLOAD`;
  const stringToSign = `${algorithm}\n${d.long}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  const base = `${origin.protocol}//${origin.host}${path}?`;

  return {
    algorithm,
    date: d.short,
    canonicalRequest,
    stringToSign,
    url(signatureHex: string): string {
      const sig: [string, string] = [`${p}Signature`, signatureHex];
      const all = dialect.queryOrder === 'sorted' ? [...encoded, sig].sort(byName) : [...encoded, sig];
      return base + all.map(([n, v]) => `${n}=${v}`).join('&');
    },
  };
}

/** The RSA private key in `pem`; a TypeError that says what is wrong (never what the key is) otherwise. */
export function rsaKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    // The cause would name nothing of the key, but keep the error free of anything derived from it.
    throw new TypeError('privateKeyPem is not a readable PEM private key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('privateKeyPem must be an RSA private key');
  return key;
}

/**
 * The V4 signing key: four HMACs from `${scheme}${secret}` over date, region, service, terminator.
 * Each intermediate is a KeyObject: createHmac re-imports a raw Buffer key on every call (~30 µs on
 * Node 24, against ~10 µs for createSecretKey and an HMAC with the KeyObject).
 */
export function v4SigningKey(secret: string, date: string, dialect: V4Dialect): KeyObject {
  const step = (key: string | KeyObject, data: string) => createSecretKey(createHmac('sha256', key).update(data).digest());
  return step(step(step(step(`${dialect.scheme}${secret}`, date), dialect.region), dialect.service), dialect.terminator);
}

interface KeySource {
  hmac(c: GcsHmacCredentials, date: string, dialect: V4Dialect): KeyObject;
  rsa(c: GcsServiceAccountCredentials): KeyObject;
}

const uncached: KeySource = {
  hmac: (c, date, dialect) => v4SigningKey(c.secret, date, dialect),
  rsa: (c) => rsaKey(c.privateKeyPem),
};

function signWith(req: GcsSignRequest, dialect: V4Dialect, keys: KeySource): string {
  const k = canonicalV4(req, dialect);
  const c = req.credentials;
  let signature: string;
  if (c.kind === 'serviceAccount') {
    if (typeof c.privateKeyPem !== 'string') throw new TypeError('privateKeyPem must be a string');
    signature = sign('sha256', Buffer.from(k.stringToSign, 'utf8'), keys.rsa(c)).toString('hex');
  } else {
    if (typeof c.secret !== 'string' || c.secret.length === 0) throw new TypeError('the HMAC secret must be a non-empty string');
    signature = createHmac('sha256', keys.hmac(c, k.date, dialect)).update(k.stringToSign).digest('hex');
  }
  return k.url(signature);
}

/**
 * signWith, with the RSA signature computed on libuv's thread pool (node:crypto's callback form):
 * 1–2 ms of CPU per URL must not stall the issuer's event loop, where every other pod's request
 * waits (issue #16). HMAC stays inline (microseconds). Same bytes as signWith.
 */
function signWithAsync(req: GcsSignRequest, dialect: V4Dialect, keys: KeySource): Promise<string> {
  const c = req.credentials;
  if (c.kind !== 'serviceAccount') return Promise.resolve().then(() => signWith(req, dialect, keys));
  if (typeof c.privateKeyPem !== 'string') return Promise.reject(new TypeError('privateKeyPem must be a string'));
  let k: V4Canonical;
  let key: KeyObject;
  try {
    k = canonicalV4(req, dialect);
    key = keys.rsa(c);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return new Promise((resolve, reject) => {
    sign('sha256', Buffer.from(k.stringToSign, 'utf8'), key, (err, signature) => (err ? reject(err) : resolve(k.url(signature.toString('hex')))));
  });
}

/** A V4 signed URL in `dialect`: GOOG4 for GCS (RSA or HMAC), amzDialect(region) for S3-style HMAC. */
export function signV4Url(req: GcsSignRequest, dialect: V4Dialect): string {
  return signWith(req, dialect, uncached);
}

/** A GCS V4 signed URL (path style) for one object. */
export function signGcsUrl(req: GcsSignRequest): string {
  return signV4Url(req, GOOG4);
}

export interface GcsSigner {
  /** The same URL as signV4Url(req, dialect); dialect GOOG4 unless given. */
  sign(req: GcsSignRequest, dialect?: V4Dialect): string;
  /** The same URL, its RSA signature computed off the event loop. */
  signAsync(req: GcsSignRequest, dialect?: V4Dialect): Promise<string>;
}

/**
 * A signer with its own key cache (no module-level state), for signing many URLs: HMAC signing keys
 * per id, date and dialect (one HMAC per URL instead of five), RSA keys per client email (no PEM
 * parse per URL; the RSA signature itself, 1–2 ms, remains). `maxCachedKeys` bounds each cache; it is
 * cleared when full. A changed secret or PEM under the same id replaces the entry.
 */
export function createGcsSigner(opts: { maxCachedKeys?: number } = {}): GcsSigner {
  const max = opts.maxCachedKeys ?? 64;
  const hmacKeys = new Map<string, { secret: string; key: KeyObject }>();
  const rsaKeys = new Map<string, { pem: string; key: KeyObject }>();
  const keys: KeySource = {
    hmac(c, date, dialect) {
      const id = `${dialect.scheme}\n${dialect.region}\n${dialect.service}\n${dialect.terminator}\n${c.accessId}\n${date}`;
      let e = hmacKeys.get(id);
      if (!e || e.secret !== c.secret) {
        e = { secret: c.secret, key: v4SigningKey(c.secret, date, dialect) };
        if (hmacKeys.size >= max) hmacKeys.clear();
        hmacKeys.set(id, e);
      }
      return e.key;
    },
    rsa(c) {
      let e = rsaKeys.get(c.clientEmail);
      if (!e || e.pem !== c.privateKeyPem) {
        e = { pem: c.privateKeyPem, key: rsaKey(c.privateKeyPem) };
        if (rsaKeys.size >= max) rsaKeys.clear();
        rsaKeys.set(c.clientEmail, e);
      }
      return e.key;
    },
  };
  return { sign: (req, dialect = GOOG4) => signWith(req, dialect, keys), signAsync: (req, dialect = GOOG4) => signWithAsync(req, dialect, keys) };
}
