import { describe, expect, it } from 'vitest';
import { RunnableManager } from './runnables.ts';
import type { Runnable } from './runnables.ts';

function part(name: string, log: string[], opts: { ready?: () => boolean; failStart?: boolean; hangStop?: boolean } = {}): Runnable {
  return {
    name,
    start: () => {
      if (opts.failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    ...(opts.ready ? { ready: opts.ready } : {}),
    stop: () => (opts.hangStop ? new Promise<void>(() => undefined) : void log.push(`stop ${name}`)),
  };
}

describe('RunnableManager', () => {
  it('starts in order, stops in reverse order', async () => {
    const log: string[] = [];
    const m = new RunnableManager();
    for (const n of ['caches', 'issuer', 'leader']) m.add(part(n, log));
    await m.start();
    expect(await m.stop(1000)).toEqual({ timedOut: [], failed: [] });
    expect(log).toEqual(['start caches', 'start issuer', 'start leader', 'stop leader', 'stop issuer', 'stop caches']);
  });

  it('is ready only when every part is started and says it is ready', async () => {
    let synced = false;
    const m = new RunnableManager();
    m.add(part('caches', [], { ready: () => synced }));
    m.add(part('issuer', []));
    expect(m.notReady()).toEqual(['caches', 'issuer']);
    await m.start();
    expect(m.notReady()).toEqual(['caches']);
    expect(m.ready()).toBe(false);
    synced = true;
    expect(m.ready()).toBe(true);
  });

  it('stops what it started when a later part fails to start, and throws that error', async () => {
    const log: string[] = [];
    const m = new RunnableManager();
    m.add(part('caches', log));
    m.add(part('issuer', log, { failStart: true }));
    m.add(part('leader', log));
    await expect(m.start()).rejects.toThrow('issuer cannot start');
    expect(log).toEqual(['start caches', 'stop caches']);
  });

  it('does not wait past the bound for a part that hangs, and names it', async () => {
    const log: string[] = [];
    const m = new RunnableManager();
    m.add(part('caches', log));
    m.add(part('stuck', log, { hangStop: true }));
    await m.start();
    const report = await m.stop(50);
    expect(report.timedOut).toEqual(['stuck']);
    // The part after the stuck one (in stop order) still got its turn.
    expect(log).toContain('stop caches');
  });

  it('stops one part and starts it again, not ready meanwhile, and keeps its place in the stop order', async () => {
    const log: string[] = [];
    const m = new RunnableManager();
    for (const n of ['caches', 'issuer', 'leader']) m.add(part(n, log));
    await m.start();
    await m.stopPart('issuer');
    expect(m.notReady()).toEqual(['issuer']);
    await expect(m.stopPart('issuer')).rejects.toThrow('no started part named "issuer"');
    await m.startPart('issuer');
    await expect(m.startPart('issuer')).rejects.toThrow('part "issuer" is running');
    expect(m.ready()).toBe(true);
    await m.stop(1000);
    expect(log).toEqual(['start caches', 'start issuer', 'start leader', 'stop issuer', 'start issuer', 'stop leader', 'stop issuer', 'stop caches']);
  });
});
