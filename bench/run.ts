// `npm run bench` (node bench/run.ts [name...]): runs the benchmarks in order, or the ones named,
// prints a table (Valet's figure, its comparison from the same run, the ratio, the goal, met or
// not) and writes bench/results/latest.json. Benchmarks print figures and assert nothing
// (STYLE.md); the exit code is 1 only when a benchmark could not run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { admission } from './admission.bench.ts';
import { controllerScale } from './controller-scale.bench.ts';
import { issuerClaims } from './issuer-claims.bench.ts';
import { jobStart } from './job-start.bench.ts';
import { nodeJobStart } from './node-job-start.bench.ts';
import { closeCluster } from './lib/cluster.ts';
import { table } from './lib/report.ts';
import type { BenchResult, Benchmark } from './lib/report.ts';
import { presign } from './presign.bench.ts';
import { providerSigning } from './provider-signing.bench.ts';
import { sidecarEndpoint } from './sidecar-endpoint.bench.ts';
import { sidecarFootprint } from './sidecar-footprint.bench.ts';

// Controller scale runs last: it leaves 5,000 accesses behind that the controller is still working
// through, which would delay any access a later benchmark creates.
const ALL: readonly Benchmark[] = [presign, providerSigning, issuerClaims, sidecarEndpoint, jobStart, nodeJobStart, admission, sidecarFootprint, controllerScale];

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: node bench/run.ts [${ALL.map((b) => b.name).join('|')} ...]\n`);
    return 0;
  }
  const unknown = argv.filter((a) => !ALL.some((b) => b.name === a));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}; known: ${ALL.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const chosen = argv.length === 0 ? ALL : ALL.filter((b) => argv.includes(b.name));
  const started = Date.now();
  const log = (m: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${m}\n`);
  const results: BenchResult[] = [];
  const failed: { name: string; error: string }[] = [];
  try {
    for (const b of chosen) {
      log(`${b.name}: ${b.title}`);
      const t0 = Date.now();
      const load0 = loadavg()[0] ?? NaN;
      try {
        const r = await b.run({ log: (m) => log(`${b.name}: ${m}`) });
        results.push({ name: b.name, title: b.title, ...r, durationMs: Date.now() - t0, loadavg: [load0, loadavg()[0] ?? NaN] });
      } catch (err) {
        const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        log(`${b.name} FAILED: ${error}`);
        failed.push({ name: b.name, error });
      }
    }
  } finally {
    await closeCluster();
  }
  process.stdout.write(`\n${table(results)}\n`);
  for (const r of results) for (const n of r.notes) process.stdout.write(`- ${r.name}: ${n}\n`);
  process.stdout.write(`- load average (1 min) before → after, on ${availableParallelism()} cores: ${results.map((r) => `${r.name} ${r.loadavg.map((l) => l.toFixed(1)).join(' → ')}`).join('; ')}\n`);
  for (const f of failed) process.stdout.write(`- ${f.name}: could not run (${f.error.split('\n')[0]})\n`);
  const machine = { node: process.version, cpus: availableParallelism(), cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), loadavgAtEnd: loadavg() };
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), JSON.stringify({ at: new Date().toISOString(), totalMs: Date.now() - started, machine, results, failed }, null, 2) + '\n');
  process.stdout.write(`\nwrote bench/results/latest.json (${((Date.now() - started) / 1000).toFixed(0)} s in all)\n`);
  return failed.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
