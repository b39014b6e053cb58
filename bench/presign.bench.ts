// 1. Presigning: URLs per second from Valet's direct SigV4 presigner (src/issuer/presign.ts),
// from the SDK's getSignedUrl, and from "the bound": the simplest correct SigV4 query presigning
// with node:crypto and a cached signing key, written out below. All three sign the same keys with
// the same credentials and must produce the same URL (checked first). They run interleaved, in
// rounds bounded by count and time; each figure is the median round.
// Goals: Valet at least 20× getSignedUrl and at least half the bound.
// Alone: node bench/run.ts presign
import { createHash, createHmac, createSecretKey } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createPresigner } from '../src/issuer/presign.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { median } from './lib/stats.ts';

const credentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'x'.repeat(600) };
const target = { bucket: 'datasets', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000' };
const keys = Array.from({ length: 1000 }, (_, i) => `imagenet/train/shard-${String(i).padStart(6, '0')}.tar`);
const EXPIRES = 600;

/** The bound: SigV4 query presigning for one GET, path style, signing key derived once. */
function boundPresigner(): (key: string, now: number) => string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const token = enc(credentials.sessionToken);
  let day = '';
  let signingKey = createSecretKey(Buffer.alloc(32));
  return (key, now) => {
    const iso = new Date(now).toISOString().replace(/[-:]|\.\d{3}/g, '');
    if (iso.slice(0, 8) !== day) {
      day = iso.slice(0, 8);
      const h = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
      signingKey = createSecretKey(h(h(h(h(`AWS4${credentials.secretAccessKey}`, day), target.region), 's3'), 'aws4_request'));
    }
    const path = `/${target.bucket}/${key.split('/').map(enc).join('/')}`;
    const query =
      `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Credential=${credentials.accessKeyId}%2F${day}%2F${target.region}%2Fs3%2Faws4_request` +
      `&X-Amz-Date=${iso}&X-Amz-Expires=${EXPIRES}&X-Amz-Security-Token=${token}`;
    const canonical = `GET\n${path}\n${query}&X-Amz-SignedHeaders=host&x-id=GetObject\nhost:127.0.0.1:9000\n\nhost\nUNSIGNED-PAYLOAD`;
    const toSign = `AWS4-HMAC-SHA256\n${iso}\n${day}/${target.region}/s3/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
    return `http://127.0.0.1:9000${path}?${query}&X-Amz-Signature=${signature}&X-Amz-SignedHeaders=host&x-id=GetObject`;
  };
}

/** URLs per second of `sign` over up to `n` URLs or `maxMs`, whichever ends first. */
async function rate(sign: (key: string, now: number) => string | Promise<string>, n: number, maxMs: number): Promise<number> {
  let bytes = 0;
  const t0 = performance.now();
  let i = 0;
  for (; i < n; i++) {
    const u = sign(keys[i % keys.length] as string, Date.now());
    bytes += (typeof u === 'string' ? u : await u).length;
    if ((i & 255) === 255 && performance.now() - t0 > maxMs) break;
  }
  if (bytes === 0) throw new Error('nothing signed');
  return (i + (i < n ? 1 : 0)) / ((performance.now() - t0) / 1000);
}

export const presign: Benchmark = {
  name: 'presign',
  title: 'Presigned URLs per second',
  async run(ctx) {
    const presigner = createPresigner();
    const valet = (key: string, now: number) => presigner.presign({ credentials, target, key, method: 'GET', expiresSeconds: EXPIRES, now });
    const bound = boundPresigner();
    const client = new S3Client({
      region: target.region,
      endpoint: target.endpoint,
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const sdk = (key: string) => getSignedUrl(client, new GetObjectCommand({ Bucket: target.bucket, Key: key }), { expiresIn: EXPIRES });
    try {
      // Same work: the three must produce the same URL for the same key and second.
      for (;;) {
        const now = Date.now();
        const [a, b, c] = [valet(keys[7] as string, now), bound(keys[7] as string, now), await sdk(keys[7] as string)];
        if (Math.floor(Date.now() / 1000) !== Math.floor(now / 1000)) continue;
        if (a !== b || a !== c) throw new Error(`the presigners disagree:\nvalet ${a}\nbound ${b}\nsdk   ${c}`);
        break;
      }
      // Warm up (JIT), then interleaved rounds.
      await rate(valet, 20_000, 300);
      await rate(bound, 20_000, 300);
      await rate(sdk, 500, 300);
      const rounds = { valet: [] as number[], bound: [] as number[], sdk: [] as number[] };
      for (let r = 0; r < 5; r++) {
        rounds.valet.push(await rate(valet, 100_000, 700));
        rounds.bound.push(await rate(bound, 100_000, 700));
        rounds.sdk.push(await rate(sdk, 3_000, 700));
        ctx.log(`presign round ${r + 1}: valet ${fmt.int(rounds.valet.at(-1) ?? 0)}/s, bound ${fmt.int(rounds.bound.at(-1) ?? 0)}/s, getSignedUrl ${fmt.int(rounds.sdk.at(-1) ?? 0)}/s`);
      }
      const v = median(rounds.valet);
      const b = median(rounds.bound);
      const s = median(rounds.sdk);
      return {
        rows: [
          { metric: 'URLs/s vs getSignedUrl', valet: fmt.int(v), comparison: fmt.int(s), ratio: fmt.x(v / s), goal: '≥ 20×', met: v / s >= 20 },
          { metric: 'URLs/s vs the bound', valet: fmt.int(v), comparison: fmt.int(b), ratio: fmt.x(v / b), goal: '≥ 0.5×', met: v / b >= 0.5 },
        ],
        details: { urlsPerSecond: { valet: v, bound: b, getSignedUrl: s }, rounds },
        notes: [],
      };
    } finally {
      client.destroy();
    }
  },
};
