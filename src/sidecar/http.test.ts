import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rfc3339 } from '../platform/time.ts';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { parseSidecarConfig } from '../config/sidecar.ts';
import type { Clock } from '../platform/clock.ts';
import { memoryLogger } from '../platform/logger.ts';
import { secretMatches } from '../policy/pod-token.ts';
import { secretChecker } from './auth.ts';
import { PLAIN_TARGET, splitTarget } from './http.ts';
import type { FetchResult, KeySource } from './issuer-client.ts';
import { startSidecar } from './sidecar.ts';
import type { Sidecar } from './sidecar.ts';

const KEY = (access: string, verbs: ('read' | 'list' | 'write')[]) => ({
  access,
  bucket: 'datasets',
  prefix: `${access}/`,
  verbs,
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  presign: { enabled: true, maxExpirySeconds: 600 },
  credentials: { AccessKeyId: `ASIA${access.toUpperCase()}`, SecretAccessKey: `secret-${access}`, SessionToken: `session-${access}`, Expiration: new Date(Date.now() + 900_000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  expiresInSeconds: 900,
});

const source: KeySource = {
  fetchKeys: async (accesses): Promise<FetchResult> => ({ kind: 'ok', keys: (accesses ?? []).map((a) => KEY(a, a === 'imagenet' ? ['read', 'list'] : ['read', 'list', 'write'])) }),
};

let dir: string;
let s: Sidecar;
const registry = new Registry();
const logger = memoryLogger();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'valet-sidecar-http-'));
  const config = parseSidecarConfig([
    '--issuer-url=https://issuer.invalid',
    `--auth-token-file=${join(dir, 'shared', 'token')}`,
    '--port=0',
    '--metrics-address=127.0.0.1:0',
    '--accesses=imagenet,checkpoints',
    '--default-access=imagenet',
  ]);
  s = await startSidecar(config, {
    logger,
    registry,
    source,
    lister: async function* (req) {
      yield [{ key: `${req.prefix}a.bin`, size: 1 }, { key: `${req.prefix}sub/`, size: 0 }, { key: `${req.prefix}../escape`, size: 1 }];
      yield [{ key: `${req.prefix}b c+d.bin`, size: 2 }];
    },
  });
});
afterAll(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (path: string, authorization?: string, port = s.port) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: authorization === undefined ? {} : { authorization } });
  return { status: res.status, body: await res.text(), headers: res.headers };
};

