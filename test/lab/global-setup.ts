// Vitest global setup for the lab suites: build what is missing (once, with progress), print the
// versions the suites will run against, and after the run make sure no lab process is left behind.
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { azuriteVersion } from './azurite.ts';
import { ensureBuilt } from './build.ts';
import { findRunProcesses } from './reaper.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const bins = await ensureBuilt();
  const line = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  const versions = {
    node: process.version,
    'kube-apiserver': line(bins.kubeApiserver, ['--version']),
    etcd: line(bins.etcd, ['--version']),
    minio: line(bins.minio, ['--version']),
    azurite: azuriteVersion(),
    'boto3/awscli': line(bins.python, ['-c', 'import boto3, awscli; print("boto3", boto3.__version__, "awscli", awscli.__version__)']),
  };
  process.stdout.write(`lab versions: ${Object.entries(versions).map(([k, v]) => `${k}=${v}`).join('; ')}\n`);
  const run = randomUUID();
  process.env.VALET_LAB_RUN = run;
  return async () => {
    const left = findRunProcesses(run);
    if (left.length > 0) {
      for (const p of left) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      throw new Error(`lab processes were left running after the tests (now killed): ${left.map((p) => `${p.pid} ${p.command}`).join(', ')}`);
    }
  };
}
