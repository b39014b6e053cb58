import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyCommand } from './policy.ts';

const ex = (f: string) => join(import.meta.dirname, '../../examples', f);

function run(args: string[]) {
  let out = '';
  let err = '';
  const code = policyCommand(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

describe('valet policy', () => {
  it('renders the policy for an access the store allows, reading namespace labels from the files', () => {
    const r = run(['-f', ex('00-namespace.yaml'), '-f', ex('clusterdatasetstore-minio.yaml'), '-f', ex('datasetaccess-imagenet-read.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('ml-team/imagenet-read: Ready');
    expect(r.out).toContain('"arn:aws:s3:::datasets/imagenet/*"');
    expect(r.out).toMatch(/packed size: \d+ of 2048/);
  });

  it('reads every YAML file of a folder', () => {
    const r = run(['-f', join(import.meta.dirname, '../../examples')]);
    expect(r.out).toContain('ml-team/imagenet-read: Ready');
    expect(r.out).toContain('ml-team/checkpoints-write: Ready');
  });

  it('says why an access would be refused, and exits 1', () => {
    const r = run(['-f', ex('clusterdatasetstore-minio.yaml'), '-f', ex('datasetaccess-imagenet-read.yaml'), '--namespace-labels', 'team=other']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('StoreResolved: NamespaceNotSelected');
    expect(r.out).not.toContain('"Statement"');
  });

  it('names bad input and exits 2', () => {
    expect(run([]).err).toContain('give at least one -f FILE');
    expect(run(['-f', '/nonexistent.yaml']).err).toContain('cannot read /nonexistent.yaml');
    expect(run(['--bogus']).code).toBe(2);
    expect(run(['-f', ex('clusterdatasetstore-minio.yaml')]).err).toContain('no DatasetAccess in the files');
  });
});
