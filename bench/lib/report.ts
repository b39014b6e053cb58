// What a benchmark hands back, and how the runner prints and stores it. Every row carries Valet's
// figure next to its comparison measured in the same run, the ratio, the goal and whether it was
// met; `met` is undefined for rows that only inform.

export interface Row {
  /** What is measured, e.g. "URLs/s" or "p99 added latency". */
  metric: string;
  valet: string;
  comparison: string;
  ratio: string;
  goal: string;
  met: boolean | undefined;
}

export interface BenchResult {
  name: string;
  title: string;
  rows: Row[];
  /** Raw figures for latest.json. */
  details: Record<string, unknown>;
  /** Findings worth printing under the table. */
  notes: string[];
  durationMs: number;
  /** 1-minute load average before and after (2 cores: above 2 means something else competed). */
  loadavg: [number, number];
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<Omit<BenchResult, 'name' | 'title' | 'durationMs' | 'loadavg'>>;
}

export interface BenchContext {
  /** Progress lines on stderr (the table goes to stdout). */
  log(message: string): void;
}

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString('en'),
  ms: (n: number) => (n < 10 ? `${n.toFixed(2)} ms` : `${Math.round(n).toLocaleString('en')} ms`),
  s: (ms: number) => `${(ms / 1000).toFixed(2)} s`,
  mb: (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`,
  x: (r: number) => `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`,
};

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function table(results: readonly BenchResult[]): string {
  const header = ['benchmark', 'metric', 'Valet', 'comparison', 'ratio', 'goal', 'met?'];
  const lines: string[][] = [header];
  for (const r of results) {
    for (const row of r.rows) lines.push([r.name, row.metric, row.valet, row.comparison, row.ratio, row.goal, row.met === undefined ? '' : row.met ? 'yes' : 'NO']);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  const out = lines.map((l) => l.map((c, i) => pad(c, widths[i] ?? 0)).join('  ').trimEnd());
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}
