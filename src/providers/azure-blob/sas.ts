// Azure Blob Storage for the issuer: per-blob service SAS URLs, and listing by prefix. The only file
// outside tests that imports @azure/storage-blob.
//
// Why per-blob SAS: Valet scopes a key to a dataset prefix, and Azure has no SAS that is both
// prefix-scoped and portable. A container SAS (sr=c) opens the whole container; a directory SAS
// (sr=d) needs a hierarchical-namespace account and Azurite 3.x does not accept it at all (it
// validates sr=c, b and bs only). So the issuer, which holds the account key, signs one service SAS
// (sr=b) per blob the pod asks for, after checking the blob is inside the granted prefix, and lists
// blobs for pods itself with the account key: a pod never holds a container-wide or list right.
//
// The caller validates that the blob name lies inside the granted prefix before calling; this file
// validates only what Azure itself needs (names, permissions, times) and signs. signBlobSas keeps no
// state; createAzureSigner keeps one credential per account whose HMAC key is imported once as a
// KeyObject: the SDK's own credential re-imports the raw key on every signature, which the
// provider-signing benchmark found to be about half the cost of a SAS.
import { BlobSASPermissions, ContainerClient, generateBlobSASQueryParameters, isRestError, SASProtocol, StorageSharedKeyCredential } from '@azure/storage-blob';
import { createHmac, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ValetError } from '../../platform/errors.ts';
import { isAccountKey } from './index.ts';

export interface AzureAccount {
  /** 3 to 24 lowercase letters and digits. */
  accountName: string;
  /** The account key, base64. A secret: never logged, never in an error message. */
  accountKey: string;
  /**
   * The blob service URL, including the account path for Azurite (path-style), e.g.
   * http://127.0.0.1:10000/devstoreaccount1. Default https://<account>.blob.core.windows.net.
   */
  endpoint?: string;
}

/** The longest service SAS Valet signs (the limit Azure puts on user-delegation SAS). */
export const MAX_SAS_SECONDS = 7 * 24 * 3600;

/** The blob permissions Valet grants, in the order Azure requires them in `sp`. */
export const BLOB_SAS_PERMISSIONS = 'racwd';

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
// 3 to 63 characters: lowercase letters, digits and single hyphens between them; or a system container.
const CONTAINER_NAME = /^(?:[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}|\$root|\$web)$/;
const MAX_BLOB_NAME = 1024;

function checkAccount(account: AzureAccount): void {
  if (!ACCOUNT_NAME.test(account.accountName)) {
    throw new RangeError(`Azure account name ${JSON.stringify(account.accountName)} is not valid: it must be 3 to 24 lowercase letters and digits`);
  }
  if (!isAccountKey(account.accountKey)) {
    // Never echo the key, not even a part of it.
    throw new RangeError(`the account key of Azure account ${account.accountName} is not base64`);
  }
}

function checkContainer(container: string): void {
  if (!CONTAINER_NAME.test(container)) {
    throw new RangeError(
      `Azure container name ${JSON.stringify(container)} is not valid: it must be 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit`,
    );
  }
}

/**
 * A blob name a URL can carry unchanged. WHATWG URLs (so every SDK and HTTP client) resolve "." and
 * ".." path segments, also when percent-encoded ("%2e%2e"), so a URL for "a/../b" reaches "b": such
 * names are refused rather than signed for a blob the URL does not reach.
 */
