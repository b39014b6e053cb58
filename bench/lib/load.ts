// A keep-alive HTTP load generator on its own thread (so it does not share the event loop of a
// server in this process). Bounded in time and in recorded samples; loopback only.
import { Worker } from 'node:worker_threads';
import type { LoadOptions, LoadOutcome } from './load-worker.ts';
import { percentile } from './stats.ts';

export interface LoadSummary {
  requests: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function load(opts: Omit<LoadOptions, 'maxSamples'> & { maxSamples?: number }): Promise<LoadSummary> {
  const worker = new Worker(new URL('./load-worker.ts', import.meta.url), { workerData: { maxSamples: 2_000_000, ...opts } });
  return new Promise<LoadSummary>((resolve, reject) => {
    const guard = setTimeout(() => {
      void worker.terminate();
      reject(new Error('the load generator did not finish in time'));
    }, opts.durationMs + 15_000);
    worker.once('message', (m: LoadOutcome) => {
      clearTimeout(guard);
      void worker.terminate();
      const lat = Array.from(m.latencies);
      resolve({
        requests: m.requests,
        non2xx: m.non2xx,
        errors: m.errors,
        rps: m.requests / (m.elapsedMs / 1000),
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        maxMs: lat.reduce((a, b) => Math.max(a, b), 0),
      });
    });
    worker.once('error', (err) => {
      clearTimeout(guard);
      reject(err);
    });
  });
}
