// Vitest glue for lab suites: when a test fails, print the tail of every server log with it.
import { afterEach } from 'vitest';
import type { Lab } from './index.ts';

export function useLabLogs(getLab: () => Lab | undefined): void {
  afterEach((ctx) => {
    const lab = getLab();
    if (lab && ctx.task.result?.state === 'fail') {
      process.stderr.write(`\nserver logs for failed test "${ctx.task.name}":\n${lab.logTails(30)}\n`);
    }
  });
}
