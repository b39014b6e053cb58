// The sidecar's client of the issuer: POST /v1/keys over HTTPS, trusting only the CA in a mounted
// file, presenting the pod's projected service-account token re-read from its file on every call
// (the kubelet rotates it), with a deadline on the whole call. Answers are sorted into what the
// refresher needs to decide: keys, a refusal (401/403: drop keys now), or a transient failure
// (429, 5xx, network, timeout: keep serving valid keys and retry).
import { capabilitiesOf } from '../providers/capabilities.ts';
import { ISSUER_PATHS } from '../api/issuer/v1/index.ts';
import type { IssuedKey } from '../api/issuer/v1/index.ts';
import { readFile } from 'node:fs/promises';
import { VERBS } from '../api/v1alpha1/index.ts';

/** One key as POST /v1/keys returns it: the issuer's own wire type, so the two cannot drift. */
export type WireKey = IssuedKey;

export type FetchResult =
  | { kind: 'ok'; keys: WireKey[] }
  | { kind: 'refused'; status: number; code: string; message: string; reasons?: { access: string; reason: string; message: string }[] }
  | { kind: 'transient'; status?: number; code: string; message: string; retryAfterMs?: number };

export interface KeySource {
  /** Keys for `accesses` (all the pod's grants when undefined). Never throws. */
  fetchKeys(accesses: readonly string[] | undefined, signal?: AbortSignal): Promise<FetchResult>;
}

export interface TransportRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** PEM bundle to trust (https only). */
  ca?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface TransportResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export type Transport = (req: TransportRequest) => Promise<TransportResponse>;

const MAX_BODY = 4 * 1024 * 1024;

// Not `import ... from 'node:http'`: see sidecar.ts (an ES import of node:http loads undici).
const { request: httpRequest } = process.getBuiltinModule('node:http');
const { request: httpsRequest } = process.getBuiltinModule('node:https');

/** node:https (or http, for a plain-HTTP issuer in tests) with a deadline on the whole exchange. */
export const nodeTransport: Transport = (req) =>
  new Promise<TransportResponse>((resolve, reject) => {
    const u = new URL(req.url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const r = send(
      u,
      { method: 'POST', headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) }, ...(u.protocol === 'https:' && req.ca ? { ca: req.ca } : {}), signal: req.signal },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) r.destroy(new Error('issuer response too large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => r.destroy(new Error(`no answer from the issuer within ${req.timeoutMs} ms`)), req.timeoutMs);
    r.on('close', () => clearTimeout(timer));
    r.on('error', reject);
    r.end(req.body);
  });

export interface IssuerClientOptions {
  /** Base URL of the issuer, e.g. https://valet-issuer.valet-system.svc:8443 */
  url: string;
  /** PEM file of the CA that signed the issuer's certificate; re-read on every call (rotation). */
  caFile?: string;
  /** The projected service-account token (audience valet.dev); re-read on every call. */
  tokenFile: string;
  timeoutMs: number;
  transport?: Transport;
  readText?: (path: string) => Promise<string>;
}

function retryAfterMs(h: string | string[] | undefined): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (v === undefined || !/^\d{1,6}$/.test(v.trim())) return undefined;
  return Number(v.trim()) * 1000;
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The keys of a 200 body, or why the body is not what the contract says. */
export function parseKeysBody(text: string): { ok: true; keys: WireKey[] } | { ok: false; message: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, message: 'the issuer answered 200 with a body that is not JSON' };
  }
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return { ok: false, message: 'the issuer answered 200 without a "keys" list' };
  for (const [i, k] of keys.entries()) {
    const key = k as Record<string, unknown> | null;
    if (key === null || typeof key !== 'object') return { ok: false, message: `key ${i} in the issuer's answer does not have the documented shape` };
    const presign = key.presign as { enabled?: unknown } | undefined;
    const common =
      isStr(key.access) &&
      isStr(key.bucket) &&
      isStr(key.prefix) &&
      Array.isArray(key.verbs) &&
      key.verbs.every((v) => (VERBS as readonly string[]).includes(v as string)) &&
      (presign === undefined || (typeof presign === 'object' && presign !== null && typeof presign.enabled === 'boolean')) &&
      typeof key.expiresInSeconds === 'number' &&
      Number.isFinite(key.expiresInSeconds) &&
      key.expiresInSeconds >= 0;
    let ok: boolean;
    const caps = capabilitiesOf(key.provider as string | undefined);
    if (caps?.delivery === 'signedUrls') {
      ok = common && isStr(key.endpoint) && isStr(key.expiration) && key.credentials === undefined;
    } else {
      const c = key.credentials as Record<string, unknown> | undefined;
      ok =
        common &&
        caps?.delivery === 'stsKeys' &&
        isStr(key.region) &&
        (key.endpoint === undefined || isStr(key.endpoint)) &&
        typeof c === 'object' &&
        c !== null &&
        isStr(c.AccessKeyId) &&
        isStr(c.SecretAccessKey) &&
        isStr(c.SessionToken) &&
        isStr(c.Expiration);
    }
    if (!ok) return { ok: false, message: `key ${i} in the issuer's answer does not have the documented shape` };
  }
  return { ok: true, keys: keys as WireKey[] };
}

