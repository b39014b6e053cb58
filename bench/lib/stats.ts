// Small statistics over samples: percentiles (nearest rank), median, and the largest count of
// timestamps inside any window of a given width.

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/** The most timestamps (ms) found in any window [t, t + widthMs). */
export function peakInWindow(timestamps: readonly number[], widthMs: number): number {
  const t = [...timestamps].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while ((t[i] ?? 0) - (t[j] ?? 0) >= widthMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status), or NaN. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Resident memory of a process split as the kernel counts it (/proc/<pid>/status, bytes): RssAnon
 * is the process's own (heaps, compiled code); RssFile is pages of mapped files, mostly the node
 * binary's code, which every process running the same binary shares. VmRSS is their sum (plus
 * shared memory).
 */
export async function rssSplitOf(pid: number): Promise<{ rss: number; anon: number; file: number }> {
  const { readFile } = await import('node:fs/promises');
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return { rss: NaN, anon: NaN, file: NaN };
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak and the last sample. */
export function sampleRss(pid: number, everyMs = 100): { stop(): Promise<{ peak: number; last: number }> } {
  let peak = 0;
  let last = NaN;
  let pending: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    pending = rssOf(pid).then((v) => {
      if (Number.isFinite(v)) {
        last = v;
        peak = Math.max(peak, v);
      }
    });
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      const v = await rssOf(pid);
      if (Number.isFinite(v)) {
        last = v;
        peak = Math.max(peak, v);
      }
      return { peak, last };
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `concurrency` at a time; results in order. */
export async function inBatches<T, R>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

/** Polls `fn` until it returns something other than undefined/false, or throws after `timeoutMs`. */
export { waitFor as until } from '../../test/lab/wait.ts';

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; NaN if gone. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line (11 and 12 after the command).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds each named process used between start() and the returned stop(). */
export async function cpuAccount(processes: Record<string, number>): Promise<() => Promise<Record<string, number>>> {
  const before = Object.fromEntries(await Promise.all(Object.entries(processes).map(async ([k, pid]) => [k, await cpuSecondsOf(pid)] as const)));
  return async () => {
    const out: Record<string, number> = {};
    for (const [k, pid] of Object.entries(processes)) out[k] = Math.round(((await cpuSecondsOf(pid)) - (before[k] ?? NaN)) * 100) / 100;
    return out;
  };
}
