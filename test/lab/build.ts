// Builds (once per version) what the lab runs: kube-apiserver and etcd and MinIO from the Go module
// proxy, and a Python virtual environment with boto3 and awscli from PyPI. Each lands in its own
// folder of the cache, outside the checkout; a `.complete` file written last marks it usable, so an
// interrupted build is thrown away and redone, never half-used. A lock folder per component makes
// parallel test workers (or two terminals) wait for one build instead of racing.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COREDNS_VERSION, GO_MIN_VERSION, ETCD_VERSION, KUBERNETES_VERSION, MINIO_VERSION, S5CMD_VERSION } from './versions.ts';

const here = dirname(fileURLToPath(import.meta.url));

export class LabError extends Error {
  override name = 'LabError';
}

export function cacheRoot(): string {
  const base = process.env.VALET_LAB_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'valet-lab');
  mkdirSync(base, { recursive: true });
  return base;
}

function say(message: string): void {
  process.stderr.write(`lab: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Lock: an atomic mkdir holding the owner's pid. A lock whose owner is gone is stale and taken over.

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = join(cacheRoot(), 'locks', `${name}.lock`);
  mkdirSync(dirname(dir), { recursive: true });
  let told = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        // The owner is between mkdir and writing its pid; give it a moment.
      }
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        say(`removing stale lock ${name} (pid ${owner} is gone)`);
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (!told && Number.isInteger(owner)) {
        say(`waiting for another build of ${name} (pid ${owner})`);
        told = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Running build commands with progress and a log.

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  log: string;
  label: string;
}

export async function run(cmd: string, args: string[], opts: RunOptions): Promise<void> {
  const out = createWriteStream(opts.log, { flags: 'a' });
  out.write(`\n$ ${cmd} ${args.join(' ')}\n`);
  const started = Date.now();
  let packages = 0;
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const count = (chunk: Buffer) => {
    out.write(chunk);
    packages += chunk.toString().split('\n').filter((l) => l && !l.startsWith('go: ')).length;
  };
  child.stdout.on('data', count);
  child.stderr.on('data', count);
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    say(`${opts.label}: ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s, ${packages} lines of output (log: ${opts.log})`);
  }, 30_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) {
      out.end();
      const tail = readFileSync(opts.log, 'utf8').split('\n').slice(-25).join('\n');
      throw new LabError(`${opts.label} failed (${cmd} exited ${code}). Last lines of ${opts.log}:\n${tail}`);
    }
  } finally {
    clearInterval(timer);
    out.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Prerequisites, named clearly when missing.

export function requireGo(): string {
  const res = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new LabError(
      `Go ${GO_MIN_VERSION.join('.')} or newer is needed to build the lab's kube-apiserver, etcd and MinIO, ` +
        `and no 'go' command was found on PATH. Install Go (for example 'apt-get install golang-go' where Debian's ` +
        `is new enough, or the toolchain from go.dev/dl) and run again.`,
    );
  }
  const version = res.stdout.trim();
  const m = /^go(\d+)\.(\d+)/.exec(version);
  if (!m || Number(m[1]) < GO_MIN_VERSION[0] || (Number(m[1]) === GO_MIN_VERSION[0] && Number(m[2]) < GO_MIN_VERSION[1])) {
    throw new LabError(`Go ${GO_MIN_VERSION.join('.')} or newer is needed to build the lab; found ${version}. Install a newer Go and run again.`);
  }
  return version;
}

