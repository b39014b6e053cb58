import { describe, expect, it } from 'vitest';
import type { HeldKey } from './keys.ts';
import { capExpiry, parseQuery, planManifest, planPresign } from './presign.ts';

const KEY: HeldKey = {
  delivery: 'stsKeys',
  provider: 's3',
  access: 'imagenet',
  bucket: 'datasets',
  prefix: 'imagenet/',
  verbs: ['read', 'list'],
  region: 'us-east-1',
  presign: { enabled: true, maxExpirySeconds: 600 },
  accessKeyId: 'ASIA1',
  secretAccessKey: 'secret',
  sessionToken: 'token',
  issuerExpiration: '2026-01-01T00:15:00Z',
  obtainedAt: 0,
  expiresAt: 900_000,
};

const plan = (q: string, key: HeldKey = KEY, remaining = 800) => {
  const p = parseQuery(q);
  if (!p.ok) return p;
  return planPresign(key, p.params, remaining, 3600);
};

describe('what a pod may presign', () => {
  it('signs a key inside the prefix, with the lifetime capped by the access and by the key', () => {
    expect(plan('key=imagenet%2Fa%2Bb%20c.bin')).toEqual({ ok: true, objectKey: 'imagenet/a+b c.bin', method: 'GET', expiresSeconds: 600 });
    expect(plan('key=imagenet/a.bin&method=HEAD&expires=30')).toEqual({ ok: true, objectKey: 'imagenet/a.bin', method: 'HEAD', expiresSeconds: 30 });
    expect(plan('key=imagenet/a.bin&expires=100000', KEY, 120)).toMatchObject({ ok: true, expiresSeconds: 120 });
    expect(capExpiry({ ...KEY, presign: { enabled: true } }, 800, undefined, 3600)).toBe(800);
  });

  it('refuses PUT for a read-only access, disabled presigning, and bad parameters', () => {
    expect(plan('key=imagenet/a.bin&method=PUT')).toMatchObject({ ok: false, error: { status: 403, code: 'VerbNotGranted' } });
    expect(plan('key=imagenet/a.bin&method=PUT', { ...KEY, verbs: ['write'] })).toMatchObject({ ok: true, method: 'PUT' });
    expect(plan('key=imagenet/a.bin&method=GET', { ...KEY, verbs: ['write'] })).toMatchObject({ ok: false, error: { code: 'VerbNotGranted' } });
    expect(plan('key=imagenet/a.bin', { ...KEY, presign: undefined })).toMatchObject({ ok: false, error: { status: 403, code: 'PresignDisabled' } });
    expect(plan('key=imagenet/a.bin', { ...KEY, presign: { enabled: false } })).toMatchObject({ ok: false, error: { code: 'PresignDisabled' } });
    expect(plan('key=imagenet/a.bin&method=DELETE')).toMatchObject({ ok: false, error: { status: 400, code: 'BadMethod' } });
    expect(plan('key=imagenet/a.bin&method=get')).toMatchObject({ ok: false, error: { code: 'BadMethod' } });
    expect(plan('method=GET')).toMatchObject({ ok: false, error: { status: 400, code: 'KeyMissing' } });
    expect(plan('key=imagenet/a.bin&expires=0')).toMatchObject({ ok: false, error: { code: 'BadExpires' } });
    expect(plan('key=imagenet/a.bin&expires=1.5')).toMatchObject({ ok: false, error: { code: 'BadExpires' } });
    expect(plan('key=imagenet/a.bin', KEY, 0)).toMatchObject({ ok: false, error: { status: 503, code: 'KeyExpiring' } });
    expect(plan('key=imagenet/a.bin&key=coco/a.bin')).toMatchObject({ ok: false, error: { code: 'BadQuery' } });
    expect(plan('key=imagenet/%E0%A4%A')).toMatchObject({ ok: false, error: { code: 'BadQuery' } });
  });

  const ESCAPES: [string, string][] = [
    ['imagenet/../coco/a.bin', 'KeyTraversal'],
    ['imagenet/%2e%2e/coco/a.bin', 'KeyEncoded'],
    ['imagenet/%252e%252e/coco/a.bin', 'KeyEncoded'],
    ['imagenet/..%2fcoco/a.bin', 'KeyEncoded'],
    ['imagenet//a.bin', 'KeyEmptySegment'],
    ['imagenet-private/a.bin', 'KeyOutsidePrefix'],
    ['coco/a.bin', 'KeyOutsidePrefix'],
    ['/imagenet/a.bin', 'KeyAbsolute'],
    ['imagenet/./a.bin', 'KeyTraversal'],
    ['imagenet/..', 'KeyTraversal'],
    ['imagenet\\..\\coco\\a.bin', 'KeyInvalidCharacter'],
    ['imagenet/\uff0e\uff0e/coco/a.bin', 'KeyTraversal'],
    ['imagenet/\uff0e\uff0e\uff0fcoco', 'KeyTraversal'],
    ['imagenet/\u0000a.bin', 'KeyInvalidCharacter'],
    ['imagenet/a\u0301.bin', 'KeyNotNormalized'],
    [`imagenet/${'x'.repeat(1100)}`, 'KeyTooLong'],
    ['imagenet/', 'KeyIsPrefix'],
    ['imagenet', 'KeyOutsidePrefix'],
    ['IMAGENET/a.bin', 'KeyOutsidePrefix'],
    ['', 'KeyEmpty'],
  ];
  it(`refuses ${ESCAPES.length} escape attempts with a reason`, () => {
    for (const [key, reason] of ESCAPES) {
      const r = plan(`key=${encodeURIComponent(key)}`);
      expect(r, key).toMatchObject({ ok: false, error: { code: reason } });
      if (!r.ok) expect([400, 403]).toContain(r.error.status);
    }
  });

  it('plans manifests only for list+read accesses with presigning, inside the prefix', () => {
    const m = (q: string, key: HeldKey = KEY) => {
      const p = parseQuery(q);
      return p.ok ? planManifest(key, p.params, 800, 3600) : p;
    };
    expect(m('')).toEqual({ ok: true, prefix: 'imagenet/', format: 'jsonl', expiresSeconds: 600 });
    expect(m('format=urls&prefix=imagenet/train/&expires=60')).toEqual({ ok: true, prefix: 'imagenet/train/', format: 'urls', expiresSeconds: 60 });
    expect(m('prefix=imagenet-private/')).toMatchObject({ ok: false, error: { status: 403 } });
    expect(m('prefix=imagenet/../')).toMatchObject({ ok: false, error: { status: 400 } });
    expect(m('format=csv')).toMatchObject({ ok: false, error: { code: 'BadFormat' } });
    expect(m('', { ...KEY, verbs: ['read'] })).toMatchObject({ ok: false, error: { code: 'VerbNotGranted' } });
  });
});
