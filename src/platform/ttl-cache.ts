// A bounded cache of promises with a time to live decided when each settles: concurrent callers
// share one call in flight, a result is kept as long as the caller says (0: forget, e.g. a failure),
// and the oldest settled entries go first once the bound is passed. Wall-clock ms from the caller.

interface Entry<T> {
  value: Promise<T>;
  /** Wall ms; Infinity while the call is in flight. */
  expires: number;
}

export class TtlCache<T> {
  private readonly map = new Map<string, Entry<T>>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(key: string, now: number): Promise<T> | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }
  /** Caches `value` while in flight; once settled, until `ttl(result)` says (0: forget). */
  put(key: string, value: Promise<T>, now: () => number, ttl: (ok: boolean, err?: unknown) => number): void {
    const entry: Entry<T> = { value, expires: Infinity };
    this.map.set(key, entry);
    const settle = (ok: boolean, err?: unknown) => {
      const ms = ttl(ok, err);
      if (ms <= 0) {
        if (this.map.get(key) === entry) this.map.delete(key);
      } else entry.expires = now() + ms;
    };
    value.then(
      () => settle(true),
      (err: unknown) => settle(false, err),
    );
    if (this.map.size > this.max) {
      const t = now();
      for (const [k, e] of this.map) {
        if (this.map.size <= this.max && e.expires > t) break;
        if (e.expires !== Infinity || this.map.size > this.max * 2) this.map.delete(k);
      }
    }
  }
  size(): number {
    return this.map.size;
  }
}