function requirePython(): void {
  const res = spawnSync('python3', ['-c', 'import venv, ensurepip'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new LabError(
      `Python 3 with the venv and ensurepip modules is needed for the lab's boto3 and awscli ` +
        `('apt-get install python3 python3-venv' on Debian). ${res.stderr ?? ''}`.trim(),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// A cached artefact: a folder that is complete only once `.complete` exists.

export interface Artefact {
  name: string;
  dir: string;
}

export async function ensure(name: string, key: string, build: (dir: string, log: string) => Promise<void>): Promise<Artefact> {
  const dir = join(cacheRoot(), `${name}-${key}`);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return { name, dir };
  return withLock(`${name}-${key}`, async () => {
    if (existsSync(marker)) return { name, dir };
    if (existsSync(dir)) {
      say(`discarding an incomplete build of ${name} in ${dir} (interrupted earlier)`);
      rmSync(dir, { recursive: true, force: true });
    }
    mkdirSync(dir, { recursive: true });
    const log = join(dir, 'build.log');
    const started = Date.now();
    say(`building ${name} ${key} into ${dir} (first run only; this takes minutes)`);
    await build(dir, log);
    writeFileSync(marker, JSON.stringify({ name, key, builtAt: new Date().toISOString() }) + '\n');
    say(`built ${name} in ${Math.round((Date.now() - started) / 1000)}s`);
    return { name, dir };
  });
}

export function goEnv(dir: string): NodeJS.ProcessEnv {
  // Build with the Go on PATH: never fetch another toolchain behind the user's back.
  return { GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', GOWORK: 'off', GOBIN: join(dir, 'bin') };
}

/** The `replace` lines that pin each staging module k8s.io/kubernetes requires at v0.0.0. */
export function stagingReplaces(kubernetesGoMod: string, version: string): string[] {
  const m = /^v1\.(\d+)\.(\d+)$/.exec(version);
  if (!m) throw new LabError(`KUBERNETES_VERSION must look like v1.N.M, got ${version}`);
  const published = `v0.${m[1]}.${m[2]}`;
  const names = new Set<string>();
  for (const line of kubernetesGoMod.split('\n')) {
    const r = /^\s*(k8s\.io\/[A-Za-z0-9._-]+)\s+v0\.0\.0\s*(\/\/.*)?$/.exec(line);
    if (r?.[1]) names.add(r[1]);
  }
  if (names.size === 0) throw new LabError('found no k8s.io staging modules at v0.0.0 in the kubernetes go.mod');
  return [...names].sort().map((n) => `\t${n} => ${n} ${published}`);
}

export async function goModFile(dir: string, log: string, mod: string, version: string): Promise<string> {
  await run('go', ['mod', 'download', '-json', `${mod}@${version}`], { cwd: dir, env: goEnv(dir), log, label: `downloading ${mod}` });
  const out = readFileSync(log, 'utf8');
  const all = [...out.matchAll(/"GoMod":\s*"([^"]+)"/g)];
  const last = all.at(-1)?.[1];
  if (!last) throw new LabError(`could not find the go.mod of ${mod}@${version} (see ${log})`);
  return readFileSync(last, 'utf8');
}

/**
 * Writes a wrapper module in `src` that requires k8s.io/kubernetes at KUBERNETES_VERSION with every
 * staging module pinned, importing `cmds` (k8s.io/kubernetes/cmd/...), and resolves it.
 */
async function kubeWrapperModule(dir: string, src: string, log: string, cmds: readonly string[]): Promise<void> {
  mkdirSync(join(src, 'tools'), { recursive: true });
  writeFileSync(join(src, 'go.mod'), 'module valet.dev/lab/kube\n\ngo 1.25\n');
  const upstream = await goModFile(src, log, 'k8s.io/kubernetes', KUBERNETES_VERSION);
  const replaces = stagingReplaces(upstream, KUBERNETES_VERSION);
  writeFileSync(
    join(src, 'go.mod'),
    `module valet.dev/lab/kube\n\ngo 1.25\n\nrequire k8s.io/kubernetes ${KUBERNETES_VERSION}\n\nreplace (\n${replaces.join('\n')}\n)\n`,
  );
  const imports = cmds.map((c) => `import _ "k8s.io/kubernetes/cmd/${c}"`).join('\n');
  writeFileSync(join(src, 'tools', 'tools.go'), `//go:build tools\n\npackage tools\n\n${imports}\n`);
  await run('go', ['mod', 'tidy'], { cwd: src, env: goEnv(dir), log, label: 'resolving Kubernetes modules' });
}

function kubeLdflags(): string {
  const [, minor] = /^v1\.(\d+)/.exec(KUBERNETES_VERSION) ?? [];
  return [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    '-X k8s.io/component-base/version.gitMajor=1',
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
    `-X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}`,
  ].join(' ');
}

export function buildKubeApiserver(): Promise<Artefact> {
  return ensure('kube-apiserver', KUBERNETES_VERSION, async (dir, log) => {
    requireGo();
    const src = join(dir, 'src');
    await kubeWrapperModule(dir, src, log, ['kube-apiserver']);
    await run('go', ['build', '-v', '-ldflags', kubeLdflags(), '-o', join(dir, 'bin', 'kube-apiserver'), 'k8s.io/kubernetes/cmd/kube-apiserver'], {
      cwd: src,
      env: goEnv(dir),
      log,
      label: `building kube-apiserver ${KUBERNETES_VERSION}`,
    });
  });
}

/** The node's and the rest of the control plane's Kubernetes binaries (the lab node only). */
export const KUBE_NODE_COMMANDS = ['kubelet', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubectl'] as const;

export function buildKubeNode(): Promise<Artefact> {
  return ensure('kube-node', KUBERNETES_VERSION, async (dir, log) => {
    requireGo();
    const src = join(dir, 'src');
    await kubeWrapperModule(dir, src, log, KUBE_NODE_COMMANDS);
    mkdirSync(join(dir, 'bin'), { recursive: true });
    // One `go build` for all five: they share most packages, and the build cache is shared with the
    // kube-apiserver built before.
    await run('go', ['build', '-v', '-ldflags', kubeLdflags(), '-o', join(dir, 'bin') + '/', ...KUBE_NODE_COMMANDS.map((c) => `k8s.io/kubernetes/cmd/${c}`)], {
      cwd: src,
      env: { ...goEnv(dir), CGO_ENABLED: '0' },
      log,
      label: `building ${KUBE_NODE_COMMANDS.join(', ')} ${KUBERNETES_VERSION}`,
    });
  });
}

export function buildCoredns(): Promise<Artefact> {
  return ensure('coredns', COREDNS_VERSION, async (dir, log) => {
    requireGo();
    const src = join(dir, 'src');
    mkdirSync(join(src, 'tools'), { recursive: true });
    writeFileSync(join(src, 'go.mod'), `module valet.dev/lab/coredns\n\ngo 1.25\n\nrequire github.com/coredns/coredns ${COREDNS_VERSION}\n`);
    writeFileSync(join(src, 'tools', 'tools.go'), '//go:build tools\n\npackage tools\n\nimport _ "github.com/coredns/coredns"\n');
    await run('go', ['mod', 'tidy'], { cwd: src, env: goEnv(dir), log, label: 'resolving CoreDNS modules' });
    await run('go', ['build', '-v', '-ldflags', '-s -w', '-o', join(dir, 'bin', 'coredns'), 'github.com/coredns/coredns'], {
      cwd: src,
      env: { ...goEnv(dir), CGO_ENABLED: '0' },
      log,
      label: `building CoreDNS ${COREDNS_VERSION}`,
    });
  });
}

export function buildEtcd(): Promise<Artefact> {
  return ensure('etcd', ETCD_VERSION, async (dir, log) => {
    requireGo();
    const src = join(dir, 'src');
    mkdirSync(join(src, 'tools'), { recursive: true });
    writeFileSync(join(src, 'go.mod'), `module valet.dev/lab/etcd\n\ngo 1.25\n\nrequire go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\n`);
    writeFileSync(join(src, 'tools', 'tools.go'), '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n');
    await run('go', ['mod', 'tidy'], { cwd: src, env: goEnv(dir), log, label: 'resolving etcd modules' });
    await run('go', ['build', '-v', '-ldflags', '-s -w', '-o', join(dir, 'bin', 'etcd'), 'go.etcd.io/etcd/server/v3'], {
      cwd: src,
      env: goEnv(dir),
      log,
      label: `building etcd ${ETCD_VERSION}`,
    });
  });
}

export function buildMinio(): Promise<Artefact> {
  return ensure('minio', MINIO_VERSION, async (dir, log) => {
    requireGo();
    const src = join(dir, 'src');
    const admin = join(src, 'minio-admin');
    mkdirSync(admin, { recursive: true });
    mkdirSync(join(src, 'tools'), { recursive: true });
    copyFileSync(join(here, 'go', 'minio-admin', 'main.go'), join(admin, 'main.go'));
    writeFileSync(join(src, 'go.mod'), `module valet.dev/lab/minio\n\ngo 1.25\n\nrequire github.com/minio/minio ${MINIO_VERSION}\n`);
    writeFileSync(join(src, 'tools', 'tools.go'), '//go:build tools\n\npackage tools\n\nimport _ "github.com/minio/minio"\n');
    await run('go', ['mod', 'tidy'], { cwd: src, env: goEnv(dir), log, label: 'resolving MinIO modules' });
    const commit = MINIO_VERSION.split('-').at(-1) ?? 'unknown';
    const stamp = /-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})-/.exec(MINIO_VERSION);
    const released = stamp ? `${stamp[1]}-${stamp[2]}-${stamp[3]}T${stamp[4]}:${stamp[5]}:${stamp[6]}Z` : 'unknown';
    const ldflags = [
      '-s -w',
      `-X github.com/minio/minio/cmd.Version=${released}`,
      `-X github.com/minio/minio/cmd.ReleaseTag=DEVELOPMENT.${released.replaceAll(':', '-')}`,
      `-X github.com/minio/minio/cmd.CommitID=${commit}`,
      `-X github.com/minio/minio/cmd.ShortCommitID=${commit}`,
    ].join(' ');
    await run('go', ['build', '-v', '-ldflags', ldflags, '-o', join(dir, 'bin', 'minio'), 'github.com/minio/minio'], {
      cwd: src,
      env: goEnv(dir),
      log,
      label: `building MinIO ${MINIO_VERSION}`,
    });
    await run('go', ['build', '-ldflags', '-s -w', '-o', join(dir, 'bin', 'valet-lab-minio-admin'), './minio-admin'], {
      cwd: src,
      env: goEnv(dir),
      log,
      label: 'building the MinIO admin helper',
    });
  });
}

/** s5cmd for the clients image: static (CGO_ENABLED=0), from a wrapper module as CoreDNS is. */
export function buildS5cmd(): Promise<Artefact> {
  return ensure('s5cmd', S5CMD_VERSION, async (dir, log) => {
    requireGo();
    const src = join(dir, 'src');
    mkdirSync(join(src, 'tools'), { recursive: true });
    writeFileSync(join(src, 'go.mod'), `module valet.dev/lab/s5cmd\n\ngo 1.25\n\nrequire github.com/peak/s5cmd/v2 ${S5CMD_VERSION}\n`);
    writeFileSync(join(src, 'tools', 'tools.go'), '//go:build tools\n\npackage tools\n\nimport _ "github.com/peak/s5cmd/v2"\n');
    await run('go', ['mod', 'tidy'], { cwd: src, env: goEnv(dir), log, label: 'resolving s5cmd modules' });
    const ldflags = `-s -w -X github.com/peak/s5cmd/v2/version.Version=${S5CMD_VERSION} -X github.com/peak/s5cmd/v2/version.GitCommit=modproxy`;
    await run('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', join(dir, 'bin', 's5cmd'), 'github.com/peak/s5cmd/v2'], {
      cwd: src,
      env: { ...goEnv(dir), CGO_ENABLED: '0' },
      log,
      label: `building s5cmd ${S5CMD_VERSION}`,
    });
  });
}

const S3_READER_FILES = ['go.mod', 'go.sum', 'main.go'] as const;

/**
 * The AWS SDK for Go v2 reader of the clients image (test/lab/go/s3-reader), static, with the
 * versions its committed go.mod and go.sum pin (-mod=readonly: nothing is resolved anew).
 */
export function buildS3Reader(): Promise<Artefact> {
  const from = join(here, 'go', 's3-reader');
  const h = createHash('sha256');
  for (const f of S3_READER_FILES) h.update(f).update('\0').update(readFileSync(join(from, f))).update('\0');
  return ensure('s3-reader', h.digest('hex').slice(0, 12), async (dir, log) => {
    requireGo();
    const src = join(dir, 'src');
    mkdirSync(src, { recursive: true });
    for (const f of S3_READER_FILES) copyFileSync(join(from, f), join(src, f));
    await run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(dir, 'bin', 'valet-lab-s3-reader'), '.'], {
      cwd: src,
      env: { ...goEnv(dir), GOFLAGS: '-mod=readonly', CGO_ENABLED: '0' },
      log,
      label: 'building the AWS SDK for Go v2 reader',
    });
  });
}

export function buildPython(): Promise<Artefact> {
  const requirements = readFileSync(join(here, 'requirements.txt'), 'utf8');
  const key = createHash('sha256').update(requirements).digest('hex').slice(0, 12);
  return ensure('python', key, async (dir, log) => {
    requirePython();
    await run('python3', ['-m', 'venv', dir], { cwd: dir, log, label: 'creating the Python virtual environment' });
    await run(join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--no-input', '-r', join(here, 'requirements.txt')], {
      cwd: dir,
      log,
      label: 'installing boto3, awscli and webdataset',
    });
  });
}

