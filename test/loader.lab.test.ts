// Stable loader URLs against the real lab: the real `valet sidecar` process (given the pod token
// the webhook would give it), the real issuer and controller, MinIO's STS and S3, tar shards made
// by GNU tar, and real HTTP clients that follow redirects (fetch, Python's urllib). Keys are
// refreshed every few seconds here, so URLs handed out before a rollover are used after it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePodToken, loaderCapability } from '../src/policy/index.ts';
import { MAX_WIDS_SHARDS } from '../src/sidecar/loader-http.ts';
import { ensureDebs } from './lab/debs.ts';
import { cleanEnv } from './lab/index.ts';
import { makeWdsShard } from './lab/shards.ts';
import { useLabLogs } from './lab/vitest.ts';
import { G, leaks, startWorld, stopAndListLeftovers, type RestartableSidecar, type SidecarProcess, type World } from './lab/world.ts';

const NS = 'loader';
const SHARDS = 'imagenet/loader-shards/';
const SHARD_COUNT = 4;
const SAMPLES_PER_SHARD = 3;

let w: World;
let s3: S3Client;
let sidecar: SidecarProcess;
const podToken = generatePodToken();
let base: string;
const shard = new Map<string, Buffer>();

interface Answer {
  status: number;
  location: string | null;
  body: Buffer;
  json: () => { error?: { code: string; message: string } };
}

/** One request, redirects not followed. */
async function ask(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, redirect: 'manual' });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, location: res.headers.get('location'), body, json: () => JSON.parse(body.toString()) as ReturnType<Answer['json']> };
}

const objectUrl = (key: string, access = 'shards') => `${base}/${access}/${key}`;

beforeAll(async () => {
  w = await startWorld({
    ns: NS,
    accesses: {
      shards: { prefix: SHARDS, verbs: ['read', 'list'], presign: { enabled: true, maxExpirySeconds: 600 } },
      revocable: { prefix: SHARDS, verbs: ['read', 'list'], presign: { enabled: true, maxExpirySeconds: 600 } },
      unsigned: { prefix: SHARDS, verbs: ['read', 'list'] },
      many: { prefix: 'imagenet/many/', verbs: ['read', 'list'], presign: { enabled: true, maxExpirySeconds: 600 } },
    },
  });
  s3 = new S3Client({ endpoint: w.lab.s3.endpoint, region: w.lab.s3.region, forcePathStyle: true, credentials: w.lab.s3.root });
  for (let i = 0; i < SHARD_COUNT; i++) {
    const body = makeWdsShard(w.dir, i, SAMPLES_PER_SHARD);
    const key = `${SHARDS}shard-${String(i).padStart(4, '0')}.tar`;
    shard.set(key, body);
    await s3.send(new PutObjectCommand({ Bucket: w.lab.s3.bucket, Key: key, Body: body }));
  }
  await s3.send(new PutObjectCommand({ Bucket: w.lab.s3.bucket, Key: 'checkpoints/private/secret.bin', Body: 'not yours' }));
  // More shards than a wids index reads: tiny, and never read (the cap is checked while listing).
  const keys = Array.from({ length: MAX_WIDS_SHARDS + 1 }, (_, i) => `imagenet/many/s-${String(i).padStart(5, '0')}.tar`);
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((Key) => s3.send(new PutObjectCommand({ Bucket: w.lab.s3.bucket, Key, Body: 'x' }))));
  w.secrets.add(podToken);
  // 900 s sessions refreshed every ~4.5 s: rollovers happen while the suite runs.
  sidecar = await w.spawnSidecar('loader-0', ['--accesses=shards,revocable,unsigned,many', '--default-access=shards', '--refresh-fraction=0.005', '--retry-base-seconds=0.2', '--retry-max-seconds=1'], { VALET_POD_AUTH_TOKEN: podToken });
  base = `http://127.0.0.1:${sidecar.port}/v1/loader/${loaderCapability(podToken)}`;
}, 240_000);

afterAll(async () => {
  s3?.destroy();
  if (w) expect(await stopAndListLeftovers(w)).toEqual([]);
});

useLabLogs(() => w);

describe('the pod token from the webhook', () => {
  it('is the Authorization value the sidecar serves keys for, and the one it writes to the token file', async () => {
    expect(sidecar.authToken()).toBe(podToken);
    expect((await sidecar.get('/v1/credentials', { authorization: podToken })).status).toBe(200);
  });
});

