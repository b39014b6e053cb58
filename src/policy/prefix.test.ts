import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PATTERNS } from '../api/v1alpha1/index.ts';
import { checkPrefix, findAllowedPrefix, isInsidePrefix } from './prefix.ts';

const segment = fc.stringMatching(/^[A-Za-z0-9_!'()=-][A-Za-z0-9._!'()=-]{0,15}$/);
const folder = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `${s.join('/')}/`);

describe('checkPrefix', () => {
  it.each(['imagenet/', 'imagenet/train/', 'a/', 'hive/year=2024/', "it's(1)!/", '...dots/', '.hidden/', 'a..b/'])('accepts the folder %j', (p) => {
    expect(checkPrefix(p)).toEqual({ ok: true });
  });

  it.each([
    ['', 'must not be empty'],
    ['/', 'must be 2 to'],
    ['imagenet', "must end with '/'"],
    ['/abs/', 'must be relative'],
    ['../x/', "'..' segment"],
    ['a/../b/', "'..' segment"],
    ['./a/', "'.' or '..' segment"],
    ['a//b/', "empty segment ('//')"],
    ['a*/', 'contains "*"'],
    ['a?/', 'contains "?"'],
    ['${aws:username}/', 'contains "$"'],
    ['a\\b/', 'contains "\\\\"'],
    ['caf\u00e9/', 'contains "é"'],
    ['a b/', 'contains " "'],
    ['a\n/', 'contains "\\n"'],
    [`${'a'.repeat(1024)}/`, 'must be 2 to 1024 characters, got 1025'],
  ])('refuses %j, naming the field', (p, why) => {
    const r = checkPrefix(p);
    expect(r).toMatchObject({ ok: false, reason: 'PrefixInvalid' });
    if (!r.ok) {
      expect(r.message).toMatch(/^spec\.prefix /);
      expect(r.message).toContain(why);
    }
  });

  it('names another field when asked', () => {
    expect(checkPrefix('x', 'spec.allowedPrefixes[0]')).toMatchObject({ message: expect.stringMatching(/^spec\.allowedPrefixes\[0\] /) });
  });

  it('agrees with the CRD pattern plus the dot-segment CEL rule on arbitrary strings', () => {
    const pattern = new RegExp(PATTERNS.prefix);
    const cel = (s: string) => !s.split('/').some((x) => x === '.' || x === '..');
    const chars = fc.constantFrom(...'ab./-_*?$\\ =\'()!%'.split(''));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 12 }).map((a) => a.join('')), (s) => {
        const crd = s.length >= 2 && s.length <= 1024 && pattern.test(s) && cel(s);
        expect(checkPrefix(s).ok).toBe(crd);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the folder rule', () => {
  it('imagenet/ grants imagenet/a.tar and never imagenet-private/a.tar', () => {
    expect(isInsidePrefix('imagenet/a.tar', 'imagenet/')).toBe(true);
    expect(isInsidePrefix('imagenet-private/a.tar', 'imagenet/')).toBe(false);
    expect(isInsidePrefix('imagenet', 'imagenet/')).toBe(false);
  });

  it('every key p+s is inside the folder p', () => {
    fc.assert(fc.property(folder, fc.string(), (p, s) => isInsidePrefix(p + s, p)));
  });

  it('a key that shares the folder name but not its slash is outside', () => {
    fc.assert(
      fc.property(folder, fc.string({ minLength: 1 }).filter((s) => !s.startsWith('/')), fc.string(), (p, next, rest) => {
        const stem = p.slice(0, -1); // "imagenet"
        return !isInsidePrefix(stem + next + rest, p); // "imagenet-private/…", "imagenetX"
      }),
    );
  });

  it('a key is inside exactly when it starts with the folder, slash included', () => {
    fc.assert(fc.property(folder, fc.string(), (p, key) => isInsidePrefix(key, p) === key.startsWith(p)));
  });

  it('a prefix without its trailing slash grants nothing', () => {
    fc.assert(fc.property(folder, fc.string(), (p, s) => !isInsidePrefix(p.slice(0, -1) + s, p.slice(0, -1))));
  });

  it('a sub-folder of an allowed folder is allowed; a sibling with the same stem is not', () => {
    expect(findAllowedPrefix('imagenet/train/', ['coco/', 'imagenet/'])).toBe('imagenet/');
    expect(findAllowedPrefix('imagenet/', ['imagenet/'])).toBe('imagenet/');
    expect(findAllowedPrefix('imagenet-private/', ['imagenet/'])).toBeUndefined();
    expect(findAllowedPrefix('imagenet/', ['imagenet/train/'])).toBeUndefined();
    expect(findAllowedPrefix('imagenet/', ['imagenet'])).toBeUndefined();
    fc.assert(fc.property(folder, folder, (a, sub) => findAllowedPrefix(a + sub, [a]) === a));
  });
});