function checkBlobName(blob: string): void {
  if (blob.length === 0) throw new RangeError('the blob name is empty');
  if (blob.length > MAX_BLOB_NAME) throw new RangeError(`the blob name is ${blob.length} characters long; Azure allows at most ${MAX_BLOB_NAME}`);
  if (!blob.isWellFormed()) throw new RangeError(`the blob name ${JSON.stringify(blob)} is not well-formed Unicode (it has a lone surrogate)`);
  if (blob.includes('\\')) {
    // Azure Storage turns "\\" into "/" in blob names, so the name signed would not be the blob reached.
    throw new RangeError(`the blob name ${JSON.stringify(blob)} has a backslash, which Azure reads as "/": name the blob with "/"`);
  }
  if (blob.split('/').some((seg) => seg === '.' || seg === '..')) {
    throw new RangeError(`the blob name ${JSON.stringify(blob)} has a "." or ".." path segment, which URLs resolve away: no URL reaches that blob`);
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The blob service URL of an account: `endpoint` (without a trailing slash) or Azure's public one. */
export function blobServiceUrl(accountName: string, endpoint?: string): string {
  if (endpoint !== undefined && endpoint !== '') {
    let parsed: URL;
    try {
      parsed = new URL(endpoint);
    } catch {
      throw new RangeError(`Azure blob endpoint ${JSON.stringify(endpoint)} is not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new RangeError(`Azure blob endpoint ${JSON.stringify(endpoint)} is not http(s)`);
    if (parsed.search !== '' || parsed.hash !== '') throw new RangeError(`Azure blob endpoint ${JSON.stringify(endpoint)} must not have a query or fragment`);
    return trimSlash(endpoint);
  }
  if (!ACCOUNT_NAME.test(accountName)) {
    throw new RangeError(`Azure account name ${JSON.stringify(accountName)} is not valid: it must be 3 to 24 lowercase letters and digits`);
  }
  return `https://${accountName}.blob.core.windows.net`;
}

export function containerUrl(accountName: string, container: string, endpoint?: string): string {
  checkContainer(container);
  return `${blobServiceUrl(accountName, endpoint)}/${container}`;
}

/**
 * The path of a blob in a URL, byte for byte as ContainerClient.getBlobClient builds it: each
 * "/"-separated segment percent-encoded (so " ", "#", "?", "%" and non-ASCII are escaped), the
 * slashes kept, and "'" escaped too (the SDK's escapeURLPath does; both reach the same blob).
 */
function blobPath(blob: string): string {
  return blob
    .split('/')
    .map((seg) => encodeURIComponent(seg).replaceAll("'", '%27'))
    .join('/');
}

export interface BlobSasRequest {
  account: AzureAccount;
  container: string;
  /** The full blob name (not URL-encoded). */
  blob: string;
  /** A non-empty subset of 'racwd', in that order: e.g. 'r', 'cw', 'd'. */
  permissions: string;
  startsOn: Date;
  expiresOn: Date;
}

export interface SignedBlobSas {
  /** The blob's URL with the SAS as its query. */
  url: string;
  /** The SAS query string, without '?'. */
  sas: string;
}

function checkPermissions(permissions: string): void {
  if (permissions.includes('l')) {
    throw new RangeError(`SAS permissions ${JSON.stringify(permissions)}: "l" (list) is a container right; a per-blob SAS cannot list (list through the issuer)`);
  }
  const bad = [...permissions].filter((c) => !BLOB_SAS_PERMISSIONS.includes(c));
  if (bad.length > 0) {
    throw new RangeError(`SAS permissions ${JSON.stringify(permissions)} have letters Valet does not grant: ${JSON.stringify(bad.join(''))} (allowed: ${BLOB_SAS_PERMISSIONS})`);
  }
  if (permissions.length === 0) throw new RangeError(`SAS permissions are empty (give a subset of ${BLOB_SAS_PERMISSIONS})`);
  const canonical = [...BLOB_SAS_PERMISSIONS].filter((c) => permissions.includes(c)).join('');
  if (canonical !== permissions) {
    throw new RangeError(`SAS permissions ${JSON.stringify(permissions)} must be distinct letters in the order ${BLOB_SAS_PERMISSIONS} (here: ${JSON.stringify(canonical)})`);
  }
}

function checkTimes(startsOn: Date, expiresOn: Date): void {
  if (Number.isNaN(startsOn.getTime())) throw new RangeError('SAS startsOn is not a valid date');
  if (Number.isNaN(expiresOn.getTime())) throw new RangeError('SAS expiresOn is not a valid date');
  // A SAS carries whole seconds: compare what Azure will see.
  const start = Math.floor(startsOn.getTime() / 1000);
  const expiry = Math.floor(expiresOn.getTime() / 1000);
  if (expiry <= start) {
    throw new RangeError(`SAS expiresOn (${expiresOn.toISOString()}) must be at least a second after startsOn (${startsOn.toISOString()})`);
  }
  if (expiry - start > MAX_SAS_SECONDS) {
    throw new RangeError(`SAS lifetime of ${expiry - start} s is more than 7 days (${MAX_SAS_SECONDS} s)`);
  }
}

/** The SDK's shared-key credential with the HMAC key imported once, not on every signature. */
class KeyedCredential extends StorageSharedKeyCredential {
  private readonly hmacKey: KeyObject;

  constructor(accountName: string, accountKey: string) {
    super(accountName, accountKey);
    this.hmacKey = createSecretKey(Buffer.from(accountKey, 'base64'));
  }

  override computeHMACSHA256(stringToSign: string): string {
    return createHmac('sha256', this.hmacKey).update(stringToSign, 'utf8').digest('base64');
  }
}

/** Signs after the checks; the caller has checked the account (once per SAS, not twice). */
function signWith(req: BlobSasRequest, credential: StorageSharedKeyCredential): SignedBlobSas {
  checkContainer(req.container);
  checkBlobName(req.blob);
  checkPermissions(req.permissions);
  checkTimes(req.startsOn, req.expiresOn);
  const base = containerUrl(req.account.accountName, req.container, req.account.endpoint);
  const sas = generateBlobSASQueryParameters(
    {
      containerName: req.container,
      blobName: req.blob,
      permissions: BlobSASPermissions.parse(req.permissions),
      startsOn: req.startsOn,
      expiresOn: req.expiresOn,
      // A SAS for an https endpoint must never be usable in the clear; Azurite is http only.
      protocol: base.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
    },
    credential,
  ).toString();
  return { url: `${base}/${blobPath(req.blob)}?${sas}`, sas };
}

/** A service SAS for one blob, signed with the account key (sr=b). */
export function signBlobSas(req: BlobSasRequest): SignedBlobSas {
  checkAccount(req.account);
  return signWith(req, new StorageSharedKeyCredential(req.account.accountName, req.account.accountKey));
}

export interface AzureSigner {
  sign(req: BlobSasRequest): SignedBlobSas;
}

/** signBlobSas with one cached credential per account and key (bounded; a rotated key replaces its entry). */
export function createAzureSigner(opts: { maxCachedKeys?: number } = {}): AzureSigner {
  const max = opts.maxCachedKeys ?? 64;
  const credentials = new Map<string, { accountKey: string; credential: KeyedCredential }>();
  return {
    sign(req) {
      checkAccount(req.account);
      let e = credentials.get(req.account.accountName);
      if (!e || e.accountKey !== req.account.accountKey) {
        e = { accountKey: req.account.accountKey, credential: new KeyedCredential(req.account.accountName, req.account.accountKey) };
        if (credentials.size >= max) credentials.clear();
        credentials.set(req.account.accountName, e);
      }
      return signWith(req, e.credential);
    },
  };
}

export interface ListedBlob {
  name: string;
  size: number;
  /** ISO 8601. */
  lastModified: string;
  etag?: string;
}

export interface ListPage {
  blobs: ListedBlob[];
  /** Present when there are more blobs: pass it back for the next page. */
  continuationToken?: string;
}

export interface ListPageOptions {
  continuationToken?: string;
  /** 1 to 5,000 (Azure's limit); default 5,000. */
  maxResults?: number;
  signal?: AbortSignal;
}

/** A listing Azure refused or failed: the status and Azure's error code, never a credential. */
export class AzureBlobError extends ValetError {
  override name = 'AzureBlobError';
  /** Azure's HTTP status, when it answered. */
  readonly azureStatus: number | undefined;
  /** Azure's error code (x-ms-error-code), e.g. ContainerNotFound; or the network error's (ECONNREFUSED) when Azure did not answer. */
  readonly azureCode: string | undefined;

  constructor(message: string, azureStatus: number | undefined, azureCode: string | undefined) {
    super('AzureStorageError', message, 502);
    this.azureStatus = azureStatus;
    this.azureCode = azureCode;
  }
}

/** One page of the blobs whose names start with `prefix`, listed flat with the account key. */
export async function listBlobPage(account: AzureAccount, container: string, prefix: string, opts: ListPageOptions = {}): Promise<ListPage> {
  checkAccount(account);
  const url = containerUrl(account.accountName, container, account.endpoint);
  if (prefix.length > MAX_BLOB_NAME) throw new RangeError(`the prefix is ${prefix.length} characters long; Azure blob names have at most ${MAX_BLOB_NAME}`);
  const maxResults = opts.maxResults ?? 5000;
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 5000) throw new RangeError(`maxResults must be a whole number from 1 to 5000, not ${maxResults}`);
  const client = new ContainerClient(url, new StorageSharedKeyCredential(account.accountName, account.accountKey), { retryOptions: { maxTries: 3, tryTimeoutInMs: 30_000 } });
  try {
    const pages = client
      .listBlobsFlat({ prefix, abortSignal: opts.signal, responseFormat: 'Xml' })
      .byPage({ continuationToken: opts.continuationToken || undefined, maxPageSize: maxResults });
    const { value: page } = await pages.next();
    if (!page) return { blobs: [] };
    const blobs: ListedBlob[] = [];
    for (const item of page.segment.blobItems) {
      // Azure filters by prefix; this holds the boundary even if a server did not.
      if (!item.name.startsWith(prefix)) continue;
      const p = item.properties;
      blobs.push({ name: item.name, size: p.contentLength ?? 0, lastModified: p.lastModified.toISOString(), ...(p.etag ? { etag: p.etag } : {}) });
    }
    return page.continuationToken ? { blobs, continuationToken: page.continuationToken } : { blobs };
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    if (isRestError(err)) {
      // The SDK's error carries the request, Authorization header included: keep only safe facts.
      const code = err.code ?? (err.response?.headers.get('x-ms-error-code') || undefined);
      const what = `listing ${account.accountName}/${container} under ${JSON.stringify(prefix)}`;
      throw new AzureBlobError(
        err.statusCode !== undefined ? `${what}: Azure answered ${err.statusCode}${code ? ` ${code}` : ''}` : `${what} failed${code ? `: ${code}` : ''}`,
        err.statusCode,
        code,
      );
    }
    throw err;
  }
}
