import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sessionName, stsName } from './session-name.ts';

describe('session names', () => {
  it('name the namespace and pod', () => {
    expect(sessionName('team-a', 'trainer-0')).toBe('valet-team-a-trainer-0');
  });

  it('fit STS: 2–64 characters of [\\w+=,.@-]', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 300 }), (ns, who) => {
        const n = sessionName(ns, who);
        expect(n).toMatch(/^[\w+=,.@-]{2,64}$/);
      }),
    );
  });

  it('stay unique when cut to 64 characters or when sanitising merges names', () => {
    const long = 'x'.repeat(63);
    const a = sessionName('team-a', `${long}-0`);
    const b = sessionName('team-a', `${long}-1`);
    expect(a).toHaveLength(64);
    expect(a).not.toBe(b);
    expect(a.startsWith('valet-team-a-xxx')).toBe(true);
    expect(stsName(['a/b'])).not.toBe(stsName(['a:b']));
  });
});
