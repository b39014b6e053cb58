// Local process, for speed: the same path in pods on a real kubelet is test/node/training-job.lab.test.ts.
// The sidecar against the real lab: kube-apiserver (TokenRequest, TokenReview, pods), Valet's
// operator (the real DatasetAccess controller and the real issuer over HTTPS, started by the world
// kit as `valet operator` starts them), MinIO's STS and S3, and unmodified clients (the AWS SDK for
// JavaScript v3 default chain in a child node process, boto3, awscli) given only the environment
// variables the webhook injects. The sidecars under test run in-process. Nothing is mocked.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parseSidecarConfig } from '../src/config/sidecar.ts';
import { createLogger } from '../src/platform/logger.ts';
import { startSidecar } from '../src/sidecar/index.ts';
import type { Sidecar } from '../src/sidecar/index.ts';
import { cleanEnv, SEED_OBJECTS, type RunResult } from './lab/index.ts';
import { useLabLogs } from './lab/vitest.ts';
import { G, metric, startWorld, waitFor, type World } from './lab/world.ts';

const root = join(import.meta.dirname, '..');
const NS = 'sidecar';
const MANIFEST_OBJECTS = 10_000;

let w: World;
let dir: string;
let tokenFile: string;
/** The main sidecar: default refresh timing. */
let main: Sidecar;
let mainRegistry: Registry;
/** A sidecar with a very low refresh fraction, to watch refreshes, outages and deletions happen. */
let fast: Sidecar;
let fastRegistry: Registry;

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

interface Got {
  status: number;
  body: string;
  json: () => Record<string, unknown> & { error?: { code: string; message: string } };
}

async function get(port: number, path: string, authorization?: string, method = 'GET'): Promise<Got> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: authorization === undefined ? {} : { authorization } });
  const body = await res.text();
  return { status: res.status, body, json: () => JSON.parse(body) as ReturnType<Got['json']> };
}

const creds = (s: Sidecar, access = '') => get(s.port, `/v1/credentials${access ? `/${access}` : ''}`, s.authToken);

