// Property fuzzing of the folder rule and the object-key check (ARCHITECTURE.md "Scoping rules"):
// for any folder a store could allow and any key a pod could send, an accepted key stays inside
// the folder however a layer between the pod and the bytes re-reads it. key.test.ts holds the
// examples and a fixed-prefix property; this file varies the prefix, widens the alphabet to the
// whole of Unicode (lone surrogates included), and adds look-alikes and invisible characters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPrefix, isInsidePrefix } from './prefix.ts';
import { validateObjectKey } from './key.ts';

const RUNS = 3000;

// ── generators ────────────────────────────────────────────────────────────────────────────────

const segment = fc.stringMatching(/^[A-Za-z0-9_!'()=-][A-Za-z0-9._!'()=-]{0,12}$/);
/** A folder a store may allow (checkPrefix accepts it). */
const folder = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `${s.join('/')}/`);

/** Characters that mean something to some layer: separators, dots, escapes, look-alikes, spaces. */
const HOSTILE = [
  '.', '/', '\\', '%', '2', 'e', 'E', 'f', 'F', '5', 'c', '0', 'a', 'A', ' ', '+', '?', '#', ';', '*',
  '\uff0e', '\uff0f', '\uff3c', '\uff05', // fullwidth . / \ %
  '\u2024', '\u2025', '\u2026', '\ufe52', '\u3002', '\uff61', // one-dot leader, two-dot leader, ellipsis, small full stop, ideographic full stops
  '\u2215', '\u2044', '\u29f8', '\u2216', '\ufe68', // division slash, fraction slash, big solidus, set minus, small reverse solidus
  '\u00a0', '\u2000', '\u2007', '\u202f', '\u3000', // spaces NFKC folds to ' '
  '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', // invisible characters
  '\u0301', '\u0307', 'é', 'İ', 'ſ', 'K', // combining marks, case-mapping oddities (U+212A Kelvin)
  '\u0000', '\n', '\r', '\t', '\u0085', '\u2028', // controls and line separators
  '\ud800', '\udc00', // lone surrogates
];
const hostileTail = fc.array(fc.constantFrom(...HOSTILE), { maxLength: 16 }).map((a) => a.join(''));
/** Any UTF-16 code unit, lone surrogates included. */
const anyUnit = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)), maxLength: 40 });

// ── the ways a key may be re-read ─────────────────────────────────────────────────────────────

const percentDecode = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
function strictDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
/** Re-readings every layer is known to perform: percent decoding, Unicode normalisation, backslash as separator. */
const DECODERS: ((s: string) => string)[] = [
  percentDecode,
  strictDecode,
  (s) => s.normalize('NFKC'),
  (s) => s.normalize('NFC'),
  (s) => s.normalize('NFD'),
  (s) => s.replaceAll('\\', '/'),
];

function decodings(key: string, decoders = DECODERS, depth = 3): Set<string> {
  const seen = new Set([key]);
  let frontier = [key];
  for (let i = 0; i < depth; i++) {
    const next: string[] = [];
    for (const k of frontier) {
      for (const d of decoders) {
        const v = d(k);
        if (!seen.has(v)) {
          seen.add(v);
          next.push(v);
        }
      }
    }
    frontier = next;
  }
  return seen;
}

const dotSegment = (s: string) => s.split('/').some((x) => x === '.' || x === '..');
/** Where a client that resolves the key as a URL path (WHATWG URL, as fetch and browsers do) would go. */
const resolvedPath = (key: string) => decodeURIComponent(new URL(`http://store.invalid/bucket/${key.replaceAll('%', '%25').replaceAll('?', '%3F').replaceAll('#', '%23')}`).pathname);

/** A rendering that escapes the folder, or undefined. */
function escapeOf(key: string, prefix: string, decoders = DECODERS): string | undefined {
  for (const d of decodings(key, decoders)) {
    if (dotSegment(d) || d.startsWith('/') || !d.startsWith(prefix)) return d;
  }
  const resolved = resolvedPath(key);
  if (!resolved.startsWith(`/bucket/${prefix}`)) return resolved;
  return undefined;
}

// ── properties ────────────────────────────────────────────────────────────────────────────────

