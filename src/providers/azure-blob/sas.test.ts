import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AnonymousCredential, BlobClient, ContainerClient } from '@azure/storage-blob';
import { blobServiceUrl, containerUrl, listBlobPage, MAX_SAS_SECONDS, signBlobSas } from './sas.ts';
import type { AzureAccount, BlobSasRequest } from './sas.ts';

// Azurite's published development key: not a secret, but treated as one by the code under test.
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const AZURITE: AzureAccount = { accountName: 'devstoreaccount1', accountKey: KEY, endpoint: 'http://127.0.0.1:10000/devstoreaccount1' };
const AZURE: AzureAccount = { accountName: 'valetdata', accountKey: KEY };
const START = new Date(Date.UTC(2026, 0, 1, 12, 0, 0));
const HOUR_LATER = new Date(START.getTime() + 3600_000);

function req(over: Partial<BlobSasRequest> = {}): BlobSasRequest {
  return { account: AZURITE, container: 'datasets', blob: 'imagenet/a.bin', permissions: 'r', startsOn: START, expiresOn: HOUR_LATER, ...over };
}

/** The thrown error's message, so a test can also check what it does not say. */
function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RangeError);
    return (err as Error).message;
  }
  throw new Error('expected a RangeError, nothing was thrown');
}

const ODD_NAMES = [
  'imagenet/a.bin',
  'imagenet/with space/and more.bin',
  'imagenet/unicodé/日本語/ファイル.bin',
  'imagenet/emoji-🙂.bin',
  'imagenet/hash#frag',
  'imagenet/question?mark=1&x=2',
  'imagenet/percent%sign',
  'imagenet/already%20encoded',
  'imagenet/%2e%2e',
  "imagenet/punct!'()*&$@=;:,+~.bin",
  'imagenet/deep/nested/dir/0001.tar',
  'imagenet//double-slash',
  'imagenet/trailing/',
  '/leading-slash',
  'imagenet/tab\there',
  'imagenet/x'.padEnd(1024, 'y'),
];

describe('signBlobSas: the URL reaches the blob the name names', () => {
  for (const account of [AZURITE, AZURE]) {
    const base = containerUrl(account.accountName, 'datasets', account.endpoint);
    const sdk = new ContainerClient(base, new AnonymousCredential());
    for (const name of ODD_NAMES) {
      it(`${account.endpoint ? 'Azurite' : 'Azure'}: ${JSON.stringify(name.slice(0, 60))}`, () => {
        const { url, sas } = signBlobSas(req({ account, blob: name }));
        const [path, query] = url.split('?');
        expect(query).toBe(sas);
        // Byte for byte the URL the SDK builds for this name...
        expect(path).toBe(sdk.getBlobClient(name).url);
        // ...unchanged when the SDK is handed our URL, and naming the same blob.
        const client = new BlobClient(url, new AnonymousCredential());
        expect(client.url).toBe(url);
        expect(client.name).toBe(name);
        expect(client.containerName).toBe('datasets');
      });
    }
  }

  it('refuses names no URL can reach unchanged, or that Azure would rename', () => {
    expect(failure(() => signBlobSas(req({ blob: '' })))).toMatch(/blob name is empty/);
    expect(failure(() => signBlobSas(req({ blob: 'x'.repeat(1025) })))).toMatch(/1025 characters long; Azure allows at most 1024/);
    expect(failure(() => signBlobSas(req({ blob: 'imagenet/../other/x.txt' })))).toMatch(/"\.\." path segment/);
    expect(failure(() => signBlobSas(req({ blob: 'imagenet/./a.bin' })))).toMatch(/"\." or "\.\." path segment/);
    expect(failure(() => signBlobSas(req({ blob: '..' })))).toMatch(/path segment/);
    expect(failure(() => signBlobSas(req({ blob: 'imagenet\\..\\other' })))).toMatch(/backslash, which Azure reads as "\/"/);
    expect(failure(() => signBlobSas(req({ blob: 'imagenet/\ud800.bin' })))).toMatch(/not well-formed Unicode/);
  });

  it('refuses bad container and account names, naming them', () => {
    expect(failure(() => signBlobSas(req({ container: 'Datasets' })))).toMatch(/container name "Datasets" is not valid/);
    expect(failure(() => signBlobSas(req({ container: 'a--b' })))).toMatch(/container name "a--b"/);
    expect(failure(() => signBlobSas(req({ container: 'ab' })))).toMatch(/container name "ab"/);
    expect(failure(() => signBlobSas(req({ container: 'data/sets' })))).toMatch(/container name "data\/sets"/);
    expect(failure(() => signBlobSas(req({ account: { ...AZURE, accountName: 'Bad_Name' } })))).toMatch(/account name "Bad_Name" is not valid/);
  });
});

