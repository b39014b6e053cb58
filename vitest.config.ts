import { defineConfig } from 'vitest/config';

// Two projects: `unit` is the fast loop (pure logic, no servers); `lab` runs against the real
// kube-apiserver, etcd, MinIO and AWS clients that test/lab builds and starts.
export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    teardownTimeout: 60_000,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/**/*.lab.test.ts'],
          environment: 'node',
          pool: 'forks',
          // One lab suite at a time: each starts its own servers, and the machine has two cores;
          // fault and leader-election timings stay honest when suites do not compete for CPU.
          fileParallelism: false,
          globalSetup: ['test/lab/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
