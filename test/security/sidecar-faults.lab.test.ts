// Local process, for speed: the kubelet restarting a killed sidecar container is test/lab/node/faults.ts (run by test/node/training-job.lab.test.ts).
// Faults around the sidecar, with real processes stopped and restarted: `valet sidecar` killed
// and started again inside a running "pod" while the app reads (the app's next request succeeds:
// the restarted sidecar writes a new auth token to the same file, which SDKs re-read per fetch),
// and MinIO (the store's STS) down through a refresh (valid keys keep being served, /readyz stays
// ready, and fresh keys come back without restarting anything). The other faults are held by
// test/sidecar.lab.test.ts (issuer down), test/issuer.lab.test.ts (MinIO down at the issuer),
// test/controller.lab.test.ts (apiserver restart, leader killed).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, SEED_OBJECTS } from '../lab/index.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { leaks, metric, startWorld, stopAndListLeftovers } from '../lab/world.ts';
import type { RestartableSidecar, World } from '../lab/world.ts';

let w: World;
let sidecar: RestartableSidecar;
const tokensSeen = new Set<string>();

beforeAll(async () => {
  w = await startWorld({ ns: 'faults', accesses: { imagenet: { prefix: 'imagenet/', verbs: ['read', 'list'] } } });
  // 900 s keys refreshed every ~4.5 s; retries every 0.2..1 s while something is down.
  sidecar = (await w.spawnSidecar('app-0', ['--accesses=imagenet', '--refresh-fraction=0.005', '--retry-base-seconds=0.2', '--retry-max-seconds=1', '--request-timeout-seconds=3'])) as RestartableSidecar;
  tokensSeen.add(sidecar.authToken());
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

const podEnv = () =>
  cleanEnv({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${sidecar.port}/v1/credentials`,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: sidecar.authTokenFile,
    AWS_REGION: w.lab.s3.region,
    AWS_ENDPOINT_URL_S3: w.lab.s3.endpoint,
  });

/** An app that reads without pause until `stopFile` exists, then prints ok/failed counts and its errors. */
const READER = [
  'import boto3, os, sys, time',
  'from botocore.credentials import ContainerProvider',
  's3 = boto3.client("s3")',
  'ok = failed = fetched = fetch_failed = 0',
  'while not os.path.exists(sys.argv[2]):',
  '    try:',
  '        body = s3.get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")["Body"].read().decode()',
  '        if body != sys.argv[3]: raise Exception("wrong body")',
  '        ok += 1',
  '    except Exception as e:',
  '        failed += 1',
  '        print("error", repr(e)[:200], flush=True)',
  // A fresh credential fetch, as a new SDK client makes: reads the token file again.
  '    try:',
  '        ContainerProvider().load().get_frozen_credentials()',
  '        fetched += 1',
  '    except Exception as e:',
  '        fetch_failed += 1',
  '        last = repr(e)[:120]',
  '    time.sleep(0.05)',
  'print("ok", ok)',
  'print("failed", failed)',
  'print("fetched", fetched)',
  'print("fetch_failed", fetch_failed)',
  // The first fetch after the loop: the app\'s "next request" once the sidecar is back.
  'print("next", ContainerProvider().load().get_frozen_credentials().access_key[:4])',
].join('\n');

const parse = (out: string) => Object.fromEntries(out.trim().split('\n').filter((l) => !l.startsWith('error')).map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));

describe('the sidecar restarted inside a running pod', () => {
  it("the app keeps reading with the key it holds, and its next credential fetch after the restart succeeds with the new auth token", async () => {
    const stopFile = join(w.dir, 'stop-restart');
    const app = w.lab.python(READER, podEnv(), [w.lab.s3.bucket, stopFile, SEED_OBJECTS['imagenet/a.bin'] ?? '']);
    await new Promise((r) => setTimeout(r, 3000));
    const oldToken = sidecar.authToken();
    const killedAt = Date.now();
    await sidecar.kill('SIGKILL');
    // Down: the loopback port is closed; the old token file is still there.
    await expect(fetch(`http://127.0.0.1:${sidecar.port}/healthz`)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 2000));
    await sidecar.restart();
    const backAfter = (Date.now() - killedAt) / 1000;
    const newToken = sidecar.authToken();
    tokensSeen.add(newToken);
    w.secrets.add(newToken);
    expect(newToken).not.toBe(oldToken);
    // The old token no longer opens anything; the new one does.
    expect((await sidecar.get('/v1/credentials', { authorization: oldToken })).status).toBe(401);
    expect((await sidecar.get('/v1/credentials')).status).toBe(200);
    expect((await sidecar.get('/readyz', { metrics: true })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3000));
    writeFileSync(stopFile, '');
    const r = await app;
    const out = parse(r.stdout);
    const text = (await sidecar.get('/metrics', { metrics: true })).body;
    process.stdout.write(
      `sidecar SIGKILLed and restarted (back and ready after ${backAfter.toFixed(1)} s): app reads ok ${out.ok} failed ${out.failed}; ` +
        `fresh credential fetches ok ${out.fetched} failed ${out.fetch_failed} (those while it was down); next fetch: ${out.next}…; ` +
        `restarted sidecar: ready ${metric(text, 'valet_sidecar_ready')}, credential requests 200: ${metric(text, 'valet_sidecar_requests_total', 'route="credentials",status="200"')}\n`,
    );
    expect(r.code, r.stderr + r.stdout).toBe(0);
    // Reads go to S3 with the key the SDK holds: none failed while the sidecar was away.
    expect(out.failed, r.stdout).toBe('0');
    expect(Number(out.ok)).toBeGreaterThan(20);
    expect(out.next).toMatch(/^\w{4}$/);
    expect(Number(out.fetched)).toBeGreaterThan(10);
    // The restarted sidecar served the app's fetches (it re-read the token file).
    expect(metric(text, 'valet_sidecar_requests_total', 'route="credentials",status="200"')).toBeGreaterThan(1);
    // 401s: the test's own request with the old token, and at most one app fetch that read the
    // old token just before the restarted sidecar wrote the new one.
    expect(metric(text, 'valet_sidecar_requests_total', 'route="credentials",status="401"')).toBeLessThanOrEqual(2);
  }, 90_000);
});

