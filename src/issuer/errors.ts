// IssuerError: a refusal carrying one of the contract's codes (src/api/issuer/v1/errors.ts, the
// table of every code). Thrown inside the issuer; errorBody turns it into the wire's JSON.
import { ISSUER_ERRORS, isIssuerErrorCode } from '../api/issuer/v1/index.ts';
import type { AccessRefusal, ErrorBody, ErrorSpec, IssuerErrorCode } from '../api/issuer/v1/index.ts';
import { ValetError } from '../platform/errors.ts';

export class IssuerError extends ValetError {
  override name = 'IssuerError';
  declare readonly code: IssuerErrorCode;
  readonly retryAfterSeconds: number | undefined;
  readonly refusals: readonly AccessRefusal[];

  constructor(code: IssuerErrorCode, message?: string, opts: { cause?: unknown; refusals?: readonly AccessRefusal[]; retryAfterSeconds?: number } = {}) {
    const spec: ErrorSpec = ISSUER_ERRORS[code];
    // A 401 never says why (no probing of tokens), whatever the thrower passed.
    super(code, code === 'Unauthenticated' || !message ? spec.message : message, spec.status, { cause: opts.cause });
    this.retryAfterSeconds = opts.retryAfterSeconds ?? spec.retryAfterSeconds;
    this.refusals = opts.refusals ?? [];
  }
}

/**
 * Any thrown value as an IssuerError. A ValetError whose code is in the table (src/k8s throws
 * those with codes from this table, e.g. PodNotFound) keeps its code and message; anything else
 * becomes Internal, whose message hides the original (the log keeps it as the cause).
 */
export function toIssuerError(err: unknown): IssuerError {
  if (err instanceof IssuerError) return err;
  if (err instanceof ValetError && isIssuerErrorCode(err.code)) return new IssuerError(err.code, err.message, { cause: err });
  return new IssuerError('Internal', undefined, { cause: err });
}

export function errorBody(err: IssuerError): ErrorBody {
  const body: ErrorBody = { error: { code: err.code, message: err.message } };
  if (err.refusals.length > 0) body.error.reasons = [...err.refusals];
  return body;
}
