// Starting and stopping the lab's servers: each runs as a child process with its output in a log
// file, is waited for with a timeout, and is stopped (TERM, then KILL) when the lab stops, when the
// Node process exits, or on Ctrl-C. A server that does not come up fails with the tail of its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { LabError } from './build.ts';

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
  readonly child: ChildProcess;
  /** argv[0] as /proc/<pid>/cmdline shows it: how `lab down` and the reaper recognise it. */
  readonly argv0: string;
  /** Stops the process: SIGTERM, then SIGKILL after the grace period. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  exited(): boolean;
}

const running = new Set<ServerProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const p of running) {
      try {
        p.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

export function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  log: string;
  cwd?: string;
  /** Keep running after this Node process exits (for `npm run lab -- up`). */
  detached?: boolean;
  /** argv[0] of the child, when it should differ from `command` (reaper.ts matches on it). */
  argv0?: string;
}

export function startProcess(opts: StartOptions): ServerProcess {
  hookExit();
  const fd = openSync(opts.log, 'a');
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
    detached: opts.detached ?? false,
    argv0: opts.argv0,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new LabError(`could not start ${opts.name} (${opts.command})`);
  let exitedFlag = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exitedFlag = true;
      resolve();
    });
    child.once('error', () => {
      exitedFlag = true;
      resolve();
    });
  });
  if (opts.detached) child.unref();
  const proc: ServerProcess = {
    name: opts.name,
    pid: child.pid,
    log: opts.log,
    child,
    argv0: opts.argv0 ?? opts.command,
    exited: () => exitedFlag,
    async stop(graceMs = 5000) {
      running.delete(proc);
      if (exitedFlag) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
  if (!opts.detached) running.add(proc);
  return proc;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and captures its output; `env` is the child's whole environment. */
export function runCaptured(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Waits until `probe` resolves true, the process exits, or the timeout passes. */
export async function waitReady(proc: ServerProcess, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited()) {
      throw new LabError(`${proc.name} exited before it was ready. Last lines of ${proc.log}:\n${tail(proc.log)}`);
    }
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      throw new LabError(`${proc.name} did not become ready within ${Math.round(timeoutMs / 1000)}s. Last lines of ${proc.log}:\n${tail(proc.log)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Throws a clear error when a port someone asked for is already taken. */
export async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new LabError(
          err.code === 'EADDRINUSE'
            ? `port ${port} on 127.0.0.1 (wanted for ${what}) is already in use by another process; stop it or choose another port`
            : `cannot listen on 127.0.0.1:${port} for ${what}: ${err.message}`,
        ),
      );
    });
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
  });
}

/** Ports for several servers, all distinct; fixed ones are checked to be free. */
export async function allocatePorts<K extends string>(names: readonly K[], fixed: Partial<Record<K, number>> = {}): Promise<Record<K, number>> {
  const out = {} as Record<K, number>;
  const used = new Set<number>();
  for (const name of names) {
    const want = fixed[name];
    if (want !== undefined) {
      await assertPortFree(want, name);
      out[name] = want;
    } else {
      let p = await freePort();
      while (used.has(p) || Object.values(fixed).includes(p)) p = await freePort();
      out[name] = p;
    }
    used.add(out[name]);
  }
  return out;
}
