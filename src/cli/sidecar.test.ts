import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('valet sidecar, loaded', () => {
  // Every pod pays for what the sidecar loads (docs/performance.md §6): prom-client's index brings
  // collectDefaultMetrics, @opentelemetry/api, the Pushgateway and the cluster aggregator, ~3.5 MB.
  it("loads prom-client's metric classes only, not its index, default metrics or @opentelemetry/api", () => {
    const code = `import { createRequire } from 'node:module';
await import('./src/cli/sidecar.ts');
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules[\\\\/](prom-client|@opentelemetry)/.test(k)).map((k) => k.replace(/.*node_modules[\\\\/]/, ''));
process.stdout.write(JSON.stringify(loaded));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '../..'), encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const loaded = JSON.parse(r.stdout) as string[];
    expect(loaded).toContain('prom-client/lib/registry.js');
    expect(loaded.filter((m) => m === 'prom-client/index.js' || m.startsWith('prom-client/lib/metrics/') || m.startsWith('@opentelemetry/'))).toEqual([]);
  });
});
