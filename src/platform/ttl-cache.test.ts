import { describe, expect, it } from 'vitest';
import { TtlCache } from './ttl-cache.ts';

describe('TtlCache', () => {
  it('shares a call in flight, keeps a success for its TTL, and forgets a failure at once', async () => {
    let now = 0;
    const cache = new TtlCache<number>(10);
    const ttl = (ok: boolean) => (ok ? 1000 : 0);
    const first = Promise.resolve(1);
    cache.put('a', first, () => now, ttl);
    expect(cache.get('a', now)).toBe(first);
    await first;
    now = 999;
    expect(cache.get('a', now)).toBe(first);
    now = 1000;
    expect(cache.get('a', now)).toBeUndefined();

    const failed = Promise.reject(new Error('no'));
    cache.put('b', failed, () => now, ttl);
    expect(cache.get('b', now)).toBe(failed);
    await failed.catch(() => undefined);
    await Promise.resolve();
    expect(cache.get('b', now)).toBeUndefined();
  });

  it('stays within its bound by dropping settled entries first', async () => {
    const cache = new TtlCache<number>(2);
    const settled = [1, 2, 3].map((n) => Promise.resolve(n));
    for (const [i, p] of settled.entries()) cache.put(`k${i}`, p, () => 0, () => 1000);
    await Promise.all(settled);
    cache.put('k3', Promise.resolve(4), () => 0, () => 1000);
    expect(cache.size()).toBeLessThanOrEqual(2);
    expect(cache.get('k3', 0)).toBeDefined();
  });
});
