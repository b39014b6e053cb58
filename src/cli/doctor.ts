// `valet doctor`: why does (or doesn't) my training code find Valet's keys? Reads the environment
// of the app (this process's, or another process's with --pid, as from `kubectl debug --target`),
// the token file and any shared credentials file it would see, asks the sidecar for a key the way
// the SDKs do, and compares this clock with the store's. Prints each problem with its fix, and
// which SDK families will find keys. Exit status: 0 when nothing is wrong, 1 otherwise, 2 for bad
// usage. Never prints a key, a token or a signature.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkEnvironment, checkSidecar, checkSkew, sdkFamilies } from './doctor-checks.ts';
import type { Env, Facts, FamilyVerdict, Finding } from './doctor-checks.ts';

const HELP = `Usage: valet doctor [--pid N | --env-file FILE] [--json] [--no-store] [--timeout-seconds N]

Checks that AWS SDKs in this container will find Valet's keys: the injected variables, variables
that compete with them, shared credentials files, the sidecar's answer, and the clock against
the store's. Prints each problem with its fix.

  --pid N              check the environment and files of process N (for example PID 1 of the app
                       container, from: kubectl debug -it <pod> --image=<valet image>
                       --target=<app container> -- node /app/src/cli/main.ts doctor --pid 1)
  --env-file FILE      check NAME=VALUE lines (e.g. from: kubectl exec <pod> -c <app> -- env)
  --json               print one JSON object instead of text
  --no-store           do not contact the store to compare clocks
  --timeout-seconds N  for each request (default 3)
`;

export interface DoctorReport {
  source: string;
  findings: Finding[];
  families: FamilyVerdict[];
  problems: number;
}

export interface DoctorIo {
  out: (s: string) => void;
  err: (s: string) => void;
  now?: () => number;
  readFile?: (path: string) => string;
  fetch?: typeof fetch;
}

function parseEnvText(text: string, sep: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of text.split(sep)) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** A shared credentials or config file that gives keys or a role to the default profile chain. */
function sharedCredentials(env: Env, root: string, read: (p: string) => string): string | undefined {
  const home = env.HOME || '/root';
  const candidates = [env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE || join(home, '.aws', 'config')];
  for (const path of candidates) {
    if (path === '/dev/null') continue;
    let text: string;
    try {
      text = read(join(root, path));
    } catch {
      continue;
    }
    if (/^\s*(aws_access_key_id|role_arn|credential_process|sso_start_url|sso_session|web_identity_token_file)\s*=/im.test(text)) return path;
  }
  return undefined;
}

async function timed<T>(ms: number, f: (signal: AbortSignal) => Promise<T>): Promise<T | Error> {
  try {
    return await f(AbortSignal.timeout(ms));
  } catch (err) {
    const e = err as Error;
    return new Error(e.name === 'TimeoutError' ? `no answer within ${ms / 1000} s` : ((e.cause as Error | undefined)?.message ?? e.message));
  }
}

export async function runDoctor(argv: readonly string[], ownEnv: Env, io: DoctorIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(HELP);
    return 0;
  }
  const read = io.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const doFetch = io.fetch ?? fetch;
  const now = io.now ?? Date.now;
  let pid: string | undefined;
  let envFile: string | undefined;
  let json = false;
  let store = true;
  let timeoutMs = 3000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (name === '--json') json = true;
    else if (name === '--no-store') store = false;
    else if (name === '--pid') pid = value();
    else if (name === '--env-file') envFile = value();
    else if (name === '--timeout-seconds') {
      const v = value() ?? '';
      if (!/^\d{1,3}$/.test(v) || Number(v) < 1) {
        io.err(`valet doctor: --timeout-seconds must be a whole number from 1 to 999, got '${v}'\n`);
        return 2;
      }
      timeoutMs = Number(v) * 1000;
    } else {
      io.err(`valet doctor: unknown option '${a}'\n\n${HELP}`);
      return 2;
    }
  }
  if (pid !== undefined && !/^\d{1,9}$/.test(pid)) {
    io.err(`valet doctor: --pid must be a process id, got '${pid}'\n`);
    return 2;
  }
  let env: Env = ownEnv;
  let root = '/';
  let source = 'this process';
  try {
    if (pid !== undefined) {
      env = parseEnvText(read(`/proc/${pid}/environ`), '\0');
      root = `/proc/${pid}/root`;
      source = `process ${pid}`;
    } else if (envFile !== undefined) {
      env = parseEnvText(read(envFile), '\n');
      source = envFile;
    }
  } catch (err) {
    io.err(`valet doctor: cannot read the environment of ${pid !== undefined ? `process ${pid}` : envFile}: ${(err as Error).message}\n`);
    return 2;
  }

  let tokenFile: string | undefined;
  if (env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) {
    try {
      tokenFile = read(join(root, env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE));
    } catch {
      tokenFile = undefined;
    }
  }
  const shared = sharedCredentials(env, root, read);
  const facts: Facts = { env, ...(tokenFile !== undefined ? { tokenFile } : {}), ...(shared ? { sharedCredentialsFile: shared } : {}) };
  const findings = checkEnvironment(facts);

  const uri = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (uri) {
    const authorization = tokenFile || env.AWS_CONTAINER_AUTHORIZATION_TOKEN || '';
    const answer = await timed(timeoutMs, async (signal) => {
      const res = await doFetch(uri, { headers: authorization ? { authorization } : {}, signal });
      return { status: res.status, body: await res.text() };
    });
    findings.push(checkSidecar(answer, now()));
  }
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || (env.AWS_REGION || env.AWS_DEFAULT_REGION ? `https://s3.${env.AWS_REGION || env.AWS_DEFAULT_REGION}.amazonaws.com` : undefined);
  if (store && endpoint) {
    const date = await timed(timeoutMs, async (signal) => (await doFetch(endpoint, { method: 'HEAD', signal })).headers.get('date') ?? undefined);
    findings.push(checkSkew(endpoint, date, now()));
  }
  const families = sdkFamilies(facts);
  const report: DoctorReport = { source, findings, families, problems: findings.filter((f) => f.level === 'problem').length };

  if (json) io.out(JSON.stringify(report, null, 2) + '\n');
  else {
    const mark = { ok: '  ok   ', warn: '  warn ', problem: '  FAIL ' };
    let text = `valet doctor: the environment of ${source}\n\n`;
    for (const f of findings) text += `${mark[f.level]}${f.what}\n${f.fix ? `         fix: ${f.fix}\n` : ''}`;
    text += '\nSDK families:\n';
    for (const v of families) text += `${v.ok ? '  ok   ' : '  FAIL '}${`${v.family} (${v.clients})`.padEnd(58)} ${v.why}\n`;
    text += `\n${report.problems === 0 ? 'nothing wrong found' : `${report.problems} problem(s)`}\n`;
    io.out(text);
  }
  return report.problems === 0 ? 0 : 1;
}
