// The sidecar's client of the issuer's POST /v1/sign and /v1/list, for azureBlob and gcs accesses
// (ADR 0006): the issuer keeps those stores' signing keys, so every URL is signed there. Same
// transport, token and CA handling as the key fetch (issuer-client.ts). Failures come back as the
// SidecarError the loopback server answers with: the issuer's own code and status for a refusal,
// 502/503 when the issuer cannot be reached or answers nonsense.
import { readFile } from 'node:fs/promises';
import { ISSUER_PATHS } from '../api/issuer/v1/index.ts';
import { SidecarFailure } from './presign.ts';
import { errorFields, nodeTransport, readTokenAndCa } from './issuer-client.ts';
import type { IssuerClientOptions, TransportResponse } from './issuer-client.ts';

export type RemoteMethod = 'GET' | 'HEAD' | 'PUT' | 'DELETE';

export interface RemoteSigned {
  urls: { key: string; url: string }[];
  expiresAt: string;
  expiresInSeconds: number;
}

export interface RemoteListed {
  objects: { key: string; size: number; lastModified?: string; etag?: string }[];
  continuationToken?: string;
}

/** Signing and listing by the issuer; rejects with a SidecarError. */
export interface RemoteSigner {
  sign(access: string, method: RemoteMethod, keys: readonly string[], expiresSeconds: number, signal?: AbortSignal): Promise<RemoteSigned>;
  list(access: string, prefix: string, continuationToken: string | undefined, signal?: AbortSignal): Promise<RemoteListed>;
}

/** The issuer's refusal (or failure) of a sign or list call, passed on with its code. */
export class RemoteSignError extends SidecarFailure {
  override name = 'RemoteSignError';
}

export function createRemoteSigner(opts: IssuerClientOptions): RemoteSigner {
  const transport = opts.transport ?? nodeTransport;
  const readText = opts.readText ?? ((p: string) => readFile(p, 'utf8'));
  const base = opts.url.replace(/\/+$/, '');

  async function call(path: (typeof ISSUER_PATHS)['sign' | 'list'], body: unknown, signal?: AbortSignal): Promise<unknown> {
    // The pod cannot authenticate to the issuer either way: one code for the caller.
    const files = await readTokenAndCa(opts, readText);
    if (!files.ok) throw new RemoteSignError(503, 'TokenUnavailable', files.message);
    const { token, ca } = files;
    let res: TransportResponse;
    try {
      res = await transport({ url: `${base}${path}`, headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body), ca, timeoutMs: opts.timeoutMs, signal });
    } catch (err) {
      throw new RemoteSignError(503, 'IssuerUnreachable', `the issuer at ${opts.url} did not answer: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      throw new RemoteSignError(502, 'BadResponse', `the issuer answered ${res.status} with a body that is not JSON`);
    }
    if (res.status === 200) return parsed;
    const { code, message } = errorFields(parsed, res.status);
    // A refusal keeps the issuer's status (the pod's request was refused); a failure there is a 502 here.
    throw new RemoteSignError(res.status >= 400 && res.status < 500 ? res.status : res.status === 503 ? 503 : 502, code, message);
  }

  return {
    async sign(access, method, keys, expiresSeconds, signal) {
      const out = (await call(ISSUER_PATHS.sign, { access, method, keys, expiresSeconds }, signal)) as Partial<RemoteSigned> | null;
      const urls = out?.urls;
      if (!Array.isArray(urls) || urls.length !== keys.length || !urls.every((u, i) => u && u.key === keys[i] && typeof u.url === 'string') || typeof out?.expiresAt !== 'string') {
        throw new RemoteSignError(502, 'BadResponse', 'the issuer\'s /v1/sign answer does not have the documented shape');
      }
      const seconds = out.expiresInSeconds ?? expiresSeconds;
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) throw new RemoteSignError(502, 'BadResponse', 'the issuer\'s /v1/sign answer has no valid expiresInSeconds');
      return { urls, expiresAt: out.expiresAt, expiresInSeconds: seconds };
    },
    async list(access, prefix, continuationToken, signal) {
      const out = (await call(ISSUER_PATHS.list, { access, prefix, ...(continuationToken ? { continuationToken } : {}) }, signal)) as Partial<RemoteListed> | null;
      if (!Array.isArray(out?.objects) || !out.objects.every((o) => o && typeof o.key === 'string' && typeof o.size === 'number')) {
        throw new RemoteSignError(502, 'BadResponse', 'the issuer\'s /v1/list answer does not have the documented shape');
      }
      return { objects: out.objects, ...(typeof out.continuationToken === 'string' && out.continuationToken ? { continuationToken: out.continuationToken } : {}) };
    },
  };
}
