// The few process metrics the sidecar exports, instead of prom-client's collectDefaultMetrics (two
// dozen series, an event-loop-delay monitor and a GC observer running in every pod, and the
// @opentelemetry/api it loads): what an operator needs to see a sidecar's cost. Names, help and
// meaning are prom-client's, so dashboards built on its defaults keep working for these (CPU counts
// from the process start, its startup included, where prom-client counts from its registration).
import type { Registry } from 'prom-client';
import { Counter, Gauge } from './prom-core.ts';

/** The names this registers, in exposition order. */
export const PROCESS_METRICS = ['process_cpu_seconds_total', 'process_start_time_seconds', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes'] as const;

/** Registers process CPU, start time, resident memory and V8 heap used on `registry`, read at scrape time. */
export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  let last = { user: 0, system: 0 };
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      this.inc((now.user - last.user + now.system - last.system) / 1e6);
      last = now;
    },
  });
  // prom-client's value: the process start, from uptime, to the second.
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers }).set(Math.round(Date.now() / 1000 - process.uptime()));
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used from Node.js in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
}
