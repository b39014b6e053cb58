// The `helm` the chart tests run: built once per version from the Go module proxy
// (helm.sh/helm/v4/cmd/helm at HELM_VERSION) into the lab cache, with the same lock and `.complete`
// marker as kube-apiserver and etcd, and run with a private HOME-like set of folders so that no
// user's repositories, plugins or registry logins leak in.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensure, goEnv, goModFile, LabError, requireGo, run } from './build.ts';
import { HELM_VERSION } from './versions.ts';

const MODULE = `helm.sh/helm/${/^(v\d+)\./.exec(HELM_VERSION)?.[1] ?? 'v4'}`;

/** True when `have` (go1.26.8) is at least `need` (1.26 or 1.26.0). */
function goAtLeast(have: string, need: string): boolean {
  const h = (/^go(\d+)\.(\d+)(?:\.(\d+))?/.exec(have) ?? []).slice(1).map((n) => Number(n ?? 0));
  const n = need.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((h[i] ?? 0) !== (n[i] ?? 0)) return (h[i] ?? 0) > (n[i] ?? 0);
  }
  return true;
}

/** Builds helm if it is not cached yet and returns the path of the binary. */
export async function buildHelm(): Promise<string> {
  const artefact = await ensure('helm', HELM_VERSION, async (dir, log) => {
    const goVersion = requireGo();
    const src = join(dir, 'src');
    mkdirSync(join(src, 'tools'), { recursive: true });
    writeFileSync(join(src, 'go.mod'), 'module valet.dev/lab/helm\n\ngo 1.25\n');
    // Helm's own go.mod names the Go it needs and, were there any, replace directives a wrapper
    // module must repeat (replace lines only count in the main module).
    const upstream = await goModFile(src, log, MODULE, HELM_VERSION);
    const needGo = /^go\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(upstream)?.[1] ?? '1.25';
    if (!goAtLeast(goVersion, needGo)) {
      throw new LabError(`helm ${HELM_VERSION} needs Go ${needGo} or newer; found ${goVersion}. Install a newer Go and run again.`);
    }
    if (/^\s*replace\b/m.test(upstream)) {
      throw new LabError(`${MODULE}@${HELM_VERSION} has replace directives; copy them into the wrapper module in test/lab/helm.ts`);
    }
    writeFileSync(join(src, 'go.mod'), `module valet.dev/lab/helm\n\ngo ${needGo}\n\nrequire ${MODULE} ${HELM_VERSION}\n`);
    writeFileSync(join(src, 'tools', 'tools.go'), `//go:build tools\n\npackage tools\n\nimport _ "${MODULE}/cmd/helm"\n`);
    await run('go', ['mod', 'tidy'], { cwd: src, env: goEnv(dir), log, label: 'resolving helm modules' });
    // As helm's Makefile does for a release: the version in ldflags, no cgo.
    const ldflags = [
      '-s -w',
      `-X ${MODULE}/internal/version.version=${HELM_VERSION}`,
      `-X ${MODULE}/internal/version.metadata=`,
      `-X ${MODULE}/internal/version.gitTreeState=clean`,
    ].join(' ');
    await run('go', ['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', join(dir, 'bin', 'helm'), `${MODULE}/cmd/helm`], {
      cwd: src,
      env: { ...goEnv(dir), CGO_ENABLED: '0' },
      log,
      label: `building helm ${HELM_VERSION}`,
    });
  });
  return join(artefact.dir, 'bin', 'helm');
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Helm {
  readonly binary: string;
  /** Runs `helm <args>`; a non-zero exit is returned, not thrown. */
  run(args: readonly string[], opts?: { timeoutMs?: number }): Promise<HelmResult>;
  /** Runs `helm <args>` and throws with helm's output when it fails. */
  ok(args: readonly string[], opts?: { timeoutMs?: number }): Promise<string>;
}

/**
 * A helm bound to a private state folder (cache, config, data: no user repositories or plugins) and,
 * when given, a kubeconfig. Only PATH and locale come from our environment.
 */
export function helmCli(binary: string, stateDir: string, kubeconfig?: string): Helm {
  for (const d of ['cache', 'config', 'data']) mkdirSync(join(stateDir, d), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: stateDir,
    LANG: process.env.LANG ?? 'C.UTF-8',
    HELM_CACHE_HOME: join(stateDir, 'cache'),
    HELM_CONFIG_HOME: join(stateDir, 'config'),
    HELM_DATA_HOME: join(stateDir, 'data'),
    // Without a kubeconfig, point at none at all: `lint` and `template` must not need a cluster.
    KUBECONFIG: kubeconfig ?? join(stateDir, 'no-kubeconfig'),
  };
  const runHelm = (args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<HelmResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(binary, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 120_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  return {
    binary,
    run: runHelm,
    async ok(args, opts) {
      const r = await runHelm(args, opts);
      if (r.code !== 0) throw new LabError(`helm ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    },
  };
}
