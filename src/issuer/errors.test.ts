import { ISSUER_ERRORS, isIssuerErrorCode, renderErrorsMarkdown } from '../api/issuer/v1/index.ts';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ValetError } from '../platform/errors.ts';
import { IDENTITY_ERROR_CODES } from '../k8s/identity.ts';
import { IssuerError, errorBody, toIssuerError } from './errors.ts';

describe('the issuer error table', () => {
  it('is what docs/errors.md documents (regenerate with renderErrorsMarkdown when it changes)', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(doc).toBe(renderErrorsMarkdown());
  });

  it('maps every code to an HTTP error status, and retryable ones to a Retry-After', () => {
    for (const [code, spec] of Object.entries(ISSUER_ERRORS)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.message.length, code).toBeGreaterThan(0);
      if (spec.status === 429 || spec.status === 503) expect('retryAfterSeconds' in spec, code).toBe(true);
    }
    expect(ISSUER_ERRORS.Unauthenticated.status).toBe(401);
    for (const c of ['PodNotFound', 'PodTerminating', 'PodUidMismatch', 'NoGrant', 'AccessNotReady'] as const) expect(ISSUER_ERRORS[c].status).toBe(403);
    expect(ISSUER_ERRORS.RateLimited.status).toBe(429);
    expect(ISSUER_ERRORS.Timeout.status).toBe(504);
  });

  it('holds every code the Kubernetes side throws', () => {
    for (const code of [...IDENTITY_ERROR_CODES, 'StoreCredentialsUnavailable']) expect(isIssuerErrorCode(code), code).toBe(true);
  });

  it('never lets a 401 say why', () => {
    const e = new IssuerError('Unauthenticated', 'audience sts.amazonaws.com is not valet.dev');
    expect(e.message).toBe('authentication failed');
    expect(toIssuerError(new ValetError('Unauthenticated', 'token expired at 12:00', 401)).message).toBe('authentication failed');
  });

  it('keeps the code and message of a ValetError from the table, and hides anything else as Internal', () => {
    const known = toIssuerError(new ValetError('PodNotFound', 'pod team-a/x does not exist', 403));
    expect(known).toMatchObject({ code: 'PodNotFound', httpStatus: 403, message: 'pod team-a/x does not exist' });
    const unknown = toIssuerError(new Error('secret=hunter2 leaked into an exception'));
    expect(unknown).toMatchObject({ code: 'Internal', httpStatus: 500, message: 'internal error' });
    expect(JSON.stringify(errorBody(unknown))).not.toContain('hunter2');
  });

  it('puts the refusal reasons into the body', () => {
    const e = new IssuerError('NoGrant', undefined, { refusals: [{ access: 'ns/a', reason: 'NotReady', message: 'not Ready: X' }] });
    expect(errorBody(e)).toEqual({ error: { code: 'NoGrant', message: ISSUER_ERRORS.NoGrant.message, reasons: [{ access: 'ns/a', reason: 'NotReady', message: 'not Ready: X' }] } });
  });
});