describe('the loopback server', () => {
  it('writes the token file without a newline, mode 0644', () => {
    const p = join(dir, 'shared', 'token');
    expect(readFileSync(p, 'utf8')).toBe(s.authToken);
    expect(statSync(p).mode & 0o777).toBe(0o644);
  });

  it('answers 401 without the exact Authorization value, and counts it', async () => {
    for (const auth of [undefined, '', 'x', `Bearer ${s.authToken}`, `${s.authToken}x`]) {
      expect((await get('/v1/credentials', auth)).status).toBe(401);
      expect((await get('/v1/nothing', auth)).status).toBe(401);
    }
    const text = await registry.metrics();
    expect(text).toMatch(/valet_sidecar_requests_total\{route="credentials",status="401"\} 5/);
    expect(text).toMatch(/valet_sidecar_requests_total\{route="other",status="401"\} 5/);
  });

  it('serves the container-credentials format, by default and by name', async () => {
    const r = await get('/v1/credentials', s.authToken);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(r.body)).toEqual({ AccessKeyId: 'ASIAIMAGENET', SecretAccessKey: 'secret-imagenet', Token: 'session-imagenet', Expiration: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
    expect(JSON.parse((await get('/v1/credentials/checkpoints', s.authToken)).body).AccessKeyId).toBe('ASIACHECKPOINTS');
    expect((await get('/v1/credentials/other', s.authToken)).status).toBe(404);
    expect((await get('/v1/credentials/a/b', s.authToken)).status).toBe(404);
  });

  it('with several accesses and no default named, answers 409 NoDefaultAccess naming them, never an arbitrary key; by name still works', async () => {
    const config = parseSidecarConfig(['--issuer-url=https://issuer.invalid', `--auth-token-file=${join(dir, 'other', 'token')}`, '--port=0', '--metrics-address=127.0.0.1:0', '--accesses=imagenet,checkpoints']);
    const other = await startSidecar(config, { logger: memoryLogger(), registry: new Registry(), source });
    try {
      for (const path of ['/v1/credentials', '/v1/presign?key=imagenet/a.bin']) {
        const r = await get(path, other.authToken, other.port);
        expect(r.status, path).toBe(409);
        expect(JSON.parse(r.body).error, path).toMatchObject({ code: 'NoDefaultAccess', message: expect.stringContaining('checkpoints, imagenet') as string });
        expect(r.body, path).not.toContain('ASIA');
      }
      expect(JSON.parse((await get('/v1/credentials/imagenet', other.authToken, other.port)).body).AccessKeyId).toBe('ASIAIMAGENET');
    } finally {
      await other.close();
    }
  });

  it('presigns, and streams manifests without folder markers or unsafe keys', async () => {
    const p = await get('/v1/presign?key=imagenet/a.bin', s.authToken);
    expect(p.status).toBe(200);
    expect(JSON.parse(p.body).url).toMatch(/^http:\/\/127\.0\.0\.1:9\/datasets\/imagenet\/a\.bin\?X-Amz-Algorithm=/);
    const m = await get('/v1/manifest/imagenet?format=urls', s.authToken);
    expect(m.status).toBe(200);
    expect(m.body.trim().split('\n').map((u) => decodeURIComponent(new URL(u).pathname))).toEqual(['/datasets/imagenet/a.bin', '/datasets/imagenet/b c+d.bin']);
    const j = await get('/v1/manifest/imagenet', s.authToken);
    expect(j.body.trim().split('\n').map((l) => JSON.parse(l).key)).toEqual(['imagenet/a.bin', 'imagenet/b c+d.bin']);
  });

  it('answers a target that is no URL (//, ///, //a:b) like any unknown path, on both ports, and keeps serving', async () => {
    const raw = (port: number, target: string, auth?: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1', () => sock.end(`GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${auth === undefined ? '' : `authorization: ${auth}\r\n`}\r\n`));
        let text = '';
        sock.on('data', (d: Buffer) => (text += d.toString()));
        sock.on('end', () => resolve(text.split('\r\n')[0] ?? ''));
        sock.on('error', reject);
      });
    for (const target of ['//', '///', '//a:b', '/\\', '//[']) {
      expect(await raw(s.port, target), target).toBe('HTTP/1.1 401 Unauthorized');
      expect(await raw(s.port, target, s.authToken), target).toBe('HTTP/1.1 404 Not Found');
      expect(await raw(s.metricsPort, target), target).toBe('HTTP/1.1 404 Not Found');
    }
    expect((await get('/v1/credentials', s.authToken)).status).toBe(200);
  });

  it('keeps the metrics port free of keys', async () => {
    expect((await get('/v1/credentials', s.authToken, s.metricsPort)).status).toBe(404);
    expect((await get('/readyz', undefined, s.metricsPort)).status).toBe(200);
    const text = (await get('/metrics', undefined, s.metricsPort)).body;
    expect(text).toContain('valet_sidecar_ready 1');
    expect(text).not.toMatch(/secret-|session-|ASIA/);
    expect(text).not.toContain(s.authToken);
  });
});