describe('a sidecar restart', () => {
  it('keeps the pod token: a process holding the token from its environment, or a loader URL, still works after it', async () => {
    const url = objectUrl(`${SHARDS}shard-0000.tar`);
    const before = sidecar.child.pid;
    await sidecar.kill('SIGKILL');
    await (sidecar as RestartableSidecar).restart();
    expect(sidecar.child.pid).not.toBe(before);
    expect(sidecar.authToken()).toBe(podToken);
    expect((await sidecar.get('/v1/credentials/shards', { authorization: podToken })).status).toBe(200);
    expect((await ask(url)).status).toBe(302);
  });
});

describe('a stable loader URL', () => {
  const key = `${SHARDS}shard-0001.tar`;

  it('redirects GET to a fresh presigned URL that reads the object', async () => {
    const r = await ask(objectUrl(key));
    expect(r.status).toBe(302);
    expect(r.location).toMatch(new RegExp(`^${w.lab.s3.endpoint}/${w.lab.s3.bucket}/imagenet/loader-shards/shard-0001\\.tar\\?.*X-Amz-Signature=`));
    expect(r.location).toMatch(/X-Amz-Expires=60&/);
    const followed = await fetch(objectUrl(key));
    expect(followed.status).toBe(200);
    expect(Buffer.from(await followed.arrayBuffer()).equals(shard.get(key) as Buffer)).toBe(true);
  });

  it('answers HEAD with a URL signed for HEAD, and a ranged GET with exactly the bytes asked for', async () => {
    const head = await fetch(objectUrl(key), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(shard.get(key)?.length);
    const ranged = await fetch(objectUrl(key), { headers: { range: 'bytes=512-1023' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals((shard.get(key) as Buffer).subarray(512, 1024))).toBe(true);
  });

  it("works for Python's urllib, which follows the redirect and sends the Range again", async () => {
    const script = 'import sys, urllib.request\nr = urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"Range": "bytes=0-99"}))\nsys.stdout.write(str(r.status) + " " + str(len(r.read())))';
    const out = await w.lab.python(script, cleanEnv({}), [objectUrl(key)]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('206 100');
  });

  it('keeps working across key rollovers: URLs handed out before a new key still read after it', async () => {
    const urls = (await ask(`${base}/_manifests/shards/urls.txt`)).body.toString().trim().split('\n');
    const keyId = async () => JSON.parse((await sidecar.get('/v1/credentials/shards', { authorization: podToken })).body).AccessKeyId as string;
    const first = await keyId();
    await w.waitFor('a new key for shards', async () => (await keyId()) !== first, 30_000);
    for (const u of urls) {
      const res = await fetch(u);
      expect(res.status, u).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).length).toBeGreaterThan(0);
    }
  });
});

describe('webdataset, unmodified, over the stable URLs', () => {
  it('reads every sample of every shard, epoch after epoch, while the keys roll over underneath', async () => {
    await ensureDebs(['curl'], 'webdataset (it reads http shards with curl)');
    const pattern = (await ask(`${base}/_manifests/shards/pattern.txt`)).body.toString().trim();
    // The loader as a data scientist writes it: one pattern, no headers, no keys, no re-signing.
    const script = [
      'import json, sys, time, webdataset as wds',
      'until = time.monotonic() + float(sys.argv[2])',
      'while time.monotonic() < until:',
      '    n = sum(1 for _ in wds.WebDataset(sys.argv[1], shardshuffle=False))',
      '    print(json.dumps({"samples": n}), flush=True)',
    ].join('\n');
    const keyIds = new Set<string>();
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const r = await sidecar.get('/v1/credentials/shards', { authorization: podToken });
        if (r.status === 200) keyIds.add((JSON.parse(r.body) as { AccessKeyId: string }).AccessKeyId);
        await new Promise((res) => setTimeout(res, 250));
      }
    })();
    const out = await w.lab.python(script, cleanEnv(), [pattern, '12']);
    polling = false;
    await poll;
    const epochs = out.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { samples: number }).samples);
    expect(out.code, out.stderr).toBe(0);
    expect(epochs.length).toBeGreaterThanOrEqual(3);
    expect(epochs.every((n) => n === SHARD_COUNT * SAMPLES_PER_SHARD), JSON.stringify(epochs)).toBe(true);
    // Keys roll over every ~4.5 s here: the epochs above outlived at least two of them.
    expect(keyIds.size).toBeGreaterThanOrEqual(3);
  });
});

