import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import { memoryLogger } from '../platform/logger.ts';
import { customObjectPath, customObjectSource, RestartableInformer } from './informer.ts';
import type { InformerSource, ListWatchLike } from './informer.ts';
import { FakeTimers, flush } from '../platform/timers.ts';

type Obj = KubernetesObject;
const obj = (ns: string, name: string, rv = '1'): Obj => ({ metadata: { namespace: ns, name, resourceVersion: rv } });

/** Stands in for client-node's ListWatch: each start() plays the next scripted outcome. */
class FakeListWatch implements ListWatchLike<Obj> {
  readonly cache = new Map<string, Obj>();
  readonly cbs: Record<string, Array<(x: never) => void>> = { add: [], update: [], delete: [], error: [], connect: [] };
  starts = 0;
  script: Array<{ list?: Obj[]; error?: unknown; throws?: unknown }> = [];
  on(verb: string, cb: (x: never) => void): void {
    this.cbs[verb]?.push(cb);
  }
  off(): void {}
  async start(): Promise<void> {
    this.starts++;
    const step = this.script.shift() ?? {};
    if (step.throws) throw step.throws;
    if (step.list) for (const o of step.list) this.put(o);
    if (step.error) this.fire('error', step.error);
  }
  async stop(): Promise<void> {}
  get(name: string, namespace?: string): Obj | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
  }
  list(): readonly Obj[] {
    return [...this.cache.values()];
  }
  put(o: Obj): void {
    const key = `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
    const verb = this.cache.has(key) ? 'update' : 'add';
    this.cache.set(key, o);
    this.fire(verb, o);
  }
  fire(verb: string, x: unknown): void {
    for (const cb of this.cbs[verb] ?? []) cb(x as never);
  }
}

function setup(script: FakeListWatch['script']) {
  const clock = new FakeClock();
  const timers = new FakeTimers(clock);
  const fake = new FakeListWatch();
  fake.script = script;
  const restarts: Array<[number, number]> = [];
  const logger = memoryLogger();
  const informer = new RestartableInformer<Obj>({
    name: 'things',
    path: '/apis/x/v1/things',
    list: async () => ({ items: [] }),
    makeListWatch: () => fake,
    timers,
    random: () => 0,
    logger,
    backoff: { baseMs: 1_000, maxMs: 4_000 },
    onRestart: (_err, attempt, delayMs) => restarts.push([attempt, delayMs]),
  });
  return { timers, fake, informer, restarts, logger };
}

describe('RestartableInformer', () => {
  it('syncs, serves the cache, and passes events to handlers', async () => {
    const { informer, fake } = setup([{ list: [obj('a', 'x')] }]);
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    expect(informer.hasSynced()).toBe(false);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    expect(informer.get('a', 'x')?.metadata?.name).toBe('x');
    expect(informer.get('b', 'x')).toBeUndefined();
    fake.put(obj('a', 'x', '2'));
    expect(seen).toEqual(['add x', 'update x']);
    expect(informer.list()).toHaveLength(1);
    await informer.stop();
  });

  it('restarts after errors with capped backoff and resets the backoff once healthy', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const { informer, fake, timers, restarts } = setup([{ error: refused }, { throws: refused }, { error: refused }, { error: refused }, { list: [obj('a', 'x')] }]);
    informer.start();
    await flush();
    expect(informer.hasSynced()).toBe(false);
    await timers.advance(1_000 + 2_000 + 4_000 + 4_000);
    expect(fake.starts).toBe(5);
    expect(restarts).toEqual([
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 4_000],
    ]);
    expect(informer.hasSynced()).toBe(true);
    expect(informer.restarts()).toBe(4);

    // A later error (the watch dropping) starts again from the base delay.
    fake.fire('error', refused);
    await timers.advance(1_000);
    expect(fake.starts).toBe(6);
    expect(restarts.at(-1)).toEqual([1, 1_000]);
    await informer.stop();
  });

  it('keeps working when a handler throws', async () => {
    const { informer, fake, logger } = setup([{}]);
    const seen: string[] = [];
    informer.on('add', () => {
      throw new Error('bad handler');
    });
    informer.on('add', (o) => seen.push(o.metadata?.name ?? ''));
    informer.start();
    await flush();
    fake.put(obj('a', 'y'));
    expect(seen).toEqual(['y']);
    expect(logger.lines.some((l) => l.msg === 'informer handler threw')).toBe(true);
    await informer.stop();
  });

  it('does not restart after stop', async () => {
    const { informer, fake, timers } = setup([{ error: new Error('x') }]);
    informer.start();
    await flush();
    await informer.stop();
    await timers.advance(60_000);
    expect(fake.starts).toBe(1);
    expect(await informer.waitForSync()).toBe(false);
  });
});

describe('custom object sources', () => {
  it('builds watch paths for cluster-wide and namespaced watches', () => {
    expect(customObjectPath({ plural: 'datasetaccesses' })).toBe('/apis/valet.dev/v1alpha1/datasetaccesses');
    expect(customObjectPath({ plural: 'datasetstores' }, 'team-a')).toBe('/apis/valet.dev/v1alpha1/namespaces/team-a/datasetstores');
  });

  it('lists with the same selector it watches with', async () => {
    const calls: unknown[] = [];
    const api = {
      listClusterCustomObject: async (p: unknown) => (calls.push(p), { items: [] }),
      listNamespacedCustomObject: async (p: unknown) => (calls.push(p), { items: [] }),
    };
    const source: InformerSource<Obj> = customObjectSource(api as never, { plural: 'clusterdatasetstores' }, { labelSelector: 'a=b' });
    await source.list();
    expect(calls).toEqual([{ group: 'valet.dev', version: 'v1alpha1', plural: 'clusterdatasetstores', labelSelector: 'a=b' }]);
    expect(source.labelSelector).toBe('a=b');
  });
});