/** The environment the webhook injects, and nothing else. */
function podEnv(s: Sidecar, access = ''): NodeJS.ProcessEnv {
  return cleanEnv({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${s.port}/v1/credentials${access ? `/${access}` : ''}`,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(dir, 'shared', s === main ? 'auth-token' : 'auth-token-fast'),
    AWS_REGION: w.lab.s3.region,
    AWS_ENDPOINT_URL_S3: w.lab.s3.endpoint,
  });
}

function runNode(script: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function lines(out: string): Record<string, string> {
  return Object.fromEntries(out.trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
}

async function startFast(): Promise<Sidecar> {
  const config = parseSidecarConfig([
    `--issuer-url=${w.issuer.url}`,
    `--issuer-ca-file=${w.issuer.caFile}`,
    `--token-file=${tokenFile}`,
    `--auth-token-file=${join(dir, 'shared', 'auth-token-fast')}`,
    '--port=0',
    '--metrics-address=127.0.0.1:0',
    '--accesses=imagenet,checkpoints',
    '--default-access=imagenet',
    // 900 s keys refreshed every ~4 s; retries every 0.2..1 s while the issuer is down.
    '--refresh-fraction=0.005',
    '--retry-base-seconds=0.2',
    '--retry-max-seconds=1',
    '--request-timeout-seconds=3',
    `--manifest=checkpoints=${join(dir, 'shared', 'checkpoints.jsonl')}`,
    '--manifest-expiry-seconds=600',
  ]);
  fastRegistry = new Registry();
  return startSidecar(config, { logger: createLogger({ level: 'debug', write: (l) => w.logLines.push(l), bindings: { sidecar: 'fast' } }), registry: fastRegistry });
}

// ── the lab ──────────────────────────────────────────────────────────────────────────────────

beforeAll(async () => {
  w = await startWorld({
    ns: NS,
    accesses: {
      imagenet: { prefix: 'imagenet/', verbs: ['read', 'list'], presign: { enabled: true, maxExpirySeconds: 600 } },
      checkpoints: { prefix: 'checkpoints/', verbs: ['read', 'list', 'write'], presign: { enabled: true, maxExpirySeconds: 600 } },
    },
  });
  dir = w.dir;

  // The pod, and its projected token as the kubelet would write it.
  tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, (await w.podToken('trainer-0')).token);

  mainRegistry = new Registry();
  main = await startSidecar(
    parseSidecarConfig([
      `--issuer-url=${w.issuer.url}`,
      `--issuer-ca-file=${w.issuer.caFile}`,
      `--token-file=${tokenFile}`,
      `--auth-token-file=${join(dir, 'shared', 'auth-token')}`,
      '--port=0',
      '--metrics-address=127.0.0.1:0',
      '--accesses=imagenet,checkpoints',
      '--default-access=imagenet',
    ]),
    { logger: createLogger({ level: 'debug', write: (l) => w.logLines.push(l), bindings: { sidecar: 'main' } }), registry: mainRegistry },
  );
  expect(main.cache.ready()).toBe(true);
  fast = await startFast();
  expect(fast.cache.ready()).toBe(true);
});

afterAll(async () => {
  await fast?.close();
  await main?.close();
  await w?.stop();
});
useLabLogs(() => w);

// ── tests ────────────────────────────────────────────────────────────────────────────────────

describe('the loopback endpoint', () => {
  it('writes the Authorization value without a trailing newline, readable by the app user', () => {
    const path = join(dir, 'shared', 'auth-token');
    const text = readFileSync(path, 'utf8');
    expect(text).toBe(main.authToken);
    expect(text).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it('answers 401 to a missing or wrong Authorization value, on every route', async () => {
    const t = main.authToken;
    const wrong = [undefined, '', 'nope', `Bearer ${t}`, t.slice(0, -1), `${t}x`, t.toUpperCase(), `x${t}`, fast.authToken];
    for (const path of ['/v1/credentials', '/v1/credentials/imagenet', '/v1/presign?key=imagenet/a.bin', '/v1/manifest/imagenet', '/v1/other', '/']) {
      for (const auth of wrong) {
        const r = await get(main.port, path, auth);
        expect(r.status, `${path} with ${JSON.stringify(auth?.slice(0, 8))}`).toBe(401);
        expect(r.body).not.toContain('ASIA');
      }
    }
    expect((await get(main.port, '/v1/credentials', t)).status).toBe(200);
  });

  it('serves keys in the container-credentials format, the default access and each one by name', async () => {
    const d = (await creds(main)).json();
    expect(Object.keys(d).sort()).toEqual(['AccessKeyId', 'Expiration', 'SecretAccessKey', 'Token']);
    expect(d.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const left = (Date.parse(String(d.Expiration)) - Date.now()) / 1000;
    expect(left).toBeGreaterThan(700);
    expect(left).toBeLessThanOrEqual(840);
    expect((await creds(main, 'imagenet')).json().AccessKeyId).toBe(d.AccessKeyId);
    expect((await creds(main, 'checkpoints')).json().AccessKeyId).not.toBe(d.AccessKeyId);
    expect((await creds(main, 'coco')).status).toBe(404);
    expect((await get(main.port, '/readyz')).status).toBe(200);
    expect((await get(main.port, '/healthz')).status).toBe(200);
  });

  it('listens on 127.0.0.1 only: its listening socket is bound to 127.0.0.1, never the wildcard', () => {
    // /proc/net/tcp lists every IPv4 socket; state 0A is LISTEN, 0100007F is 127.0.0.1.
    const port = main.port.toString(16).toUpperCase().padStart(4, '0');
    const listening = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${port}`) && f[3] === '0A')
      .map((f) => f[1]);
    expect(listening).toEqual([`0100007F:${port}`]);
    const v6 = existsSync('/proc/net/tcp6') ? readFileSync('/proc/net/tcp6', 'utf8').split('\n').filter((l) => l.includes(`:${port} `) && / 0A /.test(l)) : [];
    expect(v6).toEqual([]);
  });

  const outside = nonLoopbackIPv4();
  it.skipIf(outside === undefined)(`refuses connections on another address of this machine${outside === undefined ? ' (skipped: this machine has no non-loopback IPv4 address to try)' : ''}`, async () => {
    await expect(fetch(`http://${outside}:${main.port}/healthz`)).rejects.toThrow();
  });
});

