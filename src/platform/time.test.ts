import { describe, expect, it } from 'vitest';
import { rfc3339 } from './time.ts';

describe('rfc3339', () => {
  it('writes UTC with whole seconds, truncated, from a Date or epoch milliseconds', () => {
    expect(rfc3339(Date.UTC(2026, 11, 5, 20, 44, 57, 999))).toBe('2026-12-05T20:44:57Z');
    expect(rfc3339(new Date(Date.UTC(2026, 0, 1)))).toBe('2026-01-01T00:00:00Z');
  });
});
