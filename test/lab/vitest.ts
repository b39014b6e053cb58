// Vitest glue for lab suites: when a test fails, print the tail of every server log with it, and
// for a world, the last lines its in-process operators (controller, issuer, webhook) wrote.
import { afterEach } from 'vitest';
import type { Lab } from './index.ts';

/** What useLabLogs reads: a lab, or a world (its lab and its operators' log lines). */
type Logged = Lab | { lab: Lab; logLines: readonly string[] };

export function useLabLogs(get: () => Logged | undefined): void {
  afterEach((ctx) => {
    const got = get();
    if (!got || ctx.task.result?.state !== 'fail') return;
    const lab = 'logTails' in got ? got : got.lab;
    const lines = 'logLines' in got ? got.logLines.slice(-30) : [];
    const operator = lines.length > 0 ? `\n----- in-process operator (last ${lines.length} lines) -----\n${lines.join('\n')}` : '';
    process.stderr.write(`\nserver logs for failed test "${ctx.task.name}":\n${lab.logTails(30)}${operator}\n`);
  });
}
