import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VERBS } from '../api/v1alpha1/index.ts';
import type { Verb } from '../api/v1alpha1/index.ts';
import { ACTIONS, renderSessionPolicy, s3Partition } from './session-policy.ts';
import type { SessionPolicy } from './session-policy.ts';

interface Golden {
  description: string;
  store: { bucket: string; roleArn: string };
  access: { prefix: string; verbs: Verb[] };
  expected: { ok: true; packedSize: number; policy: SessionPolicy } | { ok: false; reason: string; packedSize?: number };
}

const dir = new URL('./testdata/', import.meta.url);
const goldens = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Golden] as const);

describe('session policy golden files (src/policy/testdata)', () => {
  it('has at least six cases', () => expect(goldens.length).toBeGreaterThanOrEqual(6));

  it.each(goldens)('%s', (_name, g) => {
    const r = renderSessionPolicy({ spec: g.store }, { spec: g.access });
    if (g.expected.ok) {
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      // Byte for byte: compact JSON, fixed key order.
      expect(r.policy).toBe(JSON.stringify(g.expected.policy));
      expect(r.packedSize).toBe(g.expected.packedSize);
      expect(r.packedSize).toBe(r.policy.length);
    } else {
      expect(r).toMatchObject({ ok: false, reason: g.expected.reason });
      if (g.expected.packedSize !== undefined) expect(r).toMatchObject({ packedSize: g.expected.packedSize });
    }
  });
});

const segment = fc.stringMatching(/^[A-Za-z0-9_!'()=-][A-Za-z0-9._!'()=-]{0,11}$/);
const prefix = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `${s.join('/')}/`);
const verbs = fc.subarray([...VERBS], { minLength: 1 });
const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/);

describe('renderSessionPolicy', () => {
  it('grants only the actions of the requested verbs, only inside bucket/prefix', () => {
    fc.assert(
      fc.property(bucket, prefix, verbs, (b, p, v) => {
        const r = renderSessionPolicy({ spec: { bucket: b, roleArn: 'arn:aws:iam::123456789012:role/r' } }, { spec: { prefix: p, verbs: v } });
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const doc = JSON.parse(r.policy) as SessionPolicy;
        const granted = doc.Statement.flatMap((s) => s.Action).sort();
        const wanted = v.flatMap((verb) => [...ACTIONS[verb].object, ...ACTIONS[verb].bucket]).sort();
        expect(granted).toEqual(wanted);
        for (const s of doc.Statement) {
          expect(s.Effect).toBe('Allow');
          if (s.Condition) {
            expect(s.Resource).toBe(`arn:aws:s3:::${b}`);
            expect(s.Condition).toEqual({ StringLike: { 's3:prefix': `${p}*` } });
          } else {
            expect(s.Resource).toBe(`arn:aws:s3:::${b}/${p}*`);
          }
        }
      }),
    );
  });

  it('renders the same bytes whatever the order or repetition of verbs', () => {
    fc.assert(
      fc.property(prefix, verbs, fc.array(fc.constantFrom(...VERBS), { maxLength: 6 }), (p, v, extra) => {
        const store = { spec: { bucket: 'datasets', roleArn: 'arn:aws:iam::123456789012:role/r' } };
        const a = renderSessionPolicy(store, { spec: { prefix: p, verbs: v } });
        const shuffled = [...v].reverse().concat(extra.filter((e) => v.includes(e)));
        const b = renderSessionPolicy(store, { spec: { prefix: p, verbs: shuffled } });
        expect(a).toEqual(b);
      }),
    );
  });

  it('never grants a bucket-wide list: ListBucket always carries the folder condition', () => {
    const r = renderSessionPolicy({ spec: { bucket: 'datasets', roleArn: 'arn:aws:iam::1:role/r' } }, { spec: { prefix: 'imagenet/', verbs: ['list', 'write'] } });
    expect(r.ok && r.document.Statement.find((s) => s.Action.includes('s3:ListBucket'))?.Condition).toEqual({ StringLike: { 's3:prefix': 'imagenet/*' } });
    expect(r.ok && r.policy).not.toContain('ListBucketMultipartUploads');
  });

  it('refuses what it cannot render safely instead of widening it', () => {
    const store = { spec: { bucket: 'datasets', roleArn: 'arn:aws:iam::1:role/r' } };
    for (const p of ['', '/', 'imagenet', '../x/', 'a*/', 'a?/', '/abs/', 'a//b/', '${aws:username}/']) {
      expect(renderSessionPolicy(store, { spec: { prefix: p, verbs: ['read'] } })).toMatchObject({ ok: false, reason: 'PrefixInvalid' });
    }
    expect(renderSessionPolicy(store, { spec: { prefix: 'a/', verbs: [] } })).toMatchObject({ ok: false, reason: 'PolicyInvalid' });
    expect(renderSessionPolicy(store, { spec: { prefix: 'a/', verbs: ['admin' as Verb] } })).toMatchObject({ ok: false, reason: 'PolicyInvalid' });
    expect(renderSessionPolicy({ spec: { bucket: 'Bad*Bucket', roleArn: 'x' } }, { spec: { prefix: 'a/', verbs: ['read'] } })).toMatchObject({ ok: false, reason: 'PolicyInvalid' });
  });

  it('refuses policies over 2,048 characters and reports their size', () => {
    const store = { spec: { bucket: 'datasets', roleArn: 'arn:aws:iam::1:role/r' } };
    const long = `${'p'.repeat(900)}/`;
    const readOnly = renderSessionPolicy(store, { spec: { prefix: long, verbs: ['read'] } });
    expect(readOnly.ok).toBe(true);
    const r = renderSessionPolicy(store, { spec: { prefix: long, verbs: ['read', 'list'] } });
    expect(r).toMatchObject({ ok: false, reason: 'PolicyTooLarge' });
    if (!r.ok && r.reason === 'PolicyTooLarge') {
      expect(r.packedSize).toBeGreaterThan(2048);
      expect(r.message).toContain('spec.prefix');
      expect(r.message).toContain(String(r.packedSize));
    }
  });

  it('picks the S3 partition from AWS role ARNs and defaults to aws', () => {
    expect(s3Partition('arn:aws:iam::123456789012:role/r')).toBe('aws');
    expect(s3Partition('arn:aws-us-gov:iam::123456789012:role/r')).toBe('aws-us-gov');
    expect(s3Partition('arn:aws-iso-b:iam::123456789012:role/r')).toBe('aws-iso-b');
    expect(s3Partition('arn:minio:iam:::role/r')).toBe('aws');
    expect(s3Partition('nonsense')).toBe('aws');
  });
});
