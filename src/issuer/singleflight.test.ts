import { describe, expect, it } from 'vitest';
import { SingleFlight } from './singleflight.ts';

describe('SingleFlight', () => {
  it('runs concurrent calls with one key once, and forgets the key when it settles', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    let release: (v: number) => void = () => {};
    const fn = () => {
      runs++;
      return new Promise<number>((r) => (release = r));
    };
    const a = sf.do('k', fn);
    const b = sf.do('k', fn);
    const c = sf.do('other', async () => 7);
    expect([a.shared, b.shared, c.shared]).toEqual([false, true, false]);
    release(42);
    expect(await Promise.all([a.promise, b.promise, c.promise])).toEqual([42, 42, 7]);
    expect(runs).toBe(1);
    expect(sf.size()).toBe(0);
    expect(sf.do('k', async () => 1).shared).toBe(false);
  });

  it('shares a failure with the callers in flight, but does not remember it', async () => {
    const sf = new SingleFlight<number>();
    const a = sf.do('k', async () => {
      throw new Error('boom');
    });
    const b = sf.do('k', async () => 1);
    await expect(a.promise).rejects.toThrow('boom');
    await expect(b.promise).rejects.toThrow('boom');
    expect(await sf.do('k', async () => 2).promise).toBe(2);
  });
});