describe('manifests of stable URLs', () => {
  it('urls.txt lists every object under the prefix, each readable', async () => {
    const r = await ask(`${base}/_manifests/shards/urls.txt`);
    expect(r.status).toBe(200);
    const urls = r.body.toString().trim().split('\n');
    expect(urls).toEqual([...shard.keys()].map((k) => objectUrl(k)));
  });

  it('pattern.txt is one WebDataset brace pattern naming exactly the shards', async () => {
    const r = await ask(`${base}/_manifests/shards/pattern.txt?prefix=${encodeURIComponent(SHARDS)}`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`${base}/shards/imagenet/loader-shards/shard-{0000..0003}.tar\n`);
  });

  it('wids.json is a wids shard index with each shard\'s samples counted from the tar itself', async () => {
    const r = await ask(`${base}/_manifests/shards/wids.json`);
    expect(r.status).toBe(200);
    const index = JSON.parse(r.body.toString()) as { __kind__: string; wids_version: number; shardlist: { url: string; nsamples: number; filesize: number }[] };
    expect(index.__kind__).toBe('wids-shard-index-v1');
    expect(index.wids_version).toBe(1);
    expect(index.shardlist).toEqual([...shard].map(([k, b]) => ({ url: objectUrl(k), nsamples: SAMPLES_PER_SHARD, filesize: b.length })));
  });
});

describe('bad input: a clear status and message, no presigned URL, and the sidecar keeps serving', () => {
  const good = () => ask(objectUrl(`${SHARDS}shard-0000.tar`));
  const cases: [string, () => Promise<Answer>, number, string][] = [
    ['a key outside the grant', () => ask(objectUrl('checkpoints/private/secret.bin')), 403, 'KeyOutsidePrefix'],
    ['a key escaping the prefix', () => ask(`${base}/shards/imagenet/loader-shards/..%2F..%2Fcheckpoints/secret.bin`), 400, 'KeyTraversal'],
    ['an unknown access', () => ask(objectUrl(`${SHARDS}shard-0000.tar`, 'nosuch')), 404, 'NoSuchAccess'],
    ['an access without presigning', () => ask(objectUrl(`${SHARDS}shard-0000.tar`, 'unsigned')), 403, 'PresignDisabled'],
    ['a malformed Range', () => ask(objectUrl(`${SHARDS}shard-0000.tar`), { headers: { range: 'bytes=9-1' } }), 400, 'BadRange'],
    ['a wrong capability (a container valet.dev/skip-containers names does not know it)', () => ask(objectUrl(`${SHARDS}shard-0000.tar`).replace(loaderCapability(podToken), loaderCapability(generatePodToken()))), 401, 'Unauthorized'],
    ['the pod token itself in place of the capability', () => ask(objectUrl(`${SHARDS}shard-0000.tar`).replace(loaderCapability(podToken), podToken)), 401, 'Unauthorized'],
    ['PUT', () => ask(objectUrl(`${SHARDS}shard-0000.tar`), { method: 'PUT', body: 'x' }), 405, 'MethodNotAllowed'],
    [`a wids index over more than ${MAX_WIDS_SHARDS} shards`, () => ask(`${base}/_manifests/many/wids.json`), 413, 'ManifestTooLarge'],
    ['a manifest prefix outside the grant', () => ask(`${base}/_manifests/shards/urls.txt?prefix=checkpoints/private/`), 403, 'KeyOutsidePrefix'],
    ['an unknown manifest', () => ask(`${base}/_manifests/shards/index.csv`), 404, 'NotFound'],
  ];
  it.each(cases)('%s', async (_what, call, status, code) => {
    const r = await call();
    expect(r.status).toBe(status);
    expect(r.location).toBeNull();
    expect(r.json().error?.code).toBe(code);
    expect(r.json().error?.message.length).toBeGreaterThan(10);
    expect(r.body.toString()).not.toContain('X-Amz-Signature');
    expect((await good()).status).toBe(302);
  });

  it('a revoked access stops redirecting within one refresh, while the others go on', async () => {
    const url = objectUrl(`${SHARDS}shard-0002.tar`, 'revocable');
    expect((await ask(url)).status).toBe(302);
    await w.clients.customObjects.deleteNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', name: 'revocable' });
    const after = await w.waitFor('the revoked access to stop redirecting', async () => {
      const r = await ask(url);
      return r.status === 302 ? undefined : r;
    }, 30_000);
    expect(after.location).toBeNull();
    expect([403, 404, 503]).toContain(after.status);
    expect(after.json().error?.message).toMatch(/revocable/);
    expect((await good()).status).toBe(302);
  });
});