function nonLoopbackIPv4(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
}

describe('unmodified clients with only the injected environment', () => {
  it('the AWS SDK for JavaScript v3 default chain lists, reads, writes where granted, and is denied elsewhere', async () => {
    const script = `
      import { S3Client, ListObjectsV2Command, GetObjectCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
      const s3 = new S3Client({});
      const [b, mode] = process.argv.slice(-2);
      const attempt = async (name, fn) => { try { await fn(); console.log(name, 'ALLOWED'); } catch (e) { console.log(name, e.name); } };
      if (mode === 'read') {
        const l = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'imagenet/' }));
        console.log('list', l.Contents.map((o) => o.Key).filter((k) => !k.startsWith('imagenet/m/')).sort().join(','));
        console.log('read', await (await s3.send(new GetObjectCommand({ Bucket: b, Key: 'imagenet/a.bin' }))).Body.transformToString());
        await attempt('sibling', () => s3.send(new GetObjectCommand({ Bucket: b, Key: 'imagenet-private/a.bin' })));
        await attempt('other', () => s3.send(new GetObjectCommand({ Bucket: b, Key: 'coco/a.bin' })));
        await attempt('write', () => s3.send(new PutObjectCommand({ Bucket: b, Key: 'imagenet/js.bin', Body: 'x' })));
        await attempt('root-list', () => s3.send(new ListObjectsV2Command({ Bucket: b })));
      } else {
        await s3.send(new PutObjectCommand({ Bucket: b, Key: 'checkpoints/js.bin', Body: 'from js' }));
        console.log('readback', await (await s3.send(new GetObjectCommand({ Bucket: b, Key: 'checkpoints/js.bin' }))).Body.transformToString());
        await attempt('delete', () => s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'checkpoints/js.bin' })));
        await attempt('write-elsewhere', () => s3.send(new PutObjectCommand({ Bucket: b, Key: 'imagenet/js.bin', Body: 'x' })));
      }`;
    const read = await runNode(script, podEnv(main), [w.lab.s3.bucket, 'read']);
    expect(read.code, read.stderr).toBe(0);
    expect(lines(read.stdout)).toEqual({
      list: 'imagenet/a.bin,imagenet/b.bin,imagenet/train/0000.tar',
      read: SEED_OBJECTS['imagenet/a.bin'],
      sibling: 'AccessDenied',
      other: 'AccessDenied',
      write: 'AccessDenied',
      'root-list': 'AccessDenied',
    });
    const write = await runNode(script, podEnv(main, 'checkpoints'), [w.lab.s3.bucket, 'write']);
    expect(write.code, write.stderr).toBe(0);
    expect(lines(write.stdout)).toEqual({ readback: 'from js', delete: 'AccessDenied', 'write-elsewhere': 'AccessDenied' });
  });

  it('boto3 lists, reads, writes where granted, and is denied elsewhere', async () => {
    const script = [
      'import boto3, sys',
      'from botocore.exceptions import ClientError',
      's3 = boto3.client("s3")',
      'b = sys.argv[1]',
      'def attempt(name, fn):',
      '    try:',
      '        fn()',
      '        print(name, "ALLOWED")',
      '    except ClientError as e:',
      '        print(name, e.response["Error"]["Code"])',
      'if sys.argv[2] == "read":',
      '    print("list", ",".join(sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b, Prefix="imagenet/")["Contents"] if not o["Key"].startswith("imagenet/m/"))))',
      '    print("read", s3.get_object(Bucket=b, Key="imagenet/b.bin")["Body"].read().decode())',
      '    attempt("sibling", lambda: s3.get_object(Bucket=b, Key="imagenet-private/a.bin"))',
      '    attempt("write", lambda: s3.put_object(Bucket=b, Key="imagenet/py.bin", Body=b"x"))',
      '    attempt("root-list", lambda: s3.list_objects_v2(Bucket=b))',
      'else:',
      '    s3.put_object(Bucket=b, Key="checkpoints/py.bin", Body=b"from boto3")',
      '    print("readback", s3.get_object(Bucket=b, Key="checkpoints/py.bin")["Body"].read().decode())',
      '    attempt("delete", lambda: s3.delete_object(Bucket=b, Key="checkpoints/py.bin"))',
      '    attempt("other", lambda: s3.get_object(Bucket=b, Key="coco/a.bin"))',
    ].join('\n');
    const read = await w.lab.python(script, podEnv(main), [w.lab.s3.bucket, 'read']);
    expect(read.code, read.stderr).toBe(0);
    expect(lines(read.stdout)).toEqual({
      list: 'imagenet/a.bin,imagenet/b.bin,imagenet/train/0000.tar',
      read: SEED_OBJECTS['imagenet/b.bin'],
      sibling: 'AccessDenied',
      write: 'AccessDenied',
      'root-list': 'AccessDenied',
    });
    const write = await w.lab.python(script, podEnv(main, 'checkpoints'), [w.lab.s3.bucket, 'write']);
    expect(write.code, write.stderr).toBe(0);
    expect(lines(write.stdout)).toEqual({ readback: 'from boto3', delete: 'AccessDenied', other: 'AccessDenied' });
  });

  it('awscli lists, reads, writes where granted, and is denied elsewhere', async () => {
    const env = podEnv(main);
    const ls = await w.lab.aws(['s3', 'ls', `s3://${w.lab.s3.bucket}/imagenet/`], env);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('a.bin');
    const cat = await w.lab.aws(['s3', 'cp', `s3://${w.lab.s3.bucket}/imagenet/a.bin`, '-'], env);
    expect(cat.stdout).toBe(SEED_OBJECTS['imagenet/a.bin']);
    const sibling = await w.lab.aws(['s3', 'cp', `s3://${w.lab.s3.bucket}/imagenet-private/a.bin`, '-'], env);
    expect(sibling.code).not.toBe(0);
    expect(sibling.stderr).toMatch(/403|Forbidden|AccessDenied/);
    const file = join(dir, 'upload.txt');
    writeFileSync(file, 'from awscli');
    const denied = await w.lab.aws(['s3', 'cp', file, `s3://${w.lab.s3.bucket}/imagenet/cli.bin`], env);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/AccessDenied|403/);
    const up = await w.lab.aws(['s3', 'cp', file, `s3://${w.lab.s3.bucket}/checkpoints/cli.bin`], podEnv(main, 'checkpoints'));
    expect(up.code, up.stderr).toBe(0);
    const back = await w.lab.aws(['s3', 'cp', `s3://${w.lab.s3.bucket}/checkpoints/cli.bin`, '-'], podEnv(main, 'checkpoints'));
    expect(back.stdout).toBe('from awscli');
  });
});

