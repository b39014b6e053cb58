// An informer that keeps going. client-node's ListWatch (what makeInformer builds) recovers from
// 410 Gone and from quiet watch timeouts by itself, but on any other error (apiserver restarting,
// connection refused, 5xx, 403) it emits 'error' and stops for good. This wrapper restarts it with
// capped, jittered backoff, keeping its cache and resourceVersion, so the watch resumes where it
// left off (or relists when that version is gone).
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObject, V1Namespace } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/v1alpha1/index.ts';
import { addedJitter } from '../platform/backoff.ts';
import { ValetError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { ObjectLike } from './keys.ts';
import type { TimerHandle, Timers } from '../platform/timers.ts';
import { sleep, systemTimers } from '../platform/timers.ts';

export type InformerEvent = 'add' | 'update' | 'delete';
export type ObjectHandler<T> = (obj: T) => void;

/** A list response: the items and the resourceVersion to watch from. */
export interface ObjectList<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

/** The part of client-node's ListWatch (Informer & ObjectCache) used here; tests pass a fake. */
export interface ListWatchLike<T> {
  on(verb: InformerEvent, cb: ObjectHandler<T>): void;
  on(verb: 'error', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

/**
 * What to list and watch: the watch path and a list call for the same objects and selectors.
 * Objects only need ObjectLike metadata: custom objects arrive as plain JSON (timestamps are
 * strings), so Valet's own API types fit without claiming to be client-node models.
 */
export interface InformerSource<T extends ObjectLike> {
  path: string;
  list: () => Promise<ObjectList<T>>;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface RestartableInformerOptions<T extends ObjectLike> extends InformerSource<T> {
  /** Names the informer in logs and metrics, e.g. the resource plural. */
  name: string;
  /** Used to open watches; required unless `makeListWatch` is given. */
  kubeConfig?: KubeConfig;
  /** Builds the underlying list-watch; tests pass a fake. Defaults to client-node's ListWatch. */
  makeListWatch?: (source: InformerSource<T>, delay: (ms: number) => Promise<void>) => ListWatchLike<T>;
  timers?: Timers;
  random?: () => number;
  logger?: Logger;
  /** Restart backoff after errors: base doubles per consecutive failure, up to max. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Called each time a restart is scheduled (count it for metrics). */
  onRestart?: (err: unknown, attempt: number, delayMs: number) => void;
}

export class RestartableInformer<T extends ObjectLike> {
  readonly name: string;
  private readonly lw: ListWatchLike<T>;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly logger: Logger | undefined;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly onRestart: RestartableInformerOptions<T>['onRestart'];
  private readonly handlers: Record<InformerEvent, Array<ObjectHandler<T>>> = { add: [], update: [], delete: [] };
  private running = false;
  /** Bumped on every (re)start and stop, so stale callbacks of an earlier attempt do nothing. */
  private epoch = 0;
  private attemptFailed = false;
  private failures = 0;
  private restartCount = 0;
  private restartTimer: TimerHandle | undefined;
  private synced = false;
  private syncWaiters: Array<(synced: boolean) => void> = [];

  constructor(opts: RestartableInformerOptions<T>) {
    this.name = opts.name;
    this.timers = opts.timers ?? systemTimers;
    this.random = opts.random ?? Math.random;
    this.logger = opts.logger?.child({ informer: opts.name });
    this.baseMs = opts.backoff?.baseMs ?? 500;
    this.maxMs = opts.backoff?.maxMs ?? 15_000;
    this.onRestart = opts.onRestart;
    const source: InformerSource<T> = { path: opts.path, list: opts.list, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    const make = opts.makeListWatch ?? defaultListWatch<T>(opts.kubeConfig);
    this.lw = make(source, (ms) => this.reconnectDelay(ms));
    for (const verb of ['add', 'update', 'delete'] as const) this.lw.on(verb, (obj) => this.emit(verb, obj));
    this.lw.on('error', (err) => this.failed(err));
  }

  on(event: InformerEvent, fn: ObjectHandler<T>): void {
    this.handlers[event].push(fn);
  }

  /** Starts listing and watching; returns at once. Use `waitForSync` before trusting the cache. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.attempt();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.epoch++;
    if (this.restartTimer !== undefined) this.timers.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    for (const wake of this.syncWaiters.splice(0)) wake(false);
    await this.lw.stop();
  }

  /** True once a full list has been loaded into the cache (it stays true across restarts). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, or false if stopped or `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (!this.running || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== wake);
        resolve(false);
      };
      const wake = (synced: boolean) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(synced);
      };
      this.syncWaiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The cached object; pass `undefined` as namespace for cluster-scoped objects. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  /** Cached objects, of one namespace or of all. */
  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace);
  }

  /** How many times the informer has been restarted after an error. */
  restarts(): number {
    return this.restartCount;
  }

  private async attempt(): Promise<void> {
    const epoch = ++this.epoch;
    this.attemptFailed = false;
    try {
      await this.lw.stop(); // aborts any request an earlier attempt left open; start() re-arms it
      await this.lw.start();
    } catch (err) {
      this.failed(err);
      return;
    }
    // ListWatch.start() resolves once the list (if one was needed) is in the cache and the watch
    // request is open; errors on the way were reported through 'error' and set attemptFailed.
    if (epoch !== this.epoch || !this.running || this.attemptFailed) return;
    this.failures = 0;
    if (!this.synced) {
      this.synced = true;
      this.logger?.info('informer synced', { objects: this.lw.list().length });
      for (const wake of this.syncWaiters.splice(0)) wake(true);
    }
  }

  private failed(err: unknown): void {
    if (!this.running) return;
    this.attemptFailed = true;
    if (this.restartTimer !== undefined) return;
    const delayMs = this.backoff(this.failures++);
    this.restartCount++;
    // Warn on the first failure of a streak and every tenth after; the rest are repeats (debug).
    const log = this.failures === 1 || this.failures % 10 === 0 ? 'warn' : 'debug';
    this.logger?.[log]('informer failed; restarting', { err, cause: causeOf(err), attempt: this.failures, delayMs });
    try {
      this.onRestart?.(err, this.failures, delayMs);
    } catch {
      // metrics must not stop restarts
    }
    this.restartTimer = this.timers.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.running) void this.attempt();
    }, delayMs);
  }

  backoff(n: number): number {
    return addedJitter(n, { baseMs: this.baseMs, maxMs: this.maxMs }, 0.2, this.random());
  }

  /**
   * ListWatch waits through this before reconnecting after a clean close. If this informer was
   * stopped or restarted meanwhile, the wait never ends, so the stale reconnect never opens a
   * second watch (ListWatch checks its stopped flag only before the wait).
   */
  private async reconnectDelay(ms: number): Promise<void> {
    const epoch = this.epoch;
    await sleep(this.timers, ms);
    if (epoch !== this.epoch || !this.running) await new Promise<never>(() => {});
  }

  private emit(event: InformerEvent, obj: T): void {
    for (const fn of this.handlers[event]) {
      try {
        fn(obj);
      } catch (err) {
        // A throwing handler would break ListWatch's own loop; contain it here.
        this.logger?.error('informer handler threw', { event, err });
      }
    }
  }
}

