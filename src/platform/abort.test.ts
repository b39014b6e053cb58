import { describe, expect, it } from 'vitest';
import { aborted, raceAbort } from './abort.ts';

describe('raceAbort', () => {
  it('settles as the promise does while the signal stays quiet', async () => {
    const c = new AbortController();
    await expect(raceAbort(Promise.resolve(7), c.signal, () => new Error('late'))).resolves.toBe(7);
    await expect(raceAbort(Promise.reject(new Error('own')), c.signal, () => new Error('late'))).rejects.toThrow('own');
  });

  it('rejects with the given reason as soon as the signal aborts, even if the promise never settles', async () => {
    const c = new AbortController();
    const p = raceAbort(new Promise<never>(() => undefined), c.signal, (s) => new Error(`stopped: ${String(s.reason)}`));
    c.abort('deadline');
    await expect(p).rejects.toThrow('stopped: deadline');
    const done = new AbortController();
    done.abort();
    await expect(raceAbort(Promise.resolve(1), done.signal, () => new Error('already'))).rejects.toThrow('already');
  });
});

describe('aborted', () => {
  it('resolves once the signal aborts, and at once for an aborted one', async () => {
    const c = new AbortController();
    let done = false;
    const p = aborted(c.signal).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    c.abort();
    await p;
    expect(done).toBe(true);
    await aborted(AbortSignal.abort());
  });
});