describe('presigned URLs', () => {
  const presign = (q: string, s: Sidecar = main) => get(s.port, `/v1/presign?${q}`, s.authToken);

  it('work with a plain HTTP client, and expire no later than the access allows', async () => {
    const r = await presign('access=imagenet&key=imagenet/a.bin&expires=100000');
    expect(r.status, r.body).toBe(200);
    const { url, expiresAt } = r.json() as { url: string; expiresAt: string };
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('600');
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(600_000);
    expect(await (await fetch(url)).text()).toBe(SEED_OBJECTS['imagenet/a.bin']);
    const head = await presign('key=imagenet/train/0000.tar&method=HEAD&expires=60');
    const h = await fetch((head.json() as { url: string }).url, { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.headers.get('content-length')).toBe(String(SEED_OBJECTS['imagenet/train/0000.tar']?.length));
    // A URL for one object does not open another.
    const tampered = url.replace('imagenet/a.bin', 'imagenet/b.bin');
    expect((await fetch(tampered)).status).toBe(403);
  });

  it('sign PUT where writing is granted, and refuse it for a read-only access', async () => {
    const put = await presign('access=checkpoints&key=checkpoints/presigned%20put%2Bplus.bin&method=PUT');
    expect(put.status, put.body).toBe(200);
    const up = await fetch((put.json() as { url: string }).url, { method: 'PUT', body: 'uploaded with a presigned URL' });
    expect(up.status, await up.text()).toBe(200);
    const get1 = await presign('access=checkpoints&key=checkpoints/presigned%20put%2Bplus.bin');
    expect(await (await fetch((get1.json() as { url: string }).url)).text()).toBe('uploaded with a presigned URL');
    const refused = await presign('access=imagenet&key=imagenet/new.bin&method=PUT');
    expect(refused.status).toBe(403);
    expect(refused.json().error?.code).toBe('VerbNotGranted');
  });

  const ESCAPES: string[] = [
    'imagenet/../coco/a.bin',
    'imagenet/%2e%2e/coco/a.bin',
    'imagenet/%2E%2E/imagenet-private/a.bin',
    'imagenet/%252e%252e/coco/a.bin',
    'imagenet/..%2fcoco/a.bin',
    'imagenet//a.bin',
    'imagenet-private/a.bin',
    'imagenet-private/../imagenet/a.bin',
    'coco/a.bin',
    '/imagenet/a.bin',
    '//imagenet/a.bin',
    'imagenet/./a.bin',
    'imagenet/..',
    'imagenet\\..\\coco\\a.bin',
    'imagenet/\uff0e\uff0e/coco/a.bin',
    'imagenet/\u0000a.bin',
    `imagenet/${'x'.repeat(1100)}`,
    'imagenet/',
    'imagenet',
    'IMAGENET/a.bin',
    'root.txt',
    '',
  ];

  it(`refuse ${ESCAPES.length} attempts to escape the prefix, with a reason and no URL`, async () => {
    for (const key of ESCAPES) {
      const r = await presign(`access=imagenet&key=${encodeURIComponent(key)}`);
      expect([400, 403], `${JSON.stringify(key.slice(0, 40))}: ${r.body}`).toContain(r.status);
      expect(r.body).not.toContain('X-Amz-Signature');
      expect(r.json().error?.code).toMatch(/^Key/);
    }
    // Smuggling through the query itself: a second key parameter, a raw '%' sequence, or a path-style access.
    for (const q of ['access=imagenet&key=imagenet/a.bin&key=coco/a.bin', 'access=imagenet&key=imagenet/%2', 'access=imagenet&access=checkpoints&key=imagenet/a.bin']) {
      const r = await presign(q);
      expect(r.status, q).toBe(400);
    }
  });
});

describe('manifests', () => {
  beforeAll(async () => {
    const root = new S3Client({ region: w.lab.s3.region, endpoint: w.lab.s3.endpoint, forcePathStyle: true, credentials: w.lab.s3.root });
    const keys = Array.from({ length: MANIFEST_OBJECTS }, (_, i) => `imagenet/m/${String(i).padStart(5, '0')}.tar`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < keys.length) {
          const key = keys[next++] as string;
          await root.send(new PutObjectCommand({ Bucket: w.lab.s3.bucket, Key: key, Body: `shard ${key}` }));
        }
      }),
    );
    root.destroy();
  }, 300_000);

  it(`stream ${MANIFEST_OBJECTS.toLocaleString('en')} objects completely, and sampled URLs work`, async () => {
    const res = await fetch(`http://127.0.0.1:${main.port}/v1/manifest/imagenet?prefix=imagenet/m/&format=jsonl`, { headers: { authorization: main.authToken } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const text = await res.text();
    const entries = text.trim().split('\n').map((l) => JSON.parse(l) as { key: string; size: number; url: string; expiresAt: string });
    expect(entries).toHaveLength(MANIFEST_OBJECTS);
    expect(new Set(entries.map((e) => e.key)).size).toBe(MANIFEST_OBJECTS);
    for (let i = 0; i < entries.length; i += 199) {
      const e = entries[i];
      if (!e) continue;
      const body = await (await fetch(e.url)).text();
      expect(body).toBe(`shard ${e.key}`);
      expect(e.size).toBe(body.length);
    }
    const urls = await get(main.port, '/v1/manifest/imagenet?format=urls', main.authToken);
    expect(urls.body.trim().split('\n')).toHaveLength(MANIFEST_OBJECTS + 3);
    expect((await get(main.port, '/v1/manifest/imagenet?prefix=imagenet-private/', main.authToken)).status).toBe(403);
  }, 120_000);

  it('keep a manifest file on the shared volume, rewritten atomically before its URLs expire', async () => {
    const path = join(dir, 'shared', 'checkpoints.jsonl');
    const first = await waitFor('manifest file', async () => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    });
    const entries = first.trim().split('\n').map((l) => JSON.parse(l) as { key: string; url: string });
    expect(entries.map((e) => e.key)).toEqual(expect.arrayContaining(['checkpoints/cli.bin', 'checkpoints/js.bin']));
    expect(await (await fetch(entries.find((e) => e.key === 'checkpoints/cli.bin')?.url ?? '')).text()).toBe('from awscli');
    // Rewritten (new signatures) while readers only ever see whole files.
    // Every read is recorded and judged after the wait: an assertion inside waitFor would be
    // retried away, and a half-written file would pass unnoticed.
    const torn: string[] = [];
    let reads = 0;
    const rewritten = await waitFor('a rewrite', async () => {
      const now = readFileSync(path, 'utf8');
      reads++;
      try {
        if (!now.endsWith('\n')) throw new Error('no final newline');
        now.trim().split('\n').forEach((l) => JSON.parse(l));
      } catch (err) {
        torn.push(`${(err as Error).message}: ${now.slice(-80)}`);
      }
      return now !== first ? now : undefined;
    });
    expect(torn, `${torn.length} of ${reads} reads saw a partial file`).toEqual([]);
    expect(rewritten.trim().split('\n')).toHaveLength(entries.length);
  });
});

