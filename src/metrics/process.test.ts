import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { PROCESS_METRICS, registerProcessMetrics } from './process.ts';
import { Counter, Gauge, Histogram, Registry } from './prom-core.ts';

/** The value of an unlabelled metric in a text exposition. */
const valueOf = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('the sidecar’s process metrics', () => {
  it('exports exactly CPU, start time, resident memory and heap used, under prom-client’s default names', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const text = await registry.metrics();
    expect([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]])).toEqual([
      ['process_cpu_seconds_total', 'counter'],
      ['process_start_time_seconds', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
    ]);
    expect(PROCESS_METRICS).toEqual(['process_cpu_seconds_total', 'process_start_time_seconds', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']);
    const rss = valueOf(text, 'process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(Math.abs(rss - process.memoryUsage.rss())).toBeLessThan(64 * 1024 * 1024);
    expect(valueOf(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(1024 * 1024);
    expect(Math.abs(valueOf(text, 'process_start_time_seconds') - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
  });

  it('counts CPU from the process start, growing with work', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const first = valueOf(await registry.metrics(), 'process_cpu_seconds_total');
    const used = process.cpuUsage();
    // Not just since registration: the process had used CPU before (vitest, imports).
    expect(first).toBeGreaterThan(0.05);
    expect(first).toBeCloseTo((used.user + used.system) / 1e6, 1);
    const t0 = performance.now();
    let x = 0;
    while (performance.now() - t0 < 60) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const second = valueOf(await registry.metrics(), 'process_cpu_seconds_total');
    expect(second - first).toBeGreaterThan(0.03);
  });

  it('uses prom-client’s own classes (the objects its index exports), loaded without the index', () => {
    const index = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
    expect(Registry).toBe(index.Registry);
    expect(Counter).toBe(index.Counter);
    expect(Gauge).toBe(index.Gauge);
    expect(Histogram).toBe(index.Histogram);
  });
});
