// Local process, for speed and for its hour-long refresh rate; the pod path it shares is in test/lab/node/faults.ts (run by test/node/training-job.lab.test.ts).
// Endurance: `valet sidecar` runs as its own process against the real issuer and MinIO with a
// refresh fraction so low that each of its three accesses is refreshed about once a second (900 s
// keys, refresh fraction 0.0005, floored at the sidecar's 1 s minimum), while two clients read
// without pause: boto3 through the container-credentials endpoint (which, with 15-minute keys,
// asks the sidecar on nearly every call) and a plain HTTP loop fetching credentials and presigned
// URLs and reading through them. Over at least 200 refresh cycles: no failed client request, and
// the sidecar's resident memory flat (last quarter against first quarter).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, SEED_OBJECTS } from '../lab/index.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { leaks, metric, startWorld, stopAndListLeftovers } from '../lab/world.ts';
import type { SidecarProcess, World } from '../lab/world.ts';

const CYCLES = 200;
/** Memory may grow by at most this much from the first quarter of the run to the last. */
const RSS_GROWTH_LIMIT = 1.25;

let w: World;
let sidecar: SidecarProcess;

beforeAll(async () => {
  w = await startWorld({
    ns: 'endurance',
    accesses: {
      imagenet: { prefix: 'imagenet/', verbs: ['read', 'list'], presign: { enabled: true, maxExpirySeconds: 600 } },
      train: { prefix: 'imagenet/train/', verbs: ['read', 'list'] },
      checkpoints: { prefix: 'checkpoints/', verbs: ['read', 'list', 'write'] },
    },
  });
  sidecar = await w.spawnSidecar('endurance-0', ['--accesses=imagenet,train,checkpoints', '--refresh-fraction=0.0005', '--refresh-jitter=0.1', '--retry-base-seconds=0.2', '--retry-max-seconds=1']);
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

describe(`the sidecar over ${CYCLES} accelerated refresh cycles`, () => {
  it('serves every client request, refreshes on schedule, and keeps its memory flat', async () => {
    const refreshes = async () => metric((await sidecar.get('/metrics', { metrics: true })).body, 'valet_sidecar_refreshes_total', 'result="ok"');
    const startRefreshes = await refreshes();
    const samples: number[] = [];
    const keyIds = new Set<string>();
    let stop = false;

    // Client 1: boto3 with only the injected environment, reading without pause. The lab runs a
    // child for at most 60 s, so the reader runs in back-to-back 20 s runs until told to stop.
    const boto3 = { ok: 0, failed: 0, errors: [] as string[], keys: new Set<string>() };
    const reader = [
      'import boto3, sys, time',
      's3 = boto3.client("s3")',
      'ok = failed = 0',
      'end = time.time() + 20',
      'while time.time() < end:',
      '    try:',
      '        body = s3.get_object(Bucket=sys.argv[1], Key="imagenet/a.bin")["Body"].read().decode()',
      '        if body != sys.argv[2]: raise Exception("wrong body " + body)',
      '        ok += 1',
      '    except Exception as e:',
      '        failed += 1',
      '        print("error", repr(e)[:200], flush=True)',
      '    print("key", s3._request_signer._credentials.get_frozen_credentials().access_key)',
      'print("ok", ok)',
      'print("failed", failed)',
    ].join('\n');
    const env = cleanEnv({
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${sidecar.port}/v1/credentials/imagenet`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: sidecar.authTokenFile,
      AWS_REGION: w.lab.s3.region,
      AWS_ENDPOINT_URL_S3: w.lab.s3.endpoint,
    });
    const boto = (async () => {
      while (!stop) {
        const r = await w.lab.python(reader, env, [w.lab.s3.bucket, SEED_OBJECTS['imagenet/a.bin'] ?? '']);
        if (r.code !== 0) boto3.errors.push(`exit ${r.code}: ${r.stderr.slice(-300)}`);
        for (const line of r.stdout.trim().split('\n')) {
          const [k, v = ''] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
          if (k === 'ok') boto3.ok += Number(v);
          else if (k === 'failed') boto3.failed += Number(v);
          else if (k === 'key') boto3.keys.add(v);
          else if (k === 'error') boto3.errors.push(v);
        }
      }
    })();

    // Client 2: plain HTTP, as a data loader would: credentials of every access, a presigned URL, a read through it.
    const http = { ok: 0, failed: [] as string[] };
    const loop = (async () => {
      while (!stop) {
        try {
          for (const a of ['imagenet', 'train', 'checkpoints']) {
            const c = await sidecar.get(`/v1/credentials/${a}`);
            if (c.status !== 200) throw new Error(`credentials/${a}: ${c.status} ${c.body}`);
            keyIds.add((JSON.parse(c.body) as { AccessKeyId: string }).AccessKeyId);
          }
          const p = await sidecar.get('/v1/presign?access=imagenet&key=imagenet/b.bin&expires=60');
          if (p.status !== 200) throw new Error(`presign: ${p.status} ${p.body}`);
          const got = await fetch((JSON.parse(p.body) as { url: string }).url);
          const text = await got.text();
          if (got.status !== 200 || text !== SEED_OBJECTS['imagenet/b.bin']) throw new Error(`presigned read: ${got.status} ${text.slice(0, 100)}`);
          http.ok++;
        } catch (err) {
          http.failed.push(String(err));
        }
      }
    })();

    const started = Date.now();
    let now = startRefreshes;
    while (now - startRefreshes < CYCLES) {
      if (Date.now() - started > 150_000) throw new Error(`only ${now - startRefreshes} refreshes in 150 s`);
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(sidecar.rss());
      now = await refreshes();
    }
    const seconds = (Date.now() - started) / 1000;
    stop = true;
    await loop;
    await boto;

    const q = Math.max(1, Math.floor(samples.length / 4));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(samples.slice(0, q));
    const last = mean(samples.slice(-q));
    const text = (await sidecar.get('/metrics', { metrics: true })).body;
    process.stdout.write(
      `endurance: ${now - startRefreshes} refreshes in ${seconds.toFixed(0)} s; boto3 ok ${boto3.ok} failed ${boto3.failed} (${boto3.keys.size} key ids); ` +
        `HTTP loop ok ${http.ok} failed ${http.failed.length} (${keyIds.size} key ids); sidecar RSS first quarter ${(first / 2 ** 20).toFixed(1)} MiB, ` +
        `last quarter ${(last / 2 ** 20).toFixed(1)} MiB (×${(last / first).toFixed(2)}); refresh failures ${metric(text, 'valet_sidecar_refreshes_total', 'result="transient"') + metric(text, 'valet_sidecar_refreshes_total', 'result="refused"')}\n`,
    );
    expect(boto3.errors).toEqual([]);
    expect(boto3.failed).toBe(0);
    expect(boto3.ok).toBeGreaterThan(100);
    expect(http.failed).toEqual([]);
    expect(http.ok).toBeGreaterThan(100);
    // Every refresh minted a new key: the clients saw them rotate.
    expect(keyIds.size).toBeGreaterThan(CYCLES / 2);
    expect(boto3.keys.size).toBeGreaterThan(10);
    expect(metric(text, 'valet_sidecar_refreshes_total', 'result="refused"')).toBe(0);
    expect(metric(text, 'valet_sidecar_ready')).toBe(1);
    expect(last / first).toBeLessThan(RSS_GROWTH_LIMIT);
  }, 240_000);

  it('leaves no secret in any log: the sidecar, the issuer, the controller, and the servers', () => {
    w.secrets.add(sidecar.authToken());
    const texts = [
      ...w.logLines.map((line) => ({ where: 'operator', line })),
      ...sidecar.lines.map((line) => ({ where: 'sidecar', line })),
      ...readdirSync(w.lab.logsDir).flatMap((f) => readFileSync(join(w.lab.logsDir, f), 'utf8').split('\n').map((line) => ({ where: f, line }))),
    ];
    expect(leaks(w.secrets, texts)).toEqual([]);
    expect(w.secrets.size).toBeGreaterThan(CYCLES);
  });
});

describe('nothing left behind', () => {
  it('stops every process and removes every folder this suite made', async () => {
    const world = w;
    w = undefined as unknown as World;
    expect(await stopAndListLeftovers(world)).toEqual([]);
    expect(sidecar.child.exitCode !== null || sidecar.child.signalCode !== null).toBe(true);
  });
});
