// Where the sidecar's resident memory goes, module by module: a fresh Node process loads, one step
// at a time, what `valet sidecar` loads, and after each step (two GCs, a pause) reads its RSS split
// into its own pages (RssAnon) and mapped-file pages (RssFile, mostly the node binary's code,
// shared by every process running it). Steps are cumulative, in the order below; the figure of a
// step is what it added. Three processes per mode, medians. Two modes: as shipped (Node strips
// the TypeScript at start), and with a warm compile cache (NODE_COMPILE_CACHE, filled by a first
// run), which holds the stripped sources so the type stripper is never loaded.
// No cluster, no network; about 40 s. Usage: node bench/sidecar-memory.ts
// docs/performance.md §6 has the figures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './lib/stats.ts';

const root = join(import.meta.dirname, '..');
const RUNS = 3;

/** [label, code run at that step]; the child is plain JavaScript so that it loads no type stripper itself. */
const STEPS: readonly (readonly [string, string])[] = [
  ['warm the optimizing compilers (a hot loop)', 'function f(x) { let s = 0; for (let i = 0; i < 100; i++) s += (x * i) % 7; return s; } let a = 0; for (let i = 0; i < 2e5; i++) a += f(i); globalThis.keep = a;'],
  ['node:http, https, tls, crypto, zlib, streams, fs/promises (CommonJS objects)', "for (const m of ['http', 'https', 'crypto', 'fs/promises', 'zlib', 'stream', 'net', 'os']) process.getBuiltinModule('node:' + m);"],
  ["prom-client's metric classes from their files (src/metrics/prom-core.ts), not its index", "{ const req = (await import('node:module')).createRequire(process.cwd() + '/'); for (const f of ['registry', 'counter', 'gauge', 'histogram']) req('prom-client/lib/' + f); }"],
  ["Node's type stripper, first .ts file (src/platform/clock.ts, 0.8 KB)", "await import('./src/platform/clock.ts');"],
  ["the sidecar's modules (src/cli/sidecar.ts and its imports, ~160 KB of TypeScript)", "await import('./src/cli/sidecar.ts');"],
  ['not loaded by the sidecar any more: node:http as an ES import (its namespace loads undici)', "await import('node:http');"],
  ['not loaded by the sidecar any more: src/policy/index.ts (the whole policy folder)', "await import('./src/policy/index.ts');"],
  ["not loaded by the sidecar any more: prom-client's index, collectDefaultMetrics and a scrape (with @opentelemetry/api)", "{ const p = await import('prom-client'); const r = new p.Registry(); p.collectDefaultMetrics({ register: r }); globalThis.keep = r; await r.metrics(); }"],
];

const CHILD = `
import { readFileSync } from 'node:fs';
const split = () => { const s = readFileSync('/proc/self/status', 'utf8'); const kb = (k) => Number(new RegExp('^' + k + ':\\\\s+(\\\\d+)', 'm').exec(s)[1]) * 1024; return { anon: kb('RssAnon'), file: kb('RssFile') }; };
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 150)); } };
await settle();
const out = [split()];
${STEPS.map(([, code]) => `${code}\nawait settle();\nout.push(split());`).join('\n')}
process.stdout.write(JSON.stringify(out));
`;

type Sample = { anon: number; file: number }[];

function child(env: NodeJS.ProcessEnv): Sample {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the measuring process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Sample;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const cache = mkdtempSync(join(tmpdir(), 'valet-compile-cache-'));
try {
  const modes = { shipped: { ...process.env, NODE_COMPILE_CACHE: '' }, cached: { ...process.env, NODE_COMPILE_CACHE: cache } };
  child(modes.cached); // fills the cache, with the same flags as the measured runs
  const runs = { shipped: [] as Sample[], cached: [] as Sample[] };
  for (let i = 0; i < RUNS; i++) {
    runs.shipped.push(child(modes.shipped));
    runs.cached.push(child(modes.cached));
  }
  const delta = (samples: Sample[], i: number, k: 'anon' | 'file') => median(samples.map((s) => (s[i + 1]?.[k] ?? NaN) - (s[i]?.[k] ?? NaN)));
  const col = (samples: Sample[], i: number) => {
    const [a, f] = [delta(samples, i, 'anon'), delta(samples, i, 'file')];
    return `${mb(a + f).padStart(5)} (${mb(a)} + ${mb(f)})`;
  };
  const w = Math.max(...STEPS.map(([l]) => l.length));
  const start = (samples: Sample[]) => `${mb(median(samples.map((s) => (s[0]?.anon ?? NaN) + (s[0]?.file ?? NaN)))).padStart(5)} (${mb(median(samples.map((s) => s[0]?.anon ?? NaN)))} + ${mb(median(samples.map((s) => s[0]?.file ?? NaN)))})`;
  const lines = [
    `${'MB added (own + files), median of ' + RUNS}`.padEnd(w) + '  as shipped           warm compile cache',
    `${'node, nothing loaded'.padEnd(w)}  ${start(runs.shipped).padEnd(20)}  ${start(runs.cached)}`,
    ...STEPS.map(([label], i) => `${label.padEnd(w)}  ${col(runs.shipped, i).padEnd(20)}  ${col(runs.cached, i)}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(cache, { recursive: true, force: true });
}
