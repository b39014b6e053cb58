import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClaimIndex } from './claim-index.ts';

const overlaps = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

describe('ClaimIndex', () => {
  it('finds exactly the overlapping claims a scan of all would find, through adds and removes', () => {
    const segment = fc.constantFrom('a', 'b', 'ab', 'data', 'x');
    const folder = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `${s.join('/')}/`);
    const prefix = fc.oneof({ weight: 9, arbitrary: folder }, { weight: 1, arbitrary: fc.constantFrom('a', 'ab', 'data/x', '') });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 15 }), prefix), { maxLength: 60 }), prefix, (ops, query) => {
        const index = new ClaimIndex();
        const live = new Map<string, string>();
        for (const [add, n, p] of ops) {
          const key = `k${n}`;
          const had = live.get(key);
          if (had !== undefined) {
            index.remove(key, had);
            live.delete(key);
          }
          if (add) {
            index.add(key, p);
            live.set(key, p);
          }
        }
        const expected = [...live].filter(([, p]) => overlaps(p, query)).map(([k]) => k).sort();
        const found = [...index.candidates(query, () => live.keys())].filter((k) => overlaps(live.get(k) ?? '\0', query)).sort();
        expect(found).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('looks only at the folders involved, not at every claim', () => {
    const index = new ClaimIndex();
    for (let i = 0; i < 1000; i++) index.add(`ns-${i}/a`, `teams/ns-${i}/`);
    index.add('shared/a', 'teams/');
    expect([...index.candidates('teams/ns-7/', () => [])].sort()).toEqual(['ns-7/a', 'shared/a']);
    expect([...index.candidates('teams/ns-7/x/', () => [])].sort()).toEqual(['ns-7/a', 'shared/a']);
  });
});
