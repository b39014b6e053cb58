// An in-memory list-watch for SharedInformers in unit tests and benches: put and remove objects,
// and the informers' handlers (the ClaimIndex among them) see add, update and delete events as
// they would from a watch. No API server. Kept by namespace, then name, as client-node's
// ListWatch cache is: list(namespace) costs that namespace's objects, list() copies them all.
import type { InformerEvent, InformerSource, ListWatchLike, ObjectHandler } from '../informer.ts';
import type { ObjectLike } from '../keys.ts';

export class MemoryListWatch<T extends ObjectLike> implements ListWatchLike<T> {
  private readonly objects = new Map<string, Map<string, T>>();
  private readonly handlers: Record<InformerEvent | 'error', Array<(x: never) => void>> = { add: [], update: [], delete: [], error: [] };

  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  on(verb: InformerEvent, cb: ObjectHandler<T>): void;
  on(verb: 'error', cb: (err?: unknown) => void): void;
  on(verb: InformerEvent | 'error', cb: (x: never) => void): void {
    this.handlers[verb].push(cb);
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ?? '')?.get(name);
  }

  list(namespace?: string): readonly T[] {
    if (!namespace) return [...this.objects.values()].flatMap((m) => [...m.values()]);
    return [...(this.objects.get(namespace)?.values() ?? [])];
  }

  /** Adds or replaces an object, as a watch's ADDED or MODIFIED event. */
  put(o: T): void {
    const ns = o.metadata?.namespace ?? '';
    let m = this.objects.get(ns);
    if (!m) this.objects.set(ns, (m = new Map()));
    const verb = m.has(o.metadata?.name ?? '') ? 'update' : 'add';
    m.set(o.metadata?.name ?? '', o);
    for (const cb of this.handlers[verb]) cb(o as never);
  }

  /** Removes an object, as a watch's DELETED event. */
  remove(o: T): void {
    const ns = o.metadata?.namespace ?? '';
    const had = this.objects.get(ns)?.get(o.metadata?.name ?? '');
    if (!had) return;
    this.objects.get(ns)?.delete(o.metadata?.name ?? '');
    for (const cb of this.handlers.delete) cb(had as never);
  }
}

/** A makeListWatch for SharedInformers that keeps every list-watch it makes, by watch path. */
export function memoryListWatches(): { make: <T extends ObjectLike>(source: InformerSource<T>) => ListWatchLike<T>; of: <T extends ObjectLike>(pathEnd: string) => MemoryListWatch<T> } {
  const made: MemoryListWatch<ObjectLike>[] = [];
  return {
    make: <T extends ObjectLike>(source: InformerSource<T>) => {
      const lw = new MemoryListWatch<T>(source.path);
      made.push(lw as unknown as MemoryListWatch<ObjectLike>);
      return lw;
    },
    of: <T extends ObjectLike>(pathEnd: string) => {
      const lw = made.find((m) => m.path.endsWith(`/${pathEnd}`));
      if (!lw) throw new Error(`no list-watch for ${pathEnd}`);
      return lw as unknown as MemoryListWatch<T>;
    },
  };
}
