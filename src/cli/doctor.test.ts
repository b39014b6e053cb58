import { describe, expect, it } from 'vitest';
import { checkEnvironment, checkSidecar, checkSkew, cppAcceptsHost, sdkFamilies } from './doctor-checks.ts';
import type { Facts } from './doctor-checks.ts';
import { runDoctor } from './doctor.ts';

const TOKEN = 'T'.repeat(43);
/** Exactly what the webhook gives an app container. */
const injected = (): Record<string, string> => ({
  AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:8760/v1/credentials',
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/var/run/valet/shared/auth-token',
  AWS_CONTAINER_AUTHORIZATION_TOKEN: TOKEN,
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
});
const facts = (env: Record<string, string>, over: Partial<Facts> = {}): Facts => ({ env, tokenFile: TOKEN, ...over });
const failing = (f: Facts) => sdkFamilies(f).filter((v) => !v.ok).map((v) => v.family);

describe('which SDK families find the keys', () => {
  it('all of them, with exactly the injected environment', () => {
    expect(failing(facts(injected()))).toEqual([]);
    expect(checkEnvironment(facts(injected())).filter((f) => f.level !== 'ok')).toEqual([]);
  });

  it('none, when static keys are in the environment, and the finding says to remove them', () => {
    const f = facts({ ...injected(), AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'x' });
    expect(failing(f)).toHaveLength(7);
    expect(checkEnvironment(f)).toContainEqual(expect.objectContaining({ level: 'problem', what: expect.stringMatching(/static keys/), fix: expect.stringMatching(/remove them/) }));
  });

  it('s5cmd (Go v1) only, without the plain token variable; object_store only, without the file', () => {
    const env = injected();
    delete env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
    expect(failing(facts(env))).toEqual(['AWS SDK for Go v1']);
    expect(failing(facts(injected(), { tokenFile: undefined }))).toEqual(['object_store (Rust)']);
  });

  it('not the C++ SDK (pyarrow) with localhost in the URI, and the fix names 127.0.0.1', () => {
    const f = facts({ ...injected(), AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://localhost:8760/v1/credentials' });
    expect(failing(f)).toEqual(['AWS C++ SDK']);
    expect(checkEnvironment(f)).toContainEqual(expect.objectContaining({ level: 'problem', fix: 'use http://127.0.0.1:8760/v1/credentials' }));
    expect(['127.0.0.1', '127.1.2.3', '[::1]', '169.254.170.23'].every(cppAcceptsHost)).toBe(true);
    expect(['localhost', '10.0.0.1', '128.0.0.1'].some(cppAcceptsHost)).toBe(false);
  });

  it('all but object_store, with a shared credentials file in the image', () => {
    expect(failing(facts(injected(), { sharedCredentialsFile: '/root/.aws/credentials' }))).toEqual(['botocore', 'AWS SDK for JavaScript v3', 'AWS C++ SDK', 'AWS SDK for Go v2', 'AWS SDK for Go v1', 'AWS SDK for Java v2']);
  });

  it('none, with IRSA or the relative URI set', () => {
    expect(failing(facts({ ...injected(), AWS_WEB_IDENTITY_TOKEN_FILE: '/t', AWS_ROLE_ARN: 'arn' }))).toHaveLength(7);
    expect(failing(facts({ ...injected(), AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials' }))).toHaveLength(7);
  });

  it('says when the two tokens differ', () => {
    expect(checkEnvironment(facts(injected(), { tokenFile: 'other' }))).toContainEqual(expect.objectContaining({ level: 'problem', what: expect.stringMatching(/differ/) }));
  });
});

describe('the sidecar and the clock', () => {
  const now = Date.parse('2026-12-05T12:00:00Z');
  it('reads a key without repeating it', () => {
    const f = checkSidecar({ status: 200, body: JSON.stringify({ AccessKeyId: 'ASIAXYZ', SecretAccessKey: 'SECRET', Token: 'TOK', Expiration: '2026-12-05T12:30:00Z' }) }, now);
    expect(f).toEqual({ level: 'ok', what: 'the sidecar serves a key, valid for 30 more minutes' });
  });
  it('turns a refusal into its fix', () => {
    expect(checkSidecar({ status: 409, body: JSON.stringify({ error: { code: 'NoDefaultAccess', message: 'several' } }) }, now)).toMatchObject({ level: 'problem', fix: expect.stringMatching(/valet.dev\/default-access/) });
    expect(checkSidecar(new Error('connect ECONNREFUSED 127.0.0.1:8760'), now)).toMatchObject({ level: 'problem', what: expect.stringMatching(/ECONNREFUSED/) });
  });
  it('grades skew: fine, late, refused', () => {
    expect(checkSkew('http://s3', 'Sat, 05 Dec 2026 12:00:01 GMT', now).level).toBe('ok');
    expect(checkSkew('http://s3', 'Sat, 05 Dec 2026 11:58:00 GMT', now)).toMatchObject({ level: 'warn', what: 'this clock is 120.0 s ahead of the store\'s: keys and URLs expire early or late by as much' });
    expect(checkSkew('http://s3', 'Sat, 05 Dec 2026 12:20:00 GMT', now).level).toBe('problem');
  });
});

describe('valet doctor', () => {
  it('reads another process\'s environment and files through /proc, and exits 1 on a problem without printing a secret', async () => {
    const files: Record<string, string> = {
      '/proc/42/environ': Object.entries({ ...injected(), AWS_SECRET_ACCESS_KEY: 'very-secret', AWS_ACCESS_KEY_ID: 'AKIA1' }).map(([k, v]) => `${k}=${v}`).join('\0'),
      '/proc/42/root/var/run/valet/shared/auth-token': TOKEN,
    };
    let out = '';
    const code = await runDoctor(['--pid', '42', '--no-store'], {}, {
      out: (s) => (out += s),
      err: () => undefined,
      readFile: (p) => {
        const f = files[p];
        if (f === undefined) throw new Error('ENOENT');
        return f;
      },
      fetch: (async () => new Response(JSON.stringify({ AccessKeyId: 'ASIA', SecretAccessKey: 'S3CR3T', Token: 'TOK', Expiration: new Date(Date.now() + 3_600_000).toISOString() }))) as typeof fetch,
    });
    expect(code).toBe(1);
    expect(out).toMatch(/the environment of process 42/);
    expect(out).toMatch(/FAIL static keys are in the environment/);
    for (const secret of ['very-secret', TOKEN, 'S3CR3T']) expect(out).not.toContain(secret);
  });

  it('refuses bad usage with status 2', async () => {
    const err: string[] = [];
    expect(await runDoctor(['--pid', 'x'], {}, { out: () => undefined, err: (s) => err.push(s) })).toBe(2);
    expect(await runDoctor(['--frobnicate'], {}, { out: () => undefined, err: (s) => err.push(s) })).toBe(2);
    expect(err.join('')).toMatch(/--pid must be a process id, got 'x'[\s\S]*unknown flag --frobnicate/);
  });
});
