// The body of POST /v1/keys: optional, `{"accesses"?: string[]}` naming DatasetAccess objects of
// the pod's namespace. Pure; anything else is a BadRequest that says what is wrong.
import { MAX_REQUESTED_ACCESSES } from '../api/issuer/v1/index.ts';
import type { KeysRequest } from '../api/issuer/v1/index.ts';
import { PATTERNS } from '../api/v1alpha1/index.ts';
import { IssuerError } from './errors.ts';

const name = new RegExp(PATTERNS.dnsSubdomain);

export function parseKeysRequest(body: unknown): KeysRequest {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new IssuerError('BadRequest', 'the request body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => k !== 'accesses');
  if (unknown.length > 0) throw new IssuerError('BadRequest', `unknown field ${JSON.stringify(unknown[0]?.slice(0, 64))}; the body may only contain "accesses"`);
  const accesses = (body as { accesses?: unknown }).accesses;
  if (accesses === undefined) return {};
  if (!Array.isArray(accesses) || accesses.length === 0 || accesses.length > MAX_REQUESTED_ACCESSES) {
    throw new IssuerError('BadRequest', `"accesses" must be a list of 1 to ${MAX_REQUESTED_ACCESSES} DatasetAccess names`);
  }
  for (const a of accesses) {
    if (typeof a !== 'string' || a.length > 253 || !name.test(a)) throw new IssuerError('BadRequest', `"accesses" must hold DatasetAccess names; ${JSON.stringify(String(a).slice(0, 64))} is not one`);
  }
  return { accesses: [...new Set(accesses as string[])] };
}
