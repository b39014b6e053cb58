// Vitest global setup for the lab suites: build what is missing (once, with progress), print the
// versions the suites will run against, and after the run make sure no lab process is left behind.
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { azuriteVersion } from './azurite.ts';
import { ensureBuilt } from './build.ts';
import { findRunProcesses } from './reaper.ts';
import { buildTrainerImage, buildValetImage } from './image.ts';
import { cgroupPrefix, cgroupRootsOf, ensureNodeBuilt, nodeUnsupported, removeCgroupRoot } from './node/node.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const bins = await ensureBuilt();
  // The node's binaries take minutes to build the first time: build them here, before any suite's
  // hook timeout starts, or say in one line why the node-backed suites will be skipped.
  const noNode = nodeUnsupported();
  if (noNode) process.stdout.write(`lab node: node-backed suites skipped: ${noNode}\n`);
  else {
    await ensureNodeBuilt();
    await buildValetImage();
    await buildTrainerImage();
  }
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
    if (!noNode) {
      // Every lab of this run has stopped by now, so any cgroup of its nodes is a leak.
      const left = cgroupRootsOf(cgroupPrefix(run));
      const stuck = left.filter((name) => !removeCgroupRoot(name));
      if (left.length > 0) throw new Error(`lab node cgroups were left behind after the tests: ${left.join(', ')}${stuck.length ? ` (could not remove ${stuck.join(', ')})` : ' (now removed)'}`);
    }
  };
}
