import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createSidecarMetrics } from './sidecar.ts';

const line = (text: string, labels: string) => text.split('\n').find((l) => l.startsWith(`valet_sidecar_requests_total{${labels}}`));

describe('sidecar metrics', () => {
  it('requests counted with countRequest show in requests_total at every scrape, adding up across scrapes', async () => {
    const registry = new Registry();
    const m = createSidecarMetrics(registry);
    expect(await registry.metrics()).not.toMatch(/^valet_sidecar_requests_total\{/m);
    for (let i = 0; i < 3; i++) m.countRequest('credentials', 200);
    m.countRequest('credentials', 401);
    m.countRequest('healthz', 200);
    let text = await registry.metrics();
    expect(line(text, 'route="credentials",status="200"')).toBe('valet_sidecar_requests_total{route="credentials",status="200"} 3');
    expect(line(text, 'route="credentials",status="401"')).toBe('valet_sidecar_requests_total{route="credentials",status="401"} 1');
    expect(line(text, 'route="healthz",status="200"')).toBe('valet_sidecar_requests_total{route="healthz",status="200"} 1');
    m.countRequest('credentials', 200);
    text = await registry.metrics();
    expect(line(text, 'route="credentials",status="200"')).toBe('valet_sidecar_requests_total{route="credentials",status="200"} 4');
    expect(line(text, 'route="credentials",status="401"')).toBe('valet_sidecar_requests_total{route="credentials",status="401"} 1');
    // Read through the counter itself, as a test or another exporter would.
    m.countRequest('presign', 400);
    const values = (await m.requests.get()).values.map((v) => [v.labels.route, v.labels.status, v.value]);
    expect(values).toContainEqual(['presign', '400', 1]);
    expect(values).toContainEqual(['credentials', '200', 4]);
  });
});
