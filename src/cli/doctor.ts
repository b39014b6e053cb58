// `valet doctor`: why does (or doesn't) my training code find Valet's keys? Reads the environment
// of the app (this process's, or another process's with --pid, as from `kubectl debug --target`),
// the token file and any shared credentials file it would see, asks the sidecar for a key the way
// the SDKs do, and compares this clock with the store's. Prints each problem with its fix, and
// which SDK families will find keys. Exit status: 0 when nothing is wrong, 1 otherwise, 2 for bad
// usage. Never prints a key, a token or a signature.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCTOR_COMMAND } from '../config/doctor.ts';
import { checkEnvironment, checkSidecar, checkSkew, sdkFamilies } from './doctor-checks.ts';
import { configOrExit } from './usage.ts';
import type { Env, Facts, FamilyVerdict, Finding } from './doctor-checks.ts';

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
  const parsed = configOrExit(DOCTOR_COMMAND, argv, ownEnv, io.out, io.err);
  if ('exit' in parsed) return parsed.exit;
  const { json, noStore } = parsed.config;
  const pid = parsed.config.pid || undefined;
  const envFile = parsed.config.envFile || undefined;
  const timeoutMs = parsed.config.timeoutSeconds * 1000;
  const read = io.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const doFetch = io.fetch ?? fetch;
  const now = io.now ?? Date.now;
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
  if (!noStore && endpoint) {
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