describe('valet doctor, with exactly the environment the webhook gives an app container', () => {
  const env = () =>
    cleanEnv({
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${sidecar.port}/v1/credentials`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: sidecar.authTokenFile,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: podToken,
      VALET_LOADER_URL: base,
      AWS_REGION: w.lab.s3.region,
      AWS_DEFAULT_REGION: w.lab.s3.region,
      AWS_ENDPOINT_URL_S3: w.lab.s3.endpoint,
      HOME: w.dir,
    });
  const doctor = (extra: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'src/cli/main.ts'), 'doctor', '--json'], { env: { ...env(), ...extra }, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, report: JSON.parse(r.stdout) as { findings: { level: string; what: string; fix?: string }[]; families: { family: string; ok: boolean; why: string }[]; problems: number }, text: r.stdout + r.stderr };
  };

  it('finds nothing wrong: every SDK family finds keys, the sidecar serves one, and the clock matches MinIO\'s', () => {
    const { code, report, text } = doctor();
    expect(report.problems, text).toBe(0);
    expect(code).toBe(0);
    expect(report.families.filter((f) => !f.ok)).toEqual([]);
    expect(report.findings).toContainEqual({ level: 'ok', what: expect.stringMatching(/^the sidecar serves a key, valid for \d+ more minutes$/) });
    expect(report.findings).toContainEqual({ level: 'ok', what: expect.stringMatching(/^this clock is \d+\.\d s (ahead of|behind) the store's$/) });
    expect(text).not.toContain(podToken);
  });

  it('names a profile that would win, and a token the sidecar refuses, each with its fix, and exits 1', () => {
    const { code, report } = doctor({ AWS_PROFILE: 'team', AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(w.dir, 'no-such-file'), AWS_CONTAINER_AUTHORIZATION_TOKEN: generatePodToken() });
    expect(code).toBe(1);
    expect(report.findings).toContainEqual(expect.objectContaining({ level: 'problem', what: expect.stringMatching(/AWS_PROFILE/), fix: 'unset it in the container' }));
    expect(report.findings).toContainEqual(expect.objectContaining({ level: 'problem', what: expect.stringMatching(/^the sidecar answered Unauthorized/) }));
    expect(report.families.find((f) => f.family === 'botocore')).toMatchObject({ ok: false, why: 'uses the profile AWS_PROFILE names' });
  });
});

// Last: it takes the namespace out of the store, which every other test here needs.
describe('a namespace relabelled out of the cluster store\'s selector', () => {
  it('loses its keys within one refresh: credentials and loader URLs stop, and the issuer says why', async () => {
    const url = objectUrl(`${SHARDS}shard-0003.tar`);
    expect((await ask(url)).status).toBe(302);
    expect((await sidecar.get('/v1/credentials/shards', { authorization: podToken })).status).toBe(200);
    await w.lab.core.patchNamespace({ name: NS, body: [{ op: 'remove', path: '/metadata/labels/lab.valet.dev~1store-lab' }] });
    const after = await w.waitFor('the loader URL to stop redirecting', async () => {
      const r = await ask(url);
      return r.status === 302 ? undefined : r;
    }, 30_000);
    expect(after.location).toBeNull();
    // The controller marks the access NotReady (NamespaceNotSelected), and the issuer refuses it.
    expect(after.json().error?.message).toMatch(/AccessNotReady|NamespaceNotSelected/);
    expect(await w.readyOf('shards')).toMatchObject({ status: 'False', reason: 'NamespaceNotSelected' });
    const creds = await sidecar.get('/v1/credentials/shards', { authorization: podToken });
    expect(creds.status).not.toBe(200);
    expect(creds.body).not.toMatch(/SecretAccessKey/);
  });
});

describe('secrets', () => {
  it('no sidecar log line holds the pod token or the loader capability', () => {
    const found = leaks([podToken, loaderCapability(podToken)], sidecar.lines.map((line) => ({ where: 'sidecar', line })));
    expect(found).toEqual([]);
  });
});
