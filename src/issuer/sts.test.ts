import { describe, expect, it } from 'vitest';
import { classifyStsError, stsErrorName } from './sts.ts';
import { awsError } from './testdata/fixtures.ts';

describe('classifying STS failures', () => {
  it('tells throttling, outages, server errors and refusals apart', () => {
    expect(classifyStsError(awsError('Throttling', 400))).toBe('throttled');
    expect(classifyStsError(awsError('SlowDown', 503))).toBe('throttled');
    expect(classifyStsError(awsError('Whatever', 429))).toBe('throttled');
    expect(classifyStsError(awsError('InternalError', 500))).toBe('server');
    expect(classifyStsError(awsError('ServiceUnavailable', 503))).toBe('server');
    expect(classifyStsError(awsError('AccessDenied', 403))).toBe('rejected');
    expect(classifyStsError(awsError('MalformedPolicyDocument', 400))).toBe('rejected');
    expect(classifyStsError(awsError('Error', undefined, 'ECONNREFUSED'))).toBe('unavailable');
    expect(classifyStsError(Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNRESET' } }))).toBe('unavailable');
    expect(classifyStsError(awsError('TimeoutError'))).toBe('unavailable');
    expect(classifyStsError(awsError('AbortError'))).toBe('aborted');
  });

  it('names an error without its text', () => {
    expect(stsErrorName(awsError('AccessDenied', 403))).toBe('AccessDenied');
    expect(stsErrorName(awsError('Error', undefined, 'ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(stsErrorName({ name: 'a b<script>' })).toBe('abscript');
  });
});
