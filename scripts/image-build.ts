// The Dockerfile's build, run without a container engine: `node scripts/image-build.ts <out>`.
//
// Each stage gets its own root folder under <out>/stages/<name>; WORKDIR, COPY (from the build
// context, filtered by .dockerignore, or --from an earlier stage), ENV and RUN are carried out as a
// builder would, with RUN's commands run by sh in the stage's WORKDIR and the Node running this
// script first on PATH (the same major version as the FROM image, which is checked). The final
// stage's root is the image's file system; `imageCommand` turns its ENTRYPOINT and CMD into a
// command line for it. The only liberty taken: `npm cache clean --force` is skipped, since the npm
// cache lives outside the output here and keeping it makes the next build fast.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';

export interface Instruction {
  op: string;
  /** The text after the keyword, continuation lines joined. */
  text: string;
  /** Flags such as --from=deps. */
  flags: Record<string, string>;
  /** Shell-form words, or the JSON array of the exec form. */
  args: string[];
  /** True for the JSON (exec) form. */
  json: boolean;
}

export interface Stage {
  from: string;
  name: string;
  instructions: Instruction[];
}

/** Stages of a Dockerfile: continuation lines joined, comments dropped, exec forms parsed. */
export function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && pending === '') continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole) lines.push(whole);
  }
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\S+)\s*(.*)$/.exec(line);
    const op = (m?.[1] ?? '').toUpperCase();
    let rest = m?.[2] ?? '';
    const flags: Record<string, string> = {};
    for (;;) {
      const f = /^--([a-z-]+)=(\S+)\s*/.exec(rest);
      if (!f) break;
      flags[f[1] ?? ''] = f[2] ?? '';
      rest = rest.slice(f[0].length);
    }
    let args: string[];
    let json = false;
    if (rest.startsWith('[')) {
      args = JSON.parse(rest) as string[];
      json = true;
    } else {
      args = rest.split(/\s+/).filter((w) => w !== '');
    }
    const ins: Instruction = { op, text: rest, flags, args, json };
    if (op === 'FROM') {
      const asIdx = args.findIndex((a) => a.toUpperCase() === 'AS');
      stages.push({ from: args[0] ?? '', name: asIdx >= 0 ? (args[asIdx + 1] ?? '') : String(stages.length), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${op} before the first FROM`);
    stage.instructions.push(ins);
  }
  return stages;
}

/** .dockerignore patterns (comments and blank lines dropped). */
export function parseDockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => posix.normalize(l.replace(/^\/+/, '')).replace(/\/+$/, ''));
}

function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether a path of the build context (relative, with /) is left out, as Docker decides: patterns
 * are anchored at the context root, match a path or any folder above it, and a later `!pattern`
 * takes a path back in.
 */
export function isIgnored(path: string, patterns: readonly string[]): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const re = globRegExp(negate ? p.slice(1) : p);
    if (prefixes.some((x) => re.test(x))) ignored = !negate;
  }
  return ignored;
}

export interface BuildOptions {
  /** The build context (the repository root). */
  context: string;
  /** Where the stages' root folders go; emptied first. */
  out: string;
  /** Extra environment for RUN steps (e.g. npm_config_cache). */
  env?: NodeJS.ProcessEnv;
  /** Called with each step, for progress output. */
  onStep?: (stage: string, instruction: Instruction) => void;
}

export interface BuiltImage {
  stages: Stage[];
  /** The final stage's root folder: the image's file system. */
  rootfs: string;
  workdir: string;
  env: Record<string, string>;
  user: string;
  entrypoint: string[];
  cmd: string[];
}

function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolveRun() : reject(new Error(`RUN ${command} exited ${code}:\n${output.slice(-4000)}`))));
  });
}

/** The Node major version a FROM line names (node:24-bookworm-slim → 24), if it is a Node image. */
export function nodeMajorOf(from: string): number | undefined {
  const m = /^(?:docker\.io\/(?:library\/)?)?node:(\d+)/.exec(from);
  return m ? Number(m[1]) : undefined;
}

/** Carries out the Dockerfile's stages in folders; returns the final image's file system and config. */
export async function buildWithoutEngine(opts: BuildOptions): Promise<BuiltImage> {
  const stages = parseDockerfile(readFileSync(join(opts.context, 'Dockerfile'), 'utf8'));
  const ignoreFile = join(opts.context, '.dockerignore');
  const ignore = existsSync(ignoreFile) ? parseDockerignore(readFileSync(ignoreFile, 'utf8')) : [];
  rmSync(opts.out, { recursive: true, force: true });
  const roots = new Map<string, { root: string; workdir: string }>();
  let last: BuiltImage | undefined;
  for (const stage of stages) {
    const major = nodeMajorOf(stage.from);
    const ours = Number(process.versions.node.split('.')[0]);
    if (major === undefined) throw new Error(`stage ${stage.name} is FROM ${stage.from}; only node:<major> images can be built without an engine`);
    if (major !== ours) throw new Error(`stage ${stage.name} is FROM ${stage.from} but this is Node ${process.version}; run with Node ${major}`);
    const root = join(opts.out, 'stages', stage.name);
    mkdirSync(root, { recursive: true });
    let workdir = '/';
    const env: Record<string, string> = {};
    let user = 'root';
    let entrypoint: string[] = [];
    let cmd: string[] = [];
    const inRoot = (p: string) => join(root, posix.resolve(workdir, p));
    for (const ins of stage.instructions) {
      opts.onStep?.(stage.name, ins);
      switch (ins.op) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, ins.args[0] ?? '/');
          mkdirSync(join(root, workdir), { recursive: true });
          break;
        case 'ENV': {
          const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=|\s+)(.*)$/.exec(ins.text);
          if (!m?.[1]) throw new Error(`ENV ${ins.text}: only one NAME=value per ENV is supported`);
          env[m[1]] = (m[2] ?? '').replace(/^"(.*)"$/, '$1');
          break;
        }
        case 'COPY': {
          const dest = ins.args.at(-1) ?? '';
          const sources = ins.args.slice(0, -1);
          const from = ins.flags.from;
          const fromStage = from !== undefined ? roots.get(from) : undefined;
          if (from !== undefined && !fromStage) throw new Error(`COPY --from=${from}: no earlier stage of that name`);
          const destIsDir = dest.endsWith('/') || sources.length > 1;
          for (const src of sources) {
            if (/[*?[]/.test(src)) throw new Error(`COPY ${src}: wildcards are not supported here`);
            const abs = fromStage ? join(fromStage.root, posix.resolve(fromStage.workdir, src)) : resolve(opts.context, src);
            if (!existsSync(abs)) throw new Error(`COPY ${src}: not found (${abs})`);
            if (!fromStage && isIgnored(relative(opts.context, abs).split('\\').join('/'), ignore)) throw new Error(`COPY ${src}: excluded by .dockerignore`);
            const target = statSync(abs).isDirectory() || !destIsDir ? inRoot(dest) : join(inRoot(dest), basename(src));
            mkdirSync(statSync(abs).isDirectory() ? target : dirname(target), { recursive: true });
            cpSync(abs, target, {
              recursive: true,
              verbatimSymlinks: true,
              filter: (p) => fromStage !== undefined || !isIgnored(relative(opts.context, p).split('\\').join('/'), ignore),
            });
          }
          break;
        }
        case 'RUN': {
          if (ins.json) throw new Error('RUN in exec form is not supported here');
          const command = ins.text
            .split('&&')
            .map((c) => c.trim())
            .filter((c) => !/^npm cache clean\b/.test(c))
            .join(' && ');
          const path = [dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(':');
          await runShell(command, join(root, workdir), { ...process.env, ...opts.env, ...env, PATH: path });
          break;
        }
        case 'USER':
          user = ins.args[0] ?? '';
          break;
        case 'ENTRYPOINT':
          entrypoint = ins.json ? ins.args : ['/bin/sh', '-c', ins.text];
          break;
        case 'CMD':
          cmd = ins.json ? ins.args : ['/bin/sh', '-c', ins.text];
          break;
        case 'LABEL':
        case 'EXPOSE':
        case 'ARG':
          break;
        default:
          throw new Error(`${ins.op} is not supported by the engine-less build; extend scripts/image-build.ts`);
      }
    }
    roots.set(stage.name, { root, workdir });
    last = { stages, rootfs: root, workdir, env, user, entrypoint, cmd };
  }
  if (!last) throw new Error('the Dockerfile has no stages');
  return last;
}

/**
 * The command line `docker run <image> [args]` would start, pointed at the built file system:
 * `node` becomes this Node, absolute paths move under rootfs, and args replace CMD.
 */
export function imageCommand(image: BuiltImage, args?: readonly string[]): { command: string; args: string[]; cwd: string; env: Record<string, string> } {
  const argv = [...image.entrypoint, ...(args ?? image.cmd)];
  const [first = '', ...restArgs] = argv;
  const mapPath = (a: string) => (a.startsWith('/') && existsSync(join(image.rootfs, a)) ? join(image.rootfs, a) : a);
  return {
    command: first === 'node' ? process.execPath : mapPath(first),
    args: restArgs.map(mapPath),
    cwd: join(image.rootfs, image.workdir),
    env: image.env,
  };
}

if (import.meta.main) {
  const out = resolve(process.argv[2] ?? '.image');
  const context = resolve(import.meta.dirname, '..');
  buildWithoutEngine({ context, out, onStep: (s, i) => process.stderr.write(`[${s}] ${i.op} ${i.text}\n`) }).then(
    (image) => {
      const c = imageCommand(image);
      process.stdout.write(`image file system: ${image.rootfs}\nuser: ${image.user}\nrun: ${[c.command, ...c.args].join(' ')} (in ${c.cwd})\n`);
    },
    (err: unknown) => {
      process.stderr.write(`image-build: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