describe('the credentials hot path', () => {
  it('splits any request target into the pathname and search new URL gives, and takes the plain path for the credentials routes', () => {
    const targets = fc
      .array(fc.constantFrom('/', '/', '.', '..', 'a', 'Z', '0', '_', '~', '-', '%', '2e', '%2E', '?', '#', '\\', '@', ':', ';', '+', '=', '&', '"', 'é', '\t', 'v1', 'credentials'), { maxLength: 16 })
      .map((parts) => `/${parts.join('')}`);
    fc.assert(
      fc.property(targets, (target) => {
        const url = URL.parse(target, 'http://127.0.0.1');
        expect(splitTarget(target)).toEqual(url === null ? { pathname: '', search: '' } : { pathname: url.pathname, search: url.search });
      }),
      { numRuns: 3000 },
    );
    for (const t of ['/', '/v1/credentials', '/v1/credentials/', '/v1/credentials/imagenet-read.v2', '/v1/.well-known', '/v1/...']) {
      expect(PLAIN_TARGET.test(t), t).toBe(true);
      expect(splitTarget(t)).toEqual({ pathname: t, search: '' });
    }
    for (const t of ['/v1/credentials?x=1', '/v1/../credentials', '/v1/./credentials', '/v1/credentials/..', '//host/v1/credentials', '/v1/cred%65ntials', '/v1\\credentials', '/v1/credentials#f']) {
      expect(PLAIN_TARGET.test(t), t).toBe(false);
    }
  });

  it('checks the token with the expected value hashed once: the same answers as secretMatches, whatever is presented', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.option(fc.string(), { nil: undefined }), (expected, given) => {
        expect(secretChecker(expected)(given)).toBe(secretMatches(given, expected));
      }),
    );
    const token = 'k3Jx_the-pod-token-0123456789abcdefghijklmno';
    const check = secretChecker(token);
    expect(check(token)).toBe(true);
    for (const wrong of [undefined, '', token.slice(0, -1), `${token}x`, `Bearer ${token}`, token.toUpperCase(), `${token}\n`]) expect(check(wrong), String(wrong)).toBe(false);
  });

  it('serves a new body when the key rolls over or its Expiration second changes, the same one otherwise, and still refuses a wrong token', async () => {
    const clock = { wall: Date.UTC(2026, 11, 5, 12, 0, 0, 250), mono: 1_000 };
    const fakeClock: Clock = { now: () => clock.wall, monotonic: () => clock.mono };
    let n = 0;
    const rolling: KeySource = {
      fetchKeys: async (): Promise<FetchResult> => {
        n++;
        return { kind: 'ok', keys: [{ ...KEY('imagenet', ['read', 'list']), credentials: { AccessKeyId: `ASIAKEY${n}`, SecretAccessKey: `secret-${n}`, SessionToken: `session-${n}`, Expiration: rfc3339(clock.wall + 900_000) } }] };
      },
    };
    const config = parseSidecarConfig(['--issuer-url=https://issuer.invalid', `--auth-token-file=${join(dir, 'rolling', 'token')}`, '--port=0', '--metrics-address=127.0.0.1:0', '--accesses=imagenet']);
    const r = await startSidecar(config, { logger: memoryLogger(), registry: new Registry(), source: rolling, clock: fakeClock });
    try {
      const credentials = async () => {
        const res = await get('/v1/credentials', r.authToken, r.port);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(res.body)));
        return { body: res.body, json: JSON.parse(res.body) as Record<string, string> };
      };
      const expiration = (wall: number, mono: number) => rfc3339(wall + (1_000 + 900_000 - config.expiryMarginSeconds * 1000 - mono));
      const first = await credentials();
      expect(first.json).toEqual({ AccessKeyId: 'ASIAKEY1', SecretAccessKey: 'secret-1', Token: 'session-1', Expiration: expiration(clock.wall, clock.mono) });

      // Both clocks move on together: the same Expiration, the same body.
      clock.wall += 400;
      clock.mono += 400;
      expect((await credentials()).body).toBe(first.body);

      // The wall clock alone steps forward a second (NTP): Expiration follows the pod's clock.
      clock.wall += 1_000;
      const stepped = await credentials();
      expect(stepped.json).toEqual({ ...first.json, Expiration: expiration(clock.wall, clock.mono) });
      expect(stepped.json.Expiration).not.toBe(first.json.Expiration);

      // A refresh holds a new key: served from the next request on.
      await r.cache.refreshAll();
      const rolled = await credentials();
      expect(rolled.json).toMatchObject({ AccessKeyId: 'ASIAKEY2', SecretAccessKey: 'secret-2', Token: 'session-2' });

      for (const auth of [undefined, '', `${r.authToken}x`, r.authToken.slice(1)]) {
        const refused = await get('/v1/credentials', auth, r.port);
        expect(refused.status).toBe(401);
        expect(JSON.parse(refused.body)).toEqual({ error: { code: 'Unauthorized', message: expect.any(String) as string } });
        expect(refused.body).not.toContain('ASIA');
      }
    } finally {
      await r.close();
    }
  });
});
