// The audit trail: one structured log line per issued key and per refusal, and Warning Events on
// the DatasetAccess for refusals (at most one per access and reason per interval). Only the fields
// below are ever written, copied one by one: a key's secret, its session token and the caller's
// bearer token have no field here, so they cannot reach the log even by accident (the logger's
// redaction is a second line of defence, not the first).
import type { AccessRefusal } from '../api/issuer/v1/index.ts';
import type { DatasetAccess, Verb } from '../api/v1alpha1/index.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { EventSink, EventSubject, PodIdentity } from './ports.ts';

export interface AuditEntry {
  code: string;
  latencyMs: number;
  requestId?: string;
  remoteAddress?: string;
  pod?: PodIdentity;
  access?: string;
  store?: string;
  bucket?: string;
  prefix?: string;
  verbs?: readonly Verb[];
  sessionName?: string;
  accessKeyId?: string;
  expiration?: Date;
  /** sts, merged or cache. */
  source?: string;
  message?: string;
  reasons?: readonly AccessRefusal[];
}

export interface AuditorOptions {
  logger: Logger;
  clock: Clock;
  events?: EventSink;
  /** Minimum time between two Events for the same access and reason. Default 60 s. */
  eventIntervalMs?: number;
  /** Bound on remembered (access, reason) pairs. Default 4096. */
  maxTracked?: number;
}

export interface Auditor {
  issued(entry: AuditEntry): void;
  refused(entry: AuditEntry): void;
  /** A Warning Event on `access`, unless one with this reason was recorded within the interval. */
  event(access: DatasetAccess, reason: string, message: string): void;
  /**
   * A Warning Event on the pod a key was refused to (no access to put it on), at most one per pod
   * and reason per interval: what `kubectl describe pod` shows while the pod waits for keys.
   */
  podEvent(pod: PodIdentity, reason: string, message: string): void;
}

function fields(result: 'issued' | 'refused', e: AuditEntry): Record<string, unknown> {
  const f: Record<string, unknown> = { audit: true, result, code: e.code, latencyMs: Math.round(e.latencyMs) };
  if (e.requestId !== undefined) f.requestId = e.requestId;
  if (e.remoteAddress !== undefined) f.remoteAddress = e.remoteAddress;
  if (e.pod) {
    f.namespace = e.pod.namespace;
    f.serviceAccount = e.pod.serviceAccount;
    f.pod = e.pod.podName;
    f.podUid = e.pod.podUid;
  }
  if (e.access !== undefined) f.access = e.access;
  if (e.store !== undefined) f.store = e.store;
  if (e.bucket !== undefined) f.bucket = e.bucket;
  if (e.prefix !== undefined) f.prefix = e.prefix;
  if (e.verbs !== undefined) f.verbs = [...e.verbs];
  if (e.sessionName !== undefined) f.sessionName = e.sessionName;
  if (e.accessKeyId !== undefined) f.accessKeyId = e.accessKeyId;
  if (e.expiration !== undefined) f.expiration = e.expiration.toISOString();
  if (e.source !== undefined) f.source = e.source;
  if (e.message !== undefined) f.message = e.message;
  if (e.reasons !== undefined && e.reasons.length > 0) f.reasons = e.reasons.map((r) => ({ access: r.access, reason: r.reason, message: r.message }));
  return f;
}

export function createAuditor(opts: AuditorOptions): Auditor {
  const log = opts.logger.child({ component: 'issuer-audit' });
  const intervalMs = opts.eventIntervalMs ?? 60_000;
  const maxTracked = opts.maxTracked ?? 4096;
  const lastEvent = new Map<string, number>();
  return {
    issued: (e) => log.info('key issued', fields('issued', e)),
    refused: (e) => log.warn('key refused', fields('refused', e)),
    event: (access, reason, message) => record(access, reason, message),
    podEvent: (pod, reason, message) =>
      record({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.podName, namespace: pod.namespace, uid: pod.podUid } }, reason, message),
  };

  function record(subject: EventSubject, reason: string, message: string): void {
    if (!opts.events) return;
    const now = opts.clock.now();
    const key = `${subject.kind ?? ''}\0${subject.metadata.uid ?? ''}\0${subject.metadata.namespace ?? ''}\0${subject.metadata.name}\0${reason}`;
    const last = lastEvent.get(key);
    if (last !== undefined && now - last < intervalMs) return;
    lastEvent.delete(key);
    lastEvent.set(key, now);
    for (const [k, t] of lastEvent) {
      if (lastEvent.size <= maxTracked && now - t < intervalMs) break;
      lastEvent.delete(k);
    }
    try {
      const p = opts.events.record(subject, 'Warning', reason, message);
      if (p instanceof Promise) p.catch(() => undefined);
    } catch {
      // Events are best effort.
    }
  }
}
