import { describe, expect, it } from 'vitest';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { uriEncodePath } from '../platform/uri.ts';
import { createPresigner } from './presign.ts';
import type { PresignMethod, PresignTarget } from './presign.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 34, 56);
const CREDS = { accessKeyId: 'ASIAEXAMPLE123', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2luX2Vj/EXAMPLE+token=/with==' };

const KEYS = [
  'imagenet/a.bin',
  'imagenet/with space.bin',
  'imagenet/plus+sign.bin',
  'imagenet/tilde~name.bin',
  'imagenet/deep/nested/dir/0001.tar',
  'imagenet/unicodé/日本語/ファイル.bin',
  "imagenet/punct!'()*&$@=;:,?.bin",
  'imagenet/emoji-🙂.bin',
  'imagenet/percent%sign',
  'imagenet/hash#frag',
  'imagenet/trailing/',
  'imagenet/x'.padEnd(900, 'y'),
];

const TARGETS: { name: string; target: PresignTarget; client: () => S3Client }[] = [
  {
    name: 'S3-compatible endpoint (path style)',
    target: { bucket: 'datasets', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000' },
    client: () => new S3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: CREDS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
  },
  {
    name: 'endpoint with a base path, https, default port',
    target: { bucket: 'datasets', region: 'eu-central-1', endpoint: 'https://objects.example.com/s3' },
    client: () => new S3Client({ region: 'eu-central-1', endpoint: 'https://objects.example.com/s3', forcePathStyle: true, credentials: CREDS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
  },
  {
    name: 'AWS S3, virtual-hosted',
    target: { bucket: 'my-datasets', region: 'eu-west-1' },
    client: () => new S3Client({ region: 'eu-west-1', credentials: CREDS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
  },
];

const COMMANDS: Record<PresignMethod, (key: string) => GetObjectCommand | PutObjectCommand | HeadObjectCommand> = {
  GET: (Key) => new GetObjectCommand({ Bucket: '', Key }),
  PUT: (Key) => new PutObjectCommand({ Bucket: '', Key }),
  HEAD: (Key) => new HeadObjectCommand({ Bucket: '', Key }),
};

describe('SigV4 presigning without the SDK', () => {
  for (const t of TARGETS) {
    it(`equals @aws-sdk/s3-request-presigner byte for byte: ${t.name}`, async () => {
      const client = t.client();
      const presigner = createPresigner();
      for (const method of ['GET', 'PUT', 'HEAD'] as const) {
        for (const key of KEYS) {
          for (const expiresSeconds of [1, 900, 604800]) {
            const cmd = COMMANDS[method](key);
            cmd.input.Bucket = t.target.bucket;
            const sdk = await getSignedUrl(client, cmd, { expiresIn: expiresSeconds, signingDate: new Date(NOW) });
            const ours = presigner.presign({ credentials: CREDS, target: t.target, key, method, expiresSeconds, now: NOW });
            expect(ours, `${method} ${key}`).toBe(sdk);
          }
        }
      }
      client.destroy();
    });
  }

  it('signs without a session token, and with a cached signing key that follows the date', async () => {
    const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/key+1' };
    const client = new S3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: creds, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    const presigner = createPresigner({ maxCachedKeys: 2 });
    for (const day of [0, 0, 1, 2, 0]) {
      const now = NOW + day * 86_400_000;
      const sdk = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'datasets', Key: 'imagenet/a.bin' }), { expiresIn: 60, signingDate: new Date(now) });
      expect(presigner.presign({ credentials: creds, target: { bucket: 'datasets', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000' }, key: 'imagenet/a.bin', method: 'GET', expiresSeconds: 60, now })).toBe(sdk);
    }
    client.destroy();
  });

  it('refuses lifetimes SigV4 cannot express', () => {
    const p = createPresigner();
    const req = { credentials: CREDS, target: TARGETS[0]!.target, key: 'imagenet/a', method: 'GET' as const, now: NOW };
    for (const expiresSeconds of [0, -1, 1.5, 604801]) expect(() => p.presign({ ...req, expiresSeconds })).toThrow(RangeError);
  });

  it('keeps slashes and escapes everything else outside the unreserved set', () => {
    expect(uriEncodePath("a b/+~/é/!'()*")).toBe('a%20b/%2B~/%C3%A9/%21%27%28%29%2A');
  });
});
