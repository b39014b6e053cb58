// AdmissionReview v1 (admission.k8s.io/v1): the part of the request the webhook reads, and the
// response it writes. parseReview refuses anything that is not a well-formed review, so the
// adapter can answer 400 without guessing.
import { ValetError } from '../platform/errors.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionStatus {
  code: number;
  reason?: string;
  message: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON patch. */
  patch?: string;
  status?: AdmissionStatus;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** A body that is no AdmissionReview v1 request. HTTP 400. */
export class BadReviewError extends ValetError {
  override name = 'BadReviewError';
  constructor(message: string) {
    super('BadAdmissionReview', message, 400);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

export function parseReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw new BadReviewError('the body is not a JSON object');
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== 'AdmissionReview') {
    // Describe what came without String(): a hostile value may have a toString that throws.
    const show = (v: unknown) => (JSON.stringify(v) ?? typeof v).slice(0, 80);
    throw new BadReviewError(`expected an ${ADMISSION_API_VERSION} AdmissionReview, got ${show(body.apiVersion)} ${show(body.kind)}`);
  }
  const r = body.request;
  if (!isObject(r)) throw new BadReviewError('the AdmissionReview has no request');
  if (typeof r.uid !== 'string' || r.uid === '' || r.uid.length > 128) throw new BadReviewError('request.uid must be a non-empty string');
  const k = r.kind;
  if (!isObject(k) || typeof k.group !== 'string' || typeof k.version !== 'string' || typeof k.kind !== 'string') throw new BadReviewError('request.kind must be a group/version/kind');
  if (typeof r.operation !== 'string' || !OPERATIONS.has(r.operation)) throw new BadReviewError('request.operation must be CREATE, UPDATE, DELETE or CONNECT');
  for (const f of ['subResource', 'name', 'namespace'] as const) {
    if (r[f] !== undefined && typeof r[f] !== 'string') throw new BadReviewError(`request.${f} must be a string`);
  }
  if (r.dryRun !== undefined && typeof r.dryRun !== 'boolean') throw new BadReviewError('request.dryRun must be a boolean');
  return r as unknown as AdmissionRequest;
}

export function reviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
