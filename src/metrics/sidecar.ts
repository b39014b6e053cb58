// Sidecar metrics, created on the Registry passed in (STYLE.md habit 8). Labels carry DatasetAccess
// names, routes, methods, statuses and results only: never keys, tokens, object keys or URLs.
import type { Registry } from 'prom-client';
// The classes from their files, not prom-client's index (the sidecar's memory: prom-core.ts).
import { Counter, Gauge, Histogram } from './prom-core.ts';

export interface SidecarMetrics {
  /** valet_sidecar_key_expiry_seconds{access}: seconds until the held key of an access stops being served. */
  keyExpirySeconds: Gauge<'access'>;
  /** valet_sidecar_refreshes_total{result}: issuer calls by result (ok, refused, transient). */
  refreshes: Counter<'result'>;
  /** valet_sidecar_refresh_duration_seconds{result}: issuer call latency. */
  refreshSeconds: Histogram<'result'>;
  /** valet_sidecar_requests_total{route, status}: loopback and metrics-port requests (see countRequest). */
  requests: Counter<'route' | 'status'>;
  /**
   * Counts one request in valet_sidecar_requests_total. The servers call this once per request, so
   * it only adds to a plain tally; the tally is moved into the counter when the counter is read
   * (a scrape, or get()), which is what the counter would have shown had each been counted at once.
   */
  countRequest(route: string, status: number): void;
  /** valet_sidecar_presigns_total{method}: URLs signed (single presigns and manifest lines). */
  presigns: Counter<'method'>;
  /** valet_sidecar_ready: 1 while every expected access has a valid key. */
  ready: Gauge;
  /** valet_sidecar_clock_skew_seconds: issuer clock minus pod clock, from the last key received. */
  clockSkewSeconds: Gauge;
  /** valet_sidecar_manifest_writes_total{result}: manifest files rewritten (ok, error). */
  manifestWrites: Counter<'result'>;
  /** Reads per-access expiry and readiness at scrape time from `source`. */
  track(source: (() => { ready: boolean; expiries: ReadonlyMap<string, number> }) | undefined): void;
}

const LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createSidecarMetrics(registry: Registry, prefix = 'valet_'): SidecarMetrics {
  const registers = [registry];
  const p = `${prefix}sidecar_`;
  let source: (() => { ready: boolean; expiries: ReadonlyMap<string, number> }) | undefined;
  // Requests not yet added to requests_total: route → status → count.
  let tally = new Map<string, Map<number, number>>();
  return {
    keyExpirySeconds: new Gauge({
      name: `${p}key_expiry_seconds`,
      help: 'Seconds until the held key of an access stops being served (absent: no key held).',
      labelNames: ['access'],
      registers,
      collect() {
        if (!source) return;
        this.reset();
        for (const [access, seconds] of source().expiries) this.set({ access }, seconds);
      },
    }),
    refreshes: new Counter({ name: `${p}refreshes_total`, help: 'Key fetches from the issuer, by result (ok, refused, transient).', labelNames: ['result'], registers }),
    refreshSeconds: new Histogram({ name: `${p}refresh_duration_seconds`, help: 'Time of one key fetch from the issuer, by result.', labelNames: ['result'], buckets: LATENCY, registers }),
    requests: new Counter({
      name: `${p}requests_total`,
      help: 'Requests served, by route and HTTP status.',
      labelNames: ['route', 'status'],
      registers,
      collect() {
        const counted = tally;
        tally = new Map();
        for (const [route, byStatus] of counted) for (const [status, n] of byStatus) this.inc({ route, status: String(status) }, n);
      },
    }),
    countRequest(route, status) {
      let byStatus = tally.get(route);
      if (byStatus === undefined) tally.set(route, (byStatus = new Map()));
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    },
    presigns: new Counter({ name: `${p}presigns_total`, help: 'URLs presigned, by HTTP method.', labelNames: ['method'], registers }),
    ready: new Gauge({
      name: `${p}ready`,
      help: '1 while every expected access has a valid key, else 0.',
      registers,
      collect() {
        if (source) this.set(source().ready ? 1 : 0);
      },
    }),
    clockSkewSeconds: new Gauge({ name: `${p}clock_skew_seconds`, help: "The issuer's clock minus the pod's clock, measured on the last key received.", registers }),
    manifestWrites: new Counter({ name: `${p}manifest_writes_total`, help: 'Manifest files written, by result.', labelNames: ['result'], registers }),
    track(s) {
      source = s;
    },
  };
}