export interface LabBinaries {
  kubeApiserver: string;
  etcd: string;
  minio: string;
  minioAdmin: string;
  python: string;
  aws: string;
}

/** Builds whatever is missing (one at a time: the machine has two cores) and returns the paths. */
export async function ensureBuilt(): Promise<LabBinaries> {
  const etcd = await buildEtcd();
  const kube = await buildKubeApiserver();
  const minio = await buildMinio();
  const py = await buildPython();
  return {
    kubeApiserver: join(kube.dir, 'bin', 'kube-apiserver'),
    etcd: join(etcd.dir, 'bin', 'etcd'),
    minio: join(minio.dir, 'bin', 'minio'),
    minioAdmin: join(minio.dir, 'bin', 'valet-lab-minio-admin'),
    python: join(py.dir, 'bin', 'python'),
    aws: join(py.dir, 'bin', 'aws'),
  };
}

/** Paths of the binaries if every build is complete, without building; undefined otherwise. */
export function builtBinaries(): LabBinaries | undefined {
  const root = cacheRoot();
  const done = (name: string) => existsSync(join(root, name, '.complete'));
  const requirements = readFileSync(join(here, 'requirements.txt'), 'utf8');
  const key = createHash('sha256').update(requirements).digest('hex').slice(0, 12);
  if (!done(`kube-apiserver-${KUBERNETES_VERSION}`) || !done(`etcd-${ETCD_VERSION}`) || !done(`minio-${MINIO_VERSION}`) || !done(`python-${key}`)) {
    return undefined;
  }
  return {
    kubeApiserver: join(root, `kube-apiserver-${KUBERNETES_VERSION}`, 'bin', 'kube-apiserver'),
    etcd: join(root, `etcd-${ETCD_VERSION}`, 'bin', 'etcd'),
    minio: join(root, `minio-${MINIO_VERSION}`, 'bin', 'minio'),
    minioAdmin: join(root, `minio-${MINIO_VERSION}`, 'bin', 'valet-lab-minio-admin'),
    python: join(root, `python-${key}`, 'bin', 'python'),
    aws: join(root, `python-${key}`, 'bin', 'aws'),
  };
}
