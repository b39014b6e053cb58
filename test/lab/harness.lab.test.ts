// The harness's own promises: clear errors for bad input, and nothing left behind.
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from './build.ts';
import { LabError } from './index.ts';
import { startProcess, waitReady } from './process.ts';
import { startWorld } from './world.ts';

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'valet-harness-'));
  mkdirSync(join(dir, 'logs'));
  return dir;
}

describe('the lab harness', () => {
  it('refuses a port that is already in use, naming it', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startWorld({ lab: { ports: { minio: port }, kube: false } })).rejects.toThrow(
        new RegExp(`port ${port} on 127\\.0\\.0\\.1 \\(wanted for minio\\) is already in use`),
      );
    } finally {
      blocker.close();
    }
  });

  it('reports a server that exits at start with the tail of its log', async () => {
    const bins = await ensureBuilt();
    const dir = scratch();
    try {
      const proc = startProcess({ name: 'etcd', command: bins.etcd, args: ['--no-such-flag'], log: join(dir, 'logs', 'etcd.log') });
      const err = await waitReady(proc, async () => false, 10_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LabError);
      expect((err as Error).message).toMatch(/etcd exited before it was ready\. Last lines of .*etcd\.log/);
      expect((err as Error).message).toMatch(/no-such-flag/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up on a server that never becomes ready, stops it, and says how long it waited', async () => {
    const dir = scratch();
    try {
      const proc = startProcess({ name: 'sleeper', command: 'sh', args: ['-c', 'echo starting; exec sleep 60'], log: join(dir, 'logs', 'sleeper.log') });
      const err = await waitReady(proc, async () => false, 1_000).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/sleeper did not become ready within 1s[\s\S]*starting/);
      await proc.stop(1000);
      expect(proc.exited()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves no process, folder or listening operator behind after the world stops', async () => {
    const w = await startWorld({ ns: 'harness', accesses: { imagenet: {} } });
    const pids = w.lab.processes().map((p) => p.pid);
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(true);
    const metrics = `http://${w.operator.addresses.metrics}/healthz`;
    expect((await fetch(metrics)).status).toBe(200);
    const issuerPort = w.issuer.port;
    await w.stop();
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(existsSync(w.lab.dir)).toBe(false);
    expect(existsSync(w.dir)).toBe(false);
    await expect(fetch(metrics)).rejects.toThrow();
    const blocker: Server = createServer();
    // The issuer's port is free again: something else can listen on it.
    await new Promise<void>((resolve, reject) => blocker.once('error', reject).listen(issuerPort, '127.0.0.1', () => resolve()));
    blocker.close();
  });
});