describe('signBlobSas: permissions', () => {
  for (const p of ['r', 'a', 'c', 'w', 'd', 'cw', 'rd', 'rw', 'racwd']) {
    it(`signs sp=${p} as given`, () => {
      const params = new URLSearchParams(signBlobSas(req({ permissions: p })).sas);
      expect(params.get('sp')).toBe(p);
      expect(params.get('sr')).toBe('b');
    });
  }

  const refused: [string, RegExp][] = [
    ['', /permissions are empty/],
    ['l', /"l" \(list\) is a container right; a per-blob SAS cannot list/],
    ['rl', /"l" \(list\)/],
    ['wr', /must be distinct letters in the order racwd \(here: "rw"\)/],
    ['rr', /must be distinct letters in the order racwd \(here: "r"\)/],
    ['dc', /order racwd \(here: "cd"\)/],
    ['x', /letters Valet does not grant: "x"/],
    ['rwtm', /letters Valet does not grant: "tm"/],
    ['R', /letters Valet does not grant: "R"/],
    ['r ', /letters Valet does not grant: " "/],
  ];
  for (const [p, message] of refused) {
    it(`refuses ${JSON.stringify(p)}`, () => {
      expect(failure(() => signBlobSas(req({ permissions: p })))).toMatch(message);
    });
  }
});

describe('signBlobSas: times', () => {
  it('refuses an expiry that is not at least a second after the start', () => {
    expect(failure(() => signBlobSas(req({ expiresOn: START })))).toMatch(/expiresOn \(2026-01-01T12:00:00\.000Z\) must be at least a second after startsOn \(2026-01-01T12:00:00\.000Z\)/);
    expect(failure(() => signBlobSas(req({ expiresOn: new Date(START.getTime() - 1000) })))).toMatch(/must be at least a second after startsOn/);
    // The SAS carries whole seconds: 500 ms later is the same second.
    expect(failure(() => signBlobSas(req({ expiresOn: new Date(START.getTime() + 500) })))).toMatch(/must be at least a second after/);
  });

  it('signs up to seven days and refuses a second more', () => {
    const week = new Date(START.getTime() + MAX_SAS_SECONDS * 1000);
    expect(new URLSearchParams(signBlobSas(req({ expiresOn: week })).sas).get('se')).toBe('2026-01-08T12:00:00Z');
    expect(failure(() => signBlobSas(req({ expiresOn: new Date(week.getTime() + 1000) })))).toMatch(/lifetime of 604801 s is more than 7 days \(604800 s\)/);
  });

  it('refuses invalid dates', () => {
    expect(failure(() => signBlobSas(req({ startsOn: new Date('nope') })))).toMatch(/startsOn is not a valid date/);
    expect(failure(() => signBlobSas(req({ expiresOn: new Date(NaN) })))).toMatch(/expiresOn is not a valid date/);
  });

  it('signs times in the past (expiry is the server\'s to enforce)', () => {
    const params = new URLSearchParams(signBlobSas(req({ startsOn: new Date(0), expiresOn: new Date(60_000) })).sas);
    expect(params.get('st')).toBe('1970-01-01T00:00:00Z');
    expect(params.get('se')).toBe('1970-01-01T00:01:00Z');
  });
});

