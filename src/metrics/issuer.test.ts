import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createIssuerMetrics } from './issuer.ts';

describe('issuer metrics', () => {
  it('registers every issuer metric on the registry passed in, and only there', async () => {
    const a = new Registry();
    const b = new Registry();
    createIssuerMetrics(a);
    createIssuerMetrics(b);
    const names = (await a.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).toEqual([
      'valet_issuer_cache_lookups_total',
      'valet_issuer_inflight_requests',
      'valet_issuer_keys_issued_total',
      'valet_issuer_pod_read_duration_seconds',
      'valet_issuer_ratelimit_queue_depth',
      'valet_issuer_request_duration_seconds',
      'valet_issuer_requests_total',
      'valet_issuer_sign_requests_total',
      'valet_issuer_sts_calls_total',
      'valet_issuer_sts_duration_seconds',
      'valet_issuer_tokenreview_duration_seconds',
      'valet_issuer_urls_signed_total',
    ]);
  });
});
