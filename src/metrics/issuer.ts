// Issuer metrics, created on the Registry passed in (STYLE.md habit 8). Labels carry result codes,
// cache names and store names ("Kind/namespace/name") only: never pod names, tokens or keys.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

export interface IssuerMetrics {
  /** valet_issuer_requests_total{code}: POST /v1/keys answers by code ("OK" for 200). */
  requests: Counter<'code'>;
  /** valet_issuer_request_duration_seconds{code}: whole requests. */
  requestSeconds: Histogram<'code'>;
  /** valet_issuer_tokenreview_duration_seconds{result}: TokenReview calls (cache hits excluded). */
  tokenReviewSeconds: Histogram<'result'>;
  /** valet_issuer_pod_read_duration_seconds{result}: reads of the pod a token is bound to. */
  podReadSeconds: Histogram<'result'>;
  /** valet_issuer_sts_calls_total{store, result}: AssumeRole attempts (result ok, throttled, unavailable, server, rejected, aborted). */
  stsCalls: Counter<'store' | 'result'>;
  /** valet_issuer_sts_duration_seconds{store, result}: AssumeRole attempts. */
  stsSeconds: Histogram<'store' | 'result'>;
  /** valet_issuer_cache_lookups_total{cache, result}: cache is tokenreview, pod, secret, session or inflight; result hit or miss. */
  cacheLookups: Counter<'cache' | 'result'>;
  /** valet_issuer_keys_issued_total{store, source}: keys handed out (source sts, merged, cache; grant: an azureBlob or gcs grant). */
  keysIssued: Counter<'store' | 'source'>;
  /** valet_issuer_ratelimit_queue_depth{store}: calls waiting for the store's STS rate limit. */
  rateLimitQueueDepth: Gauge<'store'>;
  /** valet_issuer_inflight_requests: requests being handled. */
  inflight: Gauge;
  /** valet_issuer_sign_requests_total{route, code}: POST /v1/sign and /v1/list answers (azureBlob and gcs stores), by code. */
  signRequests: Counter<'route' | 'code'>;
  /** valet_issuer_urls_signed_total{provider, store, method}: per-object URLs signed for azureBlob and gcs stores. */
  urlsSigned: Counter<'provider' | 'store' | 'method'>;
}

const LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createIssuerMetrics(registry: Registry, prefix = 'valet_'): IssuerMetrics {
  const registers = [registry];
  const p = `${prefix}issuer_`;
  return {
    requests: new Counter({ name: `${p}requests_total`, help: 'POST /v1/keys answers, by code (OK for 200).', labelNames: ['code'], registers }),
    requestSeconds: new Histogram({ name: `${p}request_duration_seconds`, help: 'Time to answer POST /v1/keys, by code.', labelNames: ['code'], buckets: LATENCY, registers }),
    tokenReviewSeconds: new Histogram({ name: `${p}tokenreview_duration_seconds`, help: 'TokenReview calls to the API server, by result.', labelNames: ['result'], buckets: LATENCY, registers }),
    podReadSeconds: new Histogram({ name: `${p}pod_read_duration_seconds`, help: 'Reads of the pod a token is bound to, by result.', labelNames: ['result'], buckets: LATENCY, registers }),
    stsCalls: new Counter({ name: `${p}sts_calls_total`, help: 'STS AssumeRole attempts, by store and result.', labelNames: ['store', 'result'], registers }),
    stsSeconds: new Histogram({ name: `${p}sts_duration_seconds`, help: 'STS AssumeRole attempts, by store and result.', labelNames: ['store', 'result'], buckets: LATENCY, registers }),
    cacheLookups: new Counter({ name: `${p}cache_lookups_total`, help: 'Issuer cache lookups (tokenreview, pod, secret, session, inflight), by result.', labelNames: ['cache', 'result'], registers }),
    keysIssued: new Counter({ name: `${p}keys_issued_total`, help: 'Keys handed out, by store and source (sts, merged, cache; grant for azureBlob and gcs grants).', labelNames: ['store', 'source'], registers }),
    rateLimitQueueDepth: new Gauge({ name: `${p}ratelimit_queue_depth`, help: "Calls waiting for a store's STS rate limit.", labelNames: ['store'], registers }),
    inflight: new Gauge({ name: `${p}inflight_requests`, help: 'POST /v1/keys, /v1/sign and /v1/list requests being handled.', registers }),
    signRequests: new Counter({ name: `${p}sign_requests_total`, help: 'POST /v1/sign and /v1/list answers (azureBlob and gcs stores), by route and code.', labelNames: ['route', 'code'], registers }),
    urlsSigned: new Counter({ name: `${p}urls_signed_total`, help: 'Per-object URLs signed for azureBlob and gcs stores, by provider, store and method.', labelNames: ['provider', 'store', 'method'], registers }),
  };
}
