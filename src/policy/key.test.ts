import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateObjectKey } from './key.ts';

const P = 'imagenet/';

describe('validateObjectKey', () => {
  it.each(['imagenet/a.tar', 'imagenet/train/0000.tar', 'imagenet/..hidden', 'imagenet/a..b', 'imagenet/...', 'imagenet/sub/', 'imagenet/100%', 'imagenet/a?b*c', 'imagenet/caf\u00e9.jpg', 'imagenet/日本.txt'])(
    'accepts %j',
    (key) => expect(validateObjectKey(key, P)).toEqual({ ok: true }),
  );

  it.each([
    ['', 'KeyEmpty'],
    ['imagenet/../imagenet-private/a', 'KeyTraversal'],
    ['imagenet/./a', 'KeyTraversal'],
    ['imagenet/a/..', 'KeyTraversal'],
    ['imagenet/%2e%2e/x', 'KeyEncoded'],
    ['imagenet/%2E%2E%2Fx', 'KeyEncoded'],
    ['imagenet%2fx', 'KeyEncoded'],
    ['imagenet/%252e%252e/x', 'KeyEncoded'],
    ['imagenet/\uff05\uff12\uff45/x', 'KeyEncoded'], // fullwidth "%2e"
    ['imagenet/\uff0e\uff0e/x', 'KeyTraversal'], // fullwidth ".."
    ['imagenet/\u2025/x', 'KeyTraversal'], // two-dot leader
    ['imagenet/a\uff0f..\uff0fb', 'KeyTraversal'], // fullwidth solidus around ".."
    ['imagenet/..\\x', 'KeyInvalidCharacter'],
    ['imagenet/a\\b', 'KeyInvalidCharacter'],
    ['imagenet/a\u0000b', 'KeyInvalidCharacter'],
    ['imagenet/a\nb', 'KeyInvalidCharacter'],
    ['imagenet/a\u007fb', 'KeyInvalidCharacter'],
    ['imagenet/a\u0085b', 'KeyInvalidCharacter'],
    ['imagenet/cafe\u0301.jpg', 'KeyNotNormalized'], // e + combining acute
    ['imagenet/\ud800', 'KeyInvalidUnicode'],
    ['/imagenet/a', 'KeyAbsolute'],
    ['\uff0fimagenet/a', 'KeyAbsolute'],
    ['imagenet//a', 'KeyEmptySegment'],
    ['imagenet/', 'KeyIsPrefix'],
    ['imagenet-private/a', 'KeyOutsidePrefix'],
    ['imagenet', 'KeyOutsidePrefix'],
    ['coco/a', 'KeyOutsidePrefix'],
    [`imagenet/${'a'.repeat(1016)}`, 'KeyTooLong'],
    [`imagenet/${'é'.repeat(508)}`, 'KeyTooLong'], // 1,025 bytes in 517 characters
  ])('refuses %j with %s', (key, reason) => {
    const r = validateObjectKey(key, P);
    expect(r).toMatchObject({ ok: false, reason });
  });

  it('accepts a key of exactly 1,024 bytes', () => {
    expect(validateObjectKey(`imagenet/${'a'.repeat(1015)}`, P)).toEqual({ ok: true });
  });

  it('refuses every key when the prefix itself is invalid', () => {
    for (const p of ['imagenet', '', '/x/', '../', 'a*/']) expect(validateObjectKey('imagenet/a', p)).toMatchObject({ ok: false, reason: 'PrefixInvalid' });
  });
});

// Every way some layer between the pod and the bytes might re-read a key.
const percentDecode = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
const decoders: ((s: string) => string)[] = [
  percentDecode,
  (s) => s.normalize('NFKC'),
  (s) => s.normalize('NFC'),
  (s) => s.replaceAll('\\', '/'),
];
function allDecodings(key: string, depth = 3): Set<string> {
  let frontier = new Set([key]);
  const seen = new Set([key]);
  for (let i = 0; i < depth; i++) {
    const next = new Set<string>();
    for (const k of frontier) for (const d of decoders) {
      const v = d(k);
      if (!seen.has(v)) { seen.add(v); next.add(v); }
    }
    frontier = next;
  }
  return seen;
}
const hasDotSegment = (s: string) => s.split('/').some((x) => x === '..' || x === '.');

describe('validateObjectKey properties', () => {
  const alphabet = ['a', 'b', '.', '/', '%', '2', 'e', 'E', 'f', 'F', '5', '\\', '\uff0e', '\uff0f', '\uff05', '\u2024', '\u2025', '\u0301', 'é', '\u0000', ' '];
  const tail = fc.array(fc.constantFrom(...alphabet), { maxLength: 14 }).map((a) => a.join(''));

  it('never accepts a key with a "." or ".." segment after any decoding', () => {
    fc.assert(
      fc.property(tail, (t) => {
        const key = `imagenet/${t}`;
        if (!validateObjectKey(key, P).ok) return true;
        for (const d of allDecodings(key)) {
          if (hasDotSegment(d) || d.startsWith('/') || !d.startsWith(P)) return false;
        }
        return true;
      }),
      { numRuns: 5000 },
    );
  });

  it('never accepts a key outside the prefix', () => {
    fc.assert(fc.property(fc.string(), (key) => !validateObjectKey(key, P).ok || key.startsWith(P)));
  });

  it('accepts plain keys of safe characters inside the prefix', () => {
    const seg = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,10}$/);
    fc.assert(fc.property(fc.array(seg, { minLength: 1, maxLength: 5 }), (segs) => validateObjectKey(P + segs.join('/'), P).ok));
  });
});
