// Debian packages the lab node and the image build need (containerd, runc, the CNI plugins,
// iptables, buildah, mmdebstrap, …), installed with apt-get on first use. Only as root: the node
// needs root anyway, and without it the node-backed suites are skipped before anything asks for
// these. One lock for every install, so parallel workers never run apt-get twice at once.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, LabError, run, withLock } from './build.ts';

/** Packages whose `dpkg-query` status is not "install ok installed". */
export function missingDebs(packages: readonly string[]): string[] {
  const res = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...packages], { encoding: 'utf8' });
  const installed = new Set(
    (res.stdout ?? '')
      .split('\n')
      .filter((l) => l.endsWith('install ok installed'))
      .map((l) => l.split(' ')[0]),
  );
  return packages.filter((p) => !installed.has(p));
}

/** Installs whatever of `packages` is missing; `why` names the step in progress and errors. */
export async function ensureDebs(packages: readonly string[], why: string): Promise<void> {
  if (missingDebs(packages).length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new LabError(`${why} needs the Debian packages ${missingDebs(packages).join(', ')}, and installing them needs root`);
  }
  if (!existsSync('/usr/bin/apt-get')) {
    throw new LabError(`${why} needs the Debian packages ${missingDebs(packages).join(', ')}, and this machine has no apt-get`);
  }
  await withLock('apt', async () => {
    const missing = missingDebs(packages);
    if (missing.length === 0) return;
    const dir = join(cacheRoot(), 'apt');
    mkdirSync(dir, { recursive: true });
    const log = join(dir, 'install.log');
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    process.stderr.write(`lab: installing Debian packages for ${why}: ${missing.join(' ')} (log: ${log})\n`);
    await run('apt-get', ['update', '-q'], { cwd: dir, env, log, label: 'apt-get update' });
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { cwd: dir, env, log, label: `installing ${missing.join(' ')}` });
    const still = missingDebs(packages);
    if (still.length > 0) throw new LabError(`apt-get reported success but ${still.join(', ')} are still not installed (see ${log})`);
  });
}