describe('signBlobSas: the signature', () => {
  it('is the documented service-SAS HMAC over the blob, its times, rights and protocol', () => {
    const name = 'imagenet/unicodé/with space#1.bin';
    const { sas } = signBlobSas(req({ blob: name, permissions: 'cw' }));
    const p = new URLSearchParams(sas);
    // https://learn.microsoft.com/rest/api/storageservices/create-service-sas (version 2020-12-06 and later)
    const stringToSign = [p.get('sp'), p.get('st'), p.get('se'), `/blob/devstoreaccount1/datasets/${name}`, '', '', p.get('spr'), p.get('sv'), 'b', '', '', '', '', '', '', ''].join('\n');
    expect(p.get('sig')).toBe(createHmac('sha256', Buffer.from(KEY, 'base64')).update(stringToSign, 'utf8').digest('base64'));
    expect([...p.keys()].sort()).toEqual(['se', 'sig', 'sp', 'spr', 'sr', 'st', 'sv']);
  });

  it('allows plain http only for an http endpoint', () => {
    expect(new URLSearchParams(signBlobSas(req()).sas).get('spr')).toBe('https,http');
    const azure = signBlobSas(req({ account: AZURE }));
    expect(new URLSearchParams(azure.sas).get('spr')).toBe('https');
    expect(azure.url.startsWith('https://valetdata.blob.core.windows.net/datasets/imagenet/a.bin?')).toBe(true);
    const custom = signBlobSas(req({ account: { ...AZURE, endpoint: 'https://blob.example.com/valetdata/' } }));
    expect(new URLSearchParams(custom.sas).get('spr')).toBe('https');
    expect(custom.url.startsWith('https://blob.example.com/valetdata/datasets/imagenet/a.bin?')).toBe(true);
  });

  it('never puts the account key in an error', () => {
    const messages = [
      failure(() => signBlobSas(req({ account: { ...AZURITE, accountKey: `${KEY}!` } }))),
      failure(() => signBlobSas(req({ account: { ...AZURITE, accountKey: 'c2VjcmV0LWtleQ' } }))),
      failure(() => signBlobSas(req({ account: { ...AZURITE, accountKey: '' } }))),
      failure(() => signBlobSas(req({ permissions: 'rl' }))),
      failure(() => signBlobSas(req({ expiresOn: START }))),
    ];
    expect(messages[0]).toMatch(/account key of Azure account devstoreaccount1 is not base64/);
    for (const m of messages) {
      expect(m).not.toContain(KEY.slice(0, 8));
      expect(m).not.toContain('c2VjcmV0');
      expect(m).not.toMatch(/sig=/);
    }
  });
});

describe('endpoints', () => {
  it('defaults to Azure\'s public endpoint and trims a trailing slash from a given one', () => {
    expect(blobServiceUrl('valetdata')).toBe('https://valetdata.blob.core.windows.net');
    expect(blobServiceUrl('devstoreaccount1', 'http://127.0.0.1:10000/devstoreaccount1/')).toBe('http://127.0.0.1:10000/devstoreaccount1');
    expect(containerUrl('valetdata', 'datasets')).toBe('https://valetdata.blob.core.windows.net/datasets');
    expect(() => blobServiceUrl('x', 'not a url')).toThrow(/endpoint "not a url" is not a URL/);
    expect(() => blobServiceUrl('x', 'ftp://h/x')).toThrow(/is not http\(s\)/);
    expect(() => blobServiceUrl('x', 'https://h/x?sv=1')).toThrow(/must not have a query/);
  });

  it('listBlobPage checks its input before it calls anyone', async () => {
    await expect(listBlobPage(AZURITE, 'datasets', 'imagenet/', { maxResults: 0 })).rejects.toThrow(/maxResults must be a whole number from 1 to 5000, not 0/);
    await expect(listBlobPage(AZURITE, 'datasets', 'imagenet/', { maxResults: 5001 })).rejects.toThrow(/not 5001/);
    await expect(listBlobPage(AZURITE, 'Bad', 'imagenet/')).rejects.toThrow(/container name "Bad"/);
    await expect(listBlobPage({ ...AZURITE, accountKey: 'x' }, 'datasets', '')).rejects.toThrow(/not base64/);
  });
});