/** undici reports "fetch failed" and keeps the reason (ECONNREFUSED, …) in `cause`. */
function causeOf(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (!cause) return undefined;
  return typeof cause.code === 'string' ? cause.code : typeof cause.message === 'string' ? cause.message : undefined;
}

/**
 * client-node's Watch, except that a throw before the request starts (credentials that cannot be
 * loaded, no cluster) is reported through `done` like any other error. Otherwise ListWatch would
 * get an unhandled rejection on reconnect and stop without telling anyone.
 */
class ReportingWatch extends Watch {
  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    try {
      return await super.watch(...args);
    } catch (err) {
      args[3](err);
      return new AbortController();
    }
  }
}

function defaultListWatch<T extends ObjectLike>(kubeConfig: KubeConfig | undefined) {
  return (source: InformerSource<T>, delay: (ms: number) => Promise<void>): ListWatchLike<T> => {
    if (!kubeConfig) throw new ValetError('InformerConfig', 'a RestartableInformer needs kubeConfig or makeListWatch');
    // What makeInformer does, plus the field selector and the injected reconnect delay.
    const list = source.list as () => Promise<{ items: KubernetesObject[] }>;
    const lw = new ListWatch<KubernetesObject>(source.path, new ReportingWatch(kubeConfig), list, false, source.labelSelector, source.fieldSelector, { delayFn: delay });
    return lw as unknown as ListWatchLike<T>;
  };
}


export interface CustomResource {
  group?: string;
  version?: string;
  /** Lower-case plural, e.g. 'datasetaccesses'. */
  plural: string;
}

/** The watch path of a custom resource: all namespaces (or cluster-scoped) unless `namespace`. */
export function customObjectPath(res: CustomResource, namespace?: string): string {
  const gv = `/apis/${res.group ?? GROUP}/${res.version ?? VERSION}`;
  return namespace ? `${gv}/namespaces/${encodeURIComponent(namespace)}/${res.plural}` : `${gv}/${res.plural}`;
}

/**
 * List and watch for a custom resource. Without a namespace, GET /apis/{group}/{version}/{plural}
 * (listClusterCustomObject) serves both cluster-scoped kinds and namespaced kinds across all
 * namespaces; it is the same request as listCustomObjectForAllNamespaces.
 */
export function customObjectSource<T extends ObjectLike>(
  api: Pick<CustomObjectsApi, 'listClusterCustomObject' | 'listNamespacedCustomObject'>,
  res: CustomResource,
  opts: { namespace?: string; labelSelector?: string } = {},
): InformerSource<T> {
  const group = res.group ?? GROUP;
  const version = res.version ?? VERSION;
  const { namespace, labelSelector } = opts;
  const list = namespace
    ? () => api.listNamespacedCustomObject({ group, version, namespace, plural: res.plural, labelSelector })
    : () => api.listClusterCustomObject({ group, version, plural: res.plural, labelSelector });
  return { path: customObjectPath(res, namespace), list: list as () => Promise<ObjectList<T>>, labelSelector };
}

/** List and watch for Namespaces (cluster stores select namespaces by label). */
export function namespaceSource(core: Pick<CoreV1Api, 'listNamespace'>, opts: { labelSelector?: string } = {}): InformerSource<V1Namespace> {
  return { path: '/api/v1/namespaces', list: () => core.listNamespace({ labelSelector: opts.labelSelector }), labelSelector: opts.labelSelector };
}
