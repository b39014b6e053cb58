import { describe, expect, it } from 'vitest';
import { createLogger } from '../platform/logger.ts';
import { boundedAfterAbort } from './start.ts';

describe('leader-only work after the Lease is lost', () => {
  it('is waited for while it stops in time, and abandoned (with a warning) once the bound passes', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });

    const quick = new AbortController();
    let stopped = false;
    const work = new Promise<void>((resolve) => quick.signal.addEventListener('abort', () => setTimeout(() => ((stopped = true), resolve()), 5)));
    quick.abort();
    await boundedAfterAbort(work, quick.signal, 1000, logger);
    expect(stopped).toBe(true);
    expect(lines).toEqual([]);

    const stuck = new AbortController();
    let done = false;
    const waiting = boundedAfterAbort(new Promise<void>(() => undefined), stuck.signal, 20, logger).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 40));
    // No abort yet: the work may run as long as it leads.
    expect(done).toBe(false);
    stuck.abort();
    await waiting;
    expect(done).toBe(true);
    expect(lines.join('\n')).toContain('did not stop within its bound');
  });
});