describe('refresh, outages and revocation (refresh fraction 0.005: every ~4 s)', () => {
  it('a boto3 client running across several refreshes sees new AccessKeyIds and never a failed request', async () => {
    // The kubelet rotates the projected token meanwhile: the next refresh reads the new one.
    const pod = await w.lab.core.readNamespacedPod({ name: 'trainer-0', namespace: NS });
    writeFileSync(tokenFile, await w.lab.token(NS, 'trainer', { boundPod: { name: 'trainer-0', uid: pod.metadata?.uid ?? '' } }));
    const script = [
      'import boto3, sys, time',
      's3 = boto3.client("s3")',
      'seen, ok, failed = [], 0, 0',
      'end = time.time() + 14',
      'while time.time() < end:',
      '    try:',
      '        s3.get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")["Body"].read()',
      '        ok += 1',
      '    except Exception as e:',
      '        failed += 1',
      '        print("error", repr(e))',
      '    k = s3._request_signer._credentials.get_frozen_credentials().access_key',
      '    if not seen or seen[-1] != k: seen.append(k)',
      '    time.sleep(0.1)',
      'print("ok", ok)',
      'print("failed", failed)',
      'print("keys", len(seen))',
    ].join('\n');
    const r = await w.lab.python(script, podEnv(fast), [w.lab.s3.bucket]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out.failed, r.stdout).toBe('0');
    expect(Number(out.ok)).toBeGreaterThan(20);
    expect(Number(out.keys)).toBeGreaterThanOrEqual(3);
    expect(metric(await fastRegistry.metrics(), 'valet_sidecar_refreshes_total', 'result="ok"')).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('issuer stopped: valid keys keep being served and /readyz stays ready; issuer back: fresh keys without a restart', async () => {
    const before = metric(await fastRegistry.metrics(), 'valet_sidecar_refreshes_total', 'result="transient"');
    await w.stopIssuer();
    await waitFor('a failed refresh', async () => metric(await fastRegistry.metrics(), 'valet_sidecar_refreshes_total', 'result="transient"') >= before + 3, 30_000);
    const during = await creds(fast);
    expect(during.status).toBe(200);
    expect((await get(fast.port, '/readyz')).status).toBe(200);
    expect((await get(fast.metricsPort, '/readyz')).status).toBe(200);
    const read = await w.lab.python('import boto3, sys; print(boto3.client("s3").get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")["Body"].read().decode())', podEnv(fast), [w.lab.s3.bucket]);
    expect(read.stdout.trim()).toBe(SEED_OBJECTS['imagenet/a.bin']);
    expect(w.logLines.some((l) => l.includes('"key refresh failed; still-valid keys are served, retrying"') && l.includes('IssuerUnreachable'))).toBe(true);

    // The operator's issuer again, on the same port.
    await w.startIssuer();
    const oldKey = during.json().AccessKeyId;
    await waitFor('a fresh key from the restarted issuer', async () => (await creds(fast)).json().AccessKeyId !== oldKey, 30_000);
    expect(fast.cache.ready()).toBe(true);
  }, 90_000);

  it('access deleted: the sidecar stops serving its key within one refresh attempt', async () => {
    expect((await creds(fast, 'checkpoints')).status).toBe(200);
    await w.clients.customObjects.deleteNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', name: 'checkpoints' });
    // The issuer has seen the deletion once it refuses this pod a key for the access.
    const podTokenNow = readFileSync(tokenFile, 'utf8');
    await waitFor('the issuer to see the deletion', async () => (await w.call('POST', '/v1/keys', { token: podTokenNow, body: JSON.stringify({ accesses: ['checkpoints'] }) })).status === 403);
    const seen = Date.now();
    const gone = await waitFor('the key to be dropped', async () => {
      const r = await creds(fast, 'checkpoints');
      return r.status !== 200 ? r : undefined;
    }, 15_000);
    // One refresh period is ~4.5 s at most (0.005 × 900 s).
    expect(Date.now() - seen).toBeLessThan(6_000);
    expect(gone.status).toBe(503);
    expect(gone.json().error?.code).toBe('KeyRefused');
    expect((await get(fast.port, '/readyz')).status).toBe(503);
    // The other access is untouched.
    expect((await creds(fast, 'imagenet')).status).toBe(200);
    expect(w.logLines.some((l) => l.includes('the issuer refused a key; keys dropped') && l.includes('checkpoints'))).toBe(true);
  }, 60_000);
});

describe('the metrics port', () => {
  it('serves metrics and probes, and never a key', async () => {
    for (const s of [main, fast]) {
      for (const path of ['/v1/credentials', '/v1/credentials/imagenet', '/v1/presign?key=imagenet/a.bin', '/v1/manifest/imagenet', '/auth-token']) {
        const r = await get(s.metricsPort, path, s.authToken);
        expect(r.status, path).toBe(404);
        expect(r.body).not.toMatch(/ASIA|AccessKeyId|X-Amz/);
      }
    }
    const text = (await get(main.metricsPort, '/metrics')).body;
    for (const name of ['valet_sidecar_key_expiry_seconds', 'valet_sidecar_refreshes_total', 'valet_sidecar_refresh_duration_seconds', 'valet_sidecar_requests_total', 'valet_sidecar_presigns_total', 'valet_sidecar_ready', 'valet_sidecar_clock_skew_seconds']) {
      expect(text, name).toContain(name);
    }
    expect(metric(text, 'valet_sidecar_ready')).toBe(1);
    expect(metric(text, 'valet_sidecar_key_expiry_seconds', 'access="imagenet"')).toBeGreaterThan(600);
    expect(Math.abs(metric(text, 'valet_sidecar_clock_skew_seconds'))).toBeLessThanOrEqual(2);
    expect(metric(text, 'valet_sidecar_requests_total', 'status="401"'), text.split('\n').filter((l) => l.startsWith('valet_sidecar_requests_total')).join('\n')).toBeGreaterThan(40);
    expect(metric(text, 'valet_sidecar_presigns_total', 'method="GET"')).toBeGreaterThan(MANIFEST_OBJECTS);
    const d = (await creds(main)).json();
    for (const secret of [d.SecretAccessKey, d.Token, main.authToken]) expect(text).not.toContain(String(secret));
  });

  it('no log line of the suite holds a secret key, a session token or an auth token', async () => {
    const secrets = [main.authToken, fast.authToken, readFileSync(tokenFile, 'utf8')];
    for (const s of [main, fast]) {
      for (const a of ['imagenet']) {
        const d = (await creds(s, a)).json();
        secrets.push(String(d.SecretAccessKey), String(d.Token));
      }
    }
    const all = w.logLines.join('\n');
    for (const s of secrets) expect(all.includes(s)).toBe(false);
  });
});
