import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createWebhookMetrics } from './webhook.ts';

describe('webhook metrics', () => {
  it('registers every webhook metric on the registry passed in, and only there', async () => {
    const a = new Registry();
    const b = new Registry();
    createWebhookMetrics(a);
    createWebhookMetrics(b);
    const names = (await a.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).toEqual(['valet_webhook_admission_duration_seconds', 'valet_webhook_admissions_total', 'valet_webhook_patch_operations']);
  });
});
