// Waiting on an AbortSignal, written once.

/**
 * `promise`, or a rejection with `reason(signal)` as soon as `signal` aborts, whatever `promise` is
 * still doing (a deadline that must answer even when the work it bounds does not stop).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, reason: (signal: AbortSignal) => unknown): Promise<T> {
  if (signal.aborted) return Promise.reject(reason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Resolves when `signal` aborts (at once if it has). Never rejects. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
