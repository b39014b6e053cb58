// Presigned URLs per second: the direct SigV4 presigner (src/issuer/presign.ts) against the
// SDK's getSignedUrl on a client command. Prints figures; asserts nothing (STYLE.md).
// Run: node bench/presign.bench.ts
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createPresigner } from '../src/issuer/presign.ts';

const credentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'x'.repeat(600) };
const target = { bucket: 'datasets', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000' };
const keys = Array.from({ length: 1000 }, (_, i) => `imagenet/train/shard-${String(i).padStart(6, '0')}.tar`);

const presigner = createPresigner();
const n = 200_000;
let t = performance.now();
let bytes = 0;
for (let i = 0; i < n; i++) bytes += presigner.presign({ credentials, target, key: keys[i % keys.length] as string, method: 'GET', expiresSeconds: 600, now: Date.now() }).length;
const direct = n / ((performance.now() - t) / 1000);

const client = new S3Client({ region: target.region, endpoint: target.endpoint, forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
const m = 5_000;
t = performance.now();
for (let i = 0; i < m; i++) bytes += (await getSignedUrl(client, new GetObjectCommand({ Bucket: target.bucket, Key: keys[i % keys.length] }), { expiresIn: 600 })).length;
const sdk = m / ((performance.now() - t) / 1000);
client.destroy();

process.stdout.write(`direct SigV4 presigner: ${Math.round(direct).toLocaleString('en')} URLs/s (${n.toLocaleString('en')} URLs)\n`);
process.stdout.write(`SDK getSignedUrl:       ${Math.round(sdk).toLocaleString('en')} URLs/s (${m.toLocaleString('en')} URLs)\n`);
process.stdout.write(`speed-up: ${(direct / sdk).toFixed(1)}x (${bytes} bytes signed)\n`);
