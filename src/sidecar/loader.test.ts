import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bracePattern, checkRange, loaderObjectUrl, parseLoaderPath } from './loader.ts';
import { countSamples, sampleKey, TarFormatError } from './tar-samples.ts';

describe('loader paths', () => {
  it('splits object and manifest URLs, decoding each segment once', () => {
    expect(parseLoaderPath('/v1/loader/CAP/imagenet-read/imagenet/shards/a%20b%2B.tar')).toEqual({ kind: 'object', capability: 'CAP', access: 'imagenet-read', key: 'imagenet/shards/a b+.tar' });
    expect(parseLoaderPath('/v1/loader/CAP/_manifests/imagenet-read/wids.json')).toEqual({ kind: 'manifest', capability: 'CAP', access: 'imagenet-read', format: 'wids' });
    expect(parseLoaderPath('/v1/credentials')).toBeUndefined();
  });

  it.each([
    ['/v1/loader/CAP/imagenet-read', 'NotFound'],
    ['/v1/loader/CAP/imagenet-read/', 'NotFound'],
    ['/v1/loader/CAP/Bad_Access/k', 'NotFound'],
    ['/v1/loader/CAP/_manifests/imagenet-read/list.csv', 'NotFound'],
    ['/v1/loader/CAP/imagenet-read/%E0%A4%A', 'BadPath'],
  ])('refuses %s with %s', (path, code) => {
    expect(parseLoaderPath(path)).toMatchObject({ code });
  });

  it('builds URLs whose keys round-trip through the parser', () => {
    const key = 'imagenet/we ird/ü+%2F#?.tar';
    const url = loaderObjectUrl('http://127.0.0.1:8760/v1/loader/CAP', 'imagenet-read', key);
    expect(parseLoaderPath(new URL(url).pathname)).toMatchObject({ key });
  });
});

describe('Range headers', () => {
  it.each(['bytes=0-99', 'bytes=100-', 'bytes=-500', 'bytes=0-0, 10-20'])('accepts %s', (h) => expect(checkRange(h)).toBeUndefined());
  it.each(['bytes=', 'bytes=9-1', 'items=0-1', 'bytes=-', 'bytes=a-b', 'bytes=-0', '0-99'])('refuses %s with 400 BadRange naming it', (h) => {
    expect(checkRange(h)).toMatchObject({ status: 400, code: 'BadRange', message: expect.stringContaining(JSON.stringify(h)) });
  });
});

describe('brace patterns', () => {
  const keys = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `ds/shards/train-${String(from + i).padStart(6, '0')}.tar`);
  it('names a numbered sequence in any order', () => {
    expect(bracePattern(keys(100).reverse())).toBe('ds/shards/train-{000000..000099}.tar');
    expect(bracePattern(keys(3, 7))).toBe('ds/shards/train-{000007..000009}.tar');
    expect(bracePattern(['a/x-1.tar'])).toBe('a/x-1.tar');
  });
  it('picks the run that varies, not the first digits', () => {
    expect(bracePattern(['v2/part-01-of.tar', 'v2/part-02-of.tar'])).toBe('v2/part-{01..02}-of.tar');
  });
  it('has none for a gap, mixed names or widths', () => {
    expect(bracePattern([...keys(3), 'ds/shards/train-000005.tar'])).toBeUndefined();
    expect(bracePattern([...keys(2), 'ds/shards/valid-000002.tar'])).toBeUndefined();
    expect(bracePattern(['a-9.tar', 'a-10.tar'])).toBeUndefined();
    expect(bracePattern([])).toBeUndefined();
  });
});

describe('counting the samples of a tar shard (archives made by GNU tar)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'valet-tar-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `files` under dir/src and tars them with GNU tar in `format`, in the order given. */
  function tar(name: string, files: string[], format: 'ustar' | 'gnu' | 'pax'): Buffer {
    const src = join(dir, `${name}-src`);
    for (const f of files) {
      mkdirSync(join(src, f, '..'), { recursive: true });
      writeFileSync(join(src, f), `content of ${f} `.repeat(50));
    }
    const out = join(dir, `${name}.tar`);
    execFileSync('tar', ['--format', format, '-cf', out, '-C', src, '--no-recursion', ...files]);
    return readFileSync(out);
  }
  const chunks = async function* (b: Buffer, size: number) {
    for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
  };

  it.each(['ustar', 'gnu', 'pax'] as const)('groups files by stem, as wids does (%s format, any chunking)', async (format) => {
    const files = ['s/000.jpg', 's/000.cls', 's/001.jpg', 's/001.cls', 's/001.json', 's/002.jpg', 'README'];
    const b = tar(`plain-${format}`, files, format);
    for (const size of [1, 100, 512, 4096, b.length]) expect(await countSamples(chunks(b, size)), `chunks of ${size}`).toBe(3);
  });

  it.each(['gnu', 'pax'] as const)('reads names longer than 100 characters (%s)', async (format) => {
    const long = `${'d'.repeat(90)}/${'n'.repeat(120)}`;
    const b = tar(`long-${format}`, [`${long}-1.jpg`, `${long}-1.txt`, `${long}-2.jpg`], format);
    expect(await countSamples(chunks(b, 700))).toBe(2);
  });

  it('refuses a truncated archive and a non-tar, never guessing a count', async () => {
    const b = tar('cut', ['a/1.jpg', 'a/2.jpg'], 'gnu');
    await expect(countSamples(chunks(b.subarray(0, 700), 100))).rejects.toBeInstanceOf(TarFormatError);
    await expect(countSamples(chunks(Buffer.from('x'.repeat(2048)), 512))).rejects.toThrow(/bad checksum|not octal/);
  });

  it('splits keys as webdataset does', () => {
    expect(sampleKey('a/b/0001.seg.png')).toBe('a/b/0001');
    expect(sampleKey('a.b/c')).toBeUndefined();
    expect(sampleKey('noext')).toBeUndefined();
  });
});
