// Concurrent calls with the same key share one execution (Go's singleflight): a burst of requests
// from one pod, or from every pod of a shared session, costs one STS call. The key is forgotten as
// soon as the call settles, so a failure is not remembered.
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  /** Runs `fn` unless a call for `key` is in flight; `shared` says whether this caller joined one. */
  do(key: string, fn: () => Promise<T>): { promise: Promise<T>; shared: boolean } {
    const running = this.flights.get(key);
    if (running) return { promise: running, shared: true };
    const promise = (async () => {
      try {
        return await fn();
      } finally {
        this.flights.delete(key);
      }
    })();
    this.flights.set(key, promise);
    return { promise, shared: false };
  }

  /** Calls in flight. */
  size(): number {
    return this.flights.size;
  }
}