/**
 * Why `text` (the issuer CA file's content) cannot be the trust anchor, or undefined when it can.
 * An empty file must never mean "trust the public roots": that would let any publicly trusted
 * certificate for the issuer's name receive the pod's token.
 */
export function issuerCaProblem(path: string, text: string): string | undefined {
  if (!text.trim()) return `the issuer CA file ${path} is empty`;
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(text)) return `the issuer CA file ${path} holds no PEM certificate`;
  return undefined;
}

/** The pod's token (re-read: the kubelet rotates it) and the issuer CA, or why they cannot be read. */
export async function readTokenAndCa(
  opts: Pick<IssuerClientOptions, 'tokenFile' | 'caFile'>,
  readText: (path: string) => Promise<string>,
): Promise<{ ok: true; token: string; ca: string | undefined } | { ok: false; code: 'TokenUnavailable' | 'CaUnavailable'; message: string }> {
  let token: string;
  try {
    token = (await readText(opts.tokenFile)).trim();
  } catch (err) {
    return { ok: false, code: 'TokenUnavailable', message: `cannot read the service-account token file ${opts.tokenFile}: ${(err as Error).message}` };
  }
  if (!token) return { ok: false, code: 'TokenUnavailable', message: `the service-account token file ${opts.tokenFile} is empty` };
  if (!opts.caFile) return { ok: true, token, ca: undefined };
  let ca: string;
  try {
    ca = await readText(opts.caFile);
  } catch (err) {
    return { ok: false, code: 'CaUnavailable', message: `cannot read the issuer CA file ${opts.caFile}: ${(err as Error).message}` };
  }
  const problem = issuerCaProblem(opts.caFile, ca);
  return problem ? { ok: false, code: 'CaUnavailable', message: problem } : { ok: true, token, ca };
}

/** Code, message and reasons of an issuer error body (parsed JSON, or undefined), bounded in size. */
export function errorFields(body: unknown, status: number): { code: string; message: string; reasons?: { access: string; reason: string; message: string }[] } {
  const error = ((body as { error?: unknown } | null | undefined)?.error ?? {}) as { code?: unknown; message?: unknown; reasons?: unknown };
  const code = typeof error.code === 'string' ? error.code.slice(0, 64) : `HTTP${status}`;
  const message = typeof error.message === 'string' ? error.message.slice(0, 500) : `the issuer answered ${status}`;
  const reasons = Array.isArray(error.reasons) ? (error.reasons as { access: string; reason: string; message: string }[]).slice(0, 32) : undefined;
  return { code, message, ...(reasons ? { reasons } : {}) };
}

export function createIssuerClient(opts: IssuerClientOptions): KeySource {
  const transport = opts.transport ?? nodeTransport;
  const readText = opts.readText ?? ((p: string) => readFile(p, 'utf8'));
  const endpoint = `${opts.url.replace(/\/+$/, '')}${ISSUER_PATHS.keys}`;
  return {
    async fetchKeys(accesses, signal) {
      const files = await readTokenAndCa(opts, readText);
      if (!files.ok) return { kind: 'transient', code: files.code, message: files.message };
      const { token, ca } = files;
      const body = accesses ? JSON.stringify({ accesses }) : '';
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
      if (body) headers['content-type'] = 'application/json';
      let res: TransportResponse;
      try {
        res = await transport({ url: endpoint, headers, body, ca, timeoutMs: opts.timeoutMs, signal });
      } catch (err) {
        return { kind: 'transient', code: 'IssuerUnreachable', message: `the issuer at ${opts.url} did not answer: ${(err as Error).message}` };
      }
      if (res.status === 200) {
        const parsed = parseKeysBody(res.body);
        return parsed.ok ? { kind: 'ok', keys: parsed.keys } : { kind: 'transient', status: 200, code: 'BadResponse', message: parsed.message };
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(res.body);
      } catch {
        // Not our issuer's JSON (a proxy's page, say): the status decides.
      }
      const { code, message, reasons } = errorFields(parsed, res.status);
      if (res.status === 401 || res.status === 403) return { kind: 'refused', status: res.status, code, message, ...(reasons ? { reasons } : {}) };
      return { kind: 'transient', status: res.status, code, message, retryAfterMs: retryAfterMs(res.headers['retry-after']) };
    },
  };
}