describe('MinIO down through a refresh', () => {
  it('valid keys keep being served and /readyz stays ready; MinIO back: a fresh key without restarting anything', async () => {
    const metrics = async () => (await sidecar.get('/metrics', { metrics: true })).body;
    const transientBefore = metric(await metrics(), 'valet_sidecar_refreshes_total', 'result="transient"');
    const before = JSON.parse((await sidecar.get('/v1/credentials')).body) as { AccessKeyId: string };
    const pid = sidecar.child.pid;
    await w.lab.stopMinio();
    let during: { AccessKeyId: string } | undefined;
    try {
      await w.waitFor('a failed refresh', async () => metric(await metrics(), 'valet_sidecar_refreshes_total', 'result="transient"') >= transientBefore + 2, 30_000);
      const c = await sidecar.get('/v1/credentials');
      expect(c.status).toBe(200);
      during = JSON.parse(c.body) as { AccessKeyId: string };
      expect((await sidecar.get('/readyz', { metrics: true })).status).toBe(200);
      expect(metric(await metrics(), 'valet_sidecar_ready')).toBe(1);
      // The warning operators see (the code is StsUnavailable, or IssuerUnreachable when the
      // sidecar's own request timeout ends before the issuer's STS retries do).
      expect(sidecar.lines.some((l) => l.includes('key refresh failed; still-valid keys are served, retrying') && /StsUnavailable|IssuerUnreachable/.test(l))).toBe(true);
    } finally {
      await w.lab.startMinio();
    }
    const fresh = await w.waitFor('a fresh key after MinIO is back', async () => {
      const c = await sidecar.get('/v1/credentials');
      const k = JSON.parse(c.body) as { AccessKeyId: string };
      return c.status === 200 && k.AccessKeyId !== during?.AccessKeyId ? k : undefined;
    }, 30_000);
    expect(sidecar.child.pid).toBe(pid);
    expect(fresh.AccessKeyId).not.toBe(before.AccessKeyId);
    const read = await w.lab.python('import boto3, sys; print(boto3.client("s3").get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")["Body"].read().decode())', podEnv(), [w.lab.s3.bucket]);
    expect(read.stdout.trim(), read.stderr).toBe(SEED_OBJECTS['imagenet/a.bin']);
    const text = await metrics();
    process.stdout.write(`MinIO down through a refresh: ${metric(text, 'valet_sidecar_refreshes_total', 'result="transient"') - transientBefore} failed refreshes, key ${during?.AccessKeyId.slice(0, 8)}… served throughout, /readyz 200; fresh key ${fresh.AccessKeyId.slice(0, 8)}… once back\n`);
  }, 90_000);
});

describe('nothing lost, nothing leaked', () => {
  it('no secret in the logs of the sidecar (both runs), the issuer, the controller or the servers', () => {
    for (const t of tokensSeen) w.secrets.add(t);
    const texts = [...w.logLines, ...sidecar.lines].map((line) => ({ where: 'log', line }));
    expect(leaks(w.secrets, texts)).toEqual([]);
  });

  it('stops every process and removes every folder this suite made', async () => {
    const world = w;
    w = undefined as unknown as World;
    expect(await stopAndListLeftovers(world)).toEqual([]);
    expect(sidecar.child.exitCode !== null || sidecar.child.signalCode !== null).toBe(true);
  });
});
