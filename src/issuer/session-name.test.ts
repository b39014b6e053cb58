import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sessionName, stsName } from './session-name.ts';

describe('session names', () => {
  it('name the namespace and pod', () => {
    expect(sessionName('team-a', 'trainer-0')).toBe('valet.team-a.trainer-0');
    expect(sessionName('team-a', 'trainer', 'serviceAccount')).toBe('valet-sa.team-a.trainer');
  });

  it('never give two pods of different namespaces, or a pod and a shared session, the same name', () => {
    // With '-' joining them, these pairs collided.
    expect(sessionName('a-b', 'c')).not.toBe(sessionName('a', 'b-c'));
    expect(sessionName('team', 'a-trainer-0')).not.toBe(sessionName('team-a', 'trainer-0'));
    expect(sessionName('team-a', 'trainer')).not.toBe(sessionName('team-a', 'trainer', 'serviceAccount'));
    // Namespaces are DNS labels, pods DNS subdomains: any two distinct (namespace, pod) differ.
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
    const subdomain = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,60}[a-z0-9])?$/);
    fc.assert(
      fc.property(label, subdomain, label, subdomain, (ns1, p1, ns2, p2) => {
        fc.pre(ns1 !== ns2 || p1 !== p2);
        expect(sessionName(ns1, p1)).not.toBe(sessionName(ns2, p2));
      }),
      { numRuns: 2000 },
    );
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
    expect(a.startsWith('valet.team-a.xxx')).toBe(true);
    expect(stsName(['a/b'])).not.toBe(stsName(['a:b']));
  });
});