describe('validateObjectKey, fuzzed', () => {
  it('never throws, and always answers ok or a reason with a message, for any string and any prefix', () => {
    fc.assert(
      fc.property(anyUnit, fc.oneof(folder, anyUnit), (key, prefix) => {
        const r = validateObjectKey(key, prefix);
        if (!r.ok) {
          expect(typeof r.reason).toBe('string');
          expect(r.message.length).toBeGreaterThan(0);
          expect(r.message.length).toBeLessThan(4000);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts a key only inside a valid folder: never the folder itself, a sibling, or anything under an invalid prefix', () => {
    fc.assert(
      fc.property(folder, fc.oneof(hostileTail, anyUnit), fc.boolean(), (prefix, tail, underPrefix) => {
        const key = underPrefix ? prefix + tail : tail;
        const r = validateObjectKey(key, prefix);
        if (r.ok) {
          expect(isInsidePrefix(key, prefix)).toBe(true);
          expect(key).not.toBe(prefix);
          expect(checkPrefix(prefix).ok).toBe(true);
        }
        // The sibling spelled with the folder's stem ("imagenet-private/..." for "imagenet/").
        expect(validateObjectKey(prefix.slice(0, -1) + '-x/' + tail, prefix).ok).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('no accepted key escapes its folder after percent decoding, NFC/NFD/NFKC, backslash translation or URL resolution (any order, three deep)', () => {
    fc.assert(
      fc.property(folder, hostileTail, (prefix, tail) => {
        const key = prefix + tail;
        if (!validateObjectKey(key, prefix).ok) return;
        expect(escapeOf(key, prefix), JSON.stringify(key)).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses every encoded, look-alike and doubled spelling of "../" after a folder', () => {
    const climbs = [
      '../', '%2e%2e/', '%2E%2E%2F', '..%2f', '%252e%252e/', '.%2e/', '%2e./', '..\\', '%5c..%5c', '\uff0e\uff0e/', '\uff0e\uff0e\uff0f',
      '..\uff0f', '\u2025/', '\ufe52\ufe52/', '%c0%ae%c0%ae/', '%e0%80%ae%e0%80%ae/', '/../', '//', './', '\\',
    ];
    for (const prefix of ['imagenet/', 'a/b/', "it's(1)!/"]) {
      for (const climb of climbs) {
        const key = `${prefix}${climb}secret.bin`;
        expect(validateObjectKey(key, prefix), JSON.stringify(key)).toMatchObject({ ok: false });
      }
    }
  });

  it('treats a key that only looks like another (division slash, long s) as a different key inside the folder, never as the other one', () => {
    // U+2215 and U+2044 are not folded to '/' by NFKC: "imagenet∕..∕x" is one odd segment, inside.
    // IIS-style "%u002e" is no percent escape S3 or any RFC 3986 decoder knows: a literal name.
    for (const key of ['imagenet/a\u2215..\u2215b', 'imagenet/a\u2044..\u2044b', 'imagenet/\u017f.bin', 'imagenet/%u002e%u002e/x']) {
      expect(validateObjectKey(key, 'imagenet/'), JSON.stringify(key)).toEqual({ ok: true });
      expect(escapeOf(key, 'imagenet/')).toBeUndefined();
    }
    // A look-alike of the folder name itself is outside it.
    for (const key of ['imagenet\u2215a', 'imagenet\uff0fa', 'imag\u0435net/a', 'IMAGENET/a', 'imagenet /a', ' imagenet/a']) {
      expect(validateObjectKey(key, 'imagenet/'), JSON.stringify(key)).toMatchObject({ ok: false });
    }
    // A character NFC would rewrite (the Kelvin sign U+212A becomes K) is refused outright.
    expect(validateObjectKey('imagenet/\u212aelvin', 'imagenet/')).toMatchObject({ ok: false, reason: 'KeyNotNormalized' });
  });

  it('accepts trailing spaces only as part of an ordinary name inside the folder', () => {
    expect(validateObjectKey('imagenet/a.bin ', 'imagenet/')).toEqual({ ok: true });
    expect(validateObjectKey('imagenet /a.bin', 'imagenet/')).toMatchObject({ ok: false, reason: 'KeyOutsidePrefix' });
    expect(validateObjectKey('imagenet/a.bin', 'imagenet /')).toMatchObject({ ok: false, reason: 'PrefixInvalid' });
  });

  // Gateways and file-system stores trim trailing spaces from path segments, and IDNA-style mapping
  // drops default-ignorable code points, so "imagenet/.. /x" could become "imagenet/../x" = "x".
  it('refuses a dot segment padded with trailing spaces or invisible characters (trimmed by some layers)', () => {
    const trimmed = (s: string) => s.split('/').map((x) => x.replace(/[\p{White_Space}\p{Default_Ignorable_Code_Point}]/gu, '')).join('/');
    fc.assert(
      fc.property(folder, hostileTail, (prefix, tail) => {
        const key = prefix + tail;
        if (!validateObjectKey(key, prefix).ok) return;
        expect(escapeOf(key, prefix, [...DECODERS, trimmed]), JSON.stringify(key)).toBeUndefined();
      }),
      { numRuns: RUNS, examples: [['imagenet/', '.. /x'], ['imagenet/', '..\u200b/x']] },
    );
  });
});

describe('checkPrefix, fuzzed', () => {
  it('accepts only printable-ASCII folders whose every re-reading is the same folder', () => {
    fc.assert(
      fc.property(fc.oneof(folder, anyUnit, hostileTail.map((t) => `a/${t}/`)), (p) => {
        if (!checkPrefix(p).ok) return;
        expect(p).toMatch(/^[\x21-\x7e]+$/);
        for (const d of decodings(p)) expect(d).toBe(p);
        expect(dotSegment(p)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});
