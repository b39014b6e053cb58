// Kubernetes Events (core/v1) for transitions a user should see in `kubectl describe`.
// Best effort: a failed Event is logged, never thrown. Repeats of the same type, reason and message
// for the same object within a window are not emitted again; they bump the first Event's count
// (at most once a minute). Callers pass safe text: messages must never contain secrets.
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { ObjectLike } from './keys.ts';

export type EventType = 'Normal' | 'Warning';
/** Creates an Event from plain JSON and reads back only its name (src/k8s/clients.ts's core does). */
export interface EventPoster {
  createEventNamed(namespace: string, event: CoreV1Event): Promise<string | undefined>;
}

/** client-node's calls; with `createEventNamed` too, Events are created through it (no model round trip). */
export type EventApi = Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'> & Partial<EventPoster>;

export interface EventRecorderOptions {
  core: EventApi;
  clock?: Clock;
  logger?: Logger;
  /** source.component and reportingComponent. Default 'valet'. */
  component?: string;
  /** reportingInstance, e.g. the pod name. */
  instance?: string;
  /** Repeats within this window are counted, not emitted. Default 10 minutes. */
  dedupeWindowMs?: number;
  /** Repeats update the Event's count at most this often. Default 1 minute. */
  countUpdateIntervalMs?: number;
  /** Bound on remembered (object, reason, message) entries. Default 4096. */
  maxTracked?: number;
}

interface Seen {
  first: number;
  lastWrite: number;
  count: number;
  namespace: string;
  name?: string;
}

// API server limits for Events (k8s.io/kubernetes/pkg/apis/core/validation).
const MAX_MESSAGE = 1024;
const MAX_REASON = 128;

export class EventRecorder {
  private readonly core: EventApi;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly component: string;
  private readonly instance: string;
  private readonly windowMs: number;
  private readonly countUpdateMs: number;
  private readonly maxTracked: number;
  private readonly seen = new Map<string, Seen>();

  constructor(opts: EventRecorderOptions) {
    this.core = opts.core;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    this.component = opts.component ?? 'valet';
    this.instance = opts.instance ?? '';
    this.windowMs = opts.dedupeWindowMs ?? 10 * 60_000;
    this.countUpdateMs = opts.countUpdateIntervalMs ?? 60_000;
    this.maxTracked = opts.maxTracked ?? 4096;
  }

  /** Records an Event about `obj` (which needs apiVersion, kind and metadata.name). Never rejects. */
  async record(obj: ObjectLike, type: EventType, reason: string, message: string): Promise<void> {
    const name = obj.metadata?.name;
    if (!name || !obj.kind) return;
    const objectNamespace = obj.metadata?.namespace;
    // Events about cluster-scoped objects live in 'default', as kubectl and client-go place them.
    const namespace = objectNamespace || 'default';
    const now = this.clock.now();
    const key = JSON.stringify([objectNamespace, obj.kind, name, obj.metadata?.uid, type, reason, message]);
    this.prune(now);

    const prev = this.seen.get(key);
    if (prev && now - prev.first < this.windowMs) {
      prev.count++;
      if (prev.name && now - prev.lastWrite >= this.countUpdateMs) {
        prev.lastWrite = now;
        await this.bumpCount(prev, now);
      }
      return;
    }

    const entry: Seen = { first: now, lastWrite: now, count: 1, namespace };
    this.seen.delete(key); // re-insert so the map stays in insertion (= age) order
    this.seen.set(key, entry);
    const body: CoreV1Event = {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name,
        namespace: objectNamespace,
        uid: obj.metadata?.uid,
        resourceVersion: obj.metadata?.resourceVersion,
      },
      type,
      reason: reason.slice(0, MAX_REASON),
      message: message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE - 1) + '…' : message,
      count: 1,
      firstTimestamp: new Date(now),
      lastTimestamp: new Date(now),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
    };
    try {
      entry.name = this.core.createEventNamed
        ? await this.core.createEventNamed(namespace, body)
        : (await this.core.createNamespacedEvent({ namespace, body })).metadata?.name;
    } catch (err) {
      this.seen.delete(key); // let the next occurrence try again
      this.logger?.warn('recording an event failed', { err, kind: obj.kind, namespace: objectNamespace, name, reason });
    }
  }

  private async bumpCount(entry: Seen, now: number): Promise<void> {
    try {
      // A JSON patch: client-node 2.x sends patches as application/json-patch+json by default.
      const body = [
        { op: 'replace', path: '/count', value: entry.count },
        { op: 'replace', path: '/lastTimestamp', value: new Date(now).toISOString() },
      ];
      await this.core.patchNamespacedEvent({ name: entry.name ?? '', namespace: entry.namespace, body });
    } catch (err) {
      this.logger?.debug('updating an event count failed', { err, event: entry.name });
    }
  }

  /** Forgets entries whose window has passed, and the oldest beyond maxTracked. */
  private prune(now: number): void {
    for (const [key, entry] of this.seen) {
      if (now - entry.first < this.windowMs && this.seen.size <= this.maxTracked) break;
      this.seen.delete(key);
    }
  }
}
