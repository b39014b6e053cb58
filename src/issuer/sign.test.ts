// POST /v1/sign and /v1/list without HTTP (sign.ts): the body parsers, and UrlSigner with small
// fakes behind it (an authenticator that knows one pod, a grant source holding an azureBlob store
// and two gcs stores, an auditor that counts refusals, a clock that stands still). Nothing here
// reaches Azure or GCS: signing is local, and listing is exercised only up to its refusals.
import { MAX_SIGN_KEYS, MAX_SIGN_SECONDS } from '../api/issuer/v1/index.ts';
import type { IssuerErrorCode, SignMethod, SignResponse } from '../api/issuer/v1/index.ts';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DatasetAccess, DatasetAccessSpec, DatasetStore } from '../api/v1alpha1/index.ts';
import { FakeClock } from '../platform/clock.ts';
import { ValetError } from '../platform/errors.ts';
import type { AuditEntry, Auditor } from './audit.ts';
import { signBlobSas } from '../providers/azure-blob/sas.ts';
import { IssuerError } from './errors.ts';
import { GrantSourceOverCaches } from '../k8s/grants.ts';
import { signGcsUrl } from '../providers/gcs/sign.ts';
import type { GcsCredentials, GcsMethod } from '../providers/gcs/sign.ts';
import type { RequestContext } from './issue.ts';
import type { Authenticator, GrantSource } from './ports.ts';
import type { SigningKey } from '../policy/index.ts';
import { overlappingClaimsIn } from '../policy/index.ts';
import { UrlSigner, parseListRequest, parseSignRequest } from './sign.ts';
import { SAS_START_SKEW_MS } from '../providers/azure-blob/index.ts';
import { pod, readyAccess, store as s3Store } from './testdata/fixtures.ts';

// ── fixtures ──────────────────────────────────────────────────────────────────────────────────

/** A wall clock with milliseconds, so truncation to whole seconds shows. */
const NOW = Date.UTC(2026, 2, 3, 4, 5, 6, 789);
const ACCOUNT_KEY = randomBytes(64).toString('base64');
const HMAC = { accessId: 'GOOG1EHMACACCESSID', secret: 'PLANTEDgcsHMACsecretVALUE+/0123456789' };
const EMAIL = 'valet-signer@project.iam.gserviceaccount.com';
let RSA_PEM = '';
/** The middle of the PEM body: what would leak if a message quoted the key. */
let RSA_FRAGMENT = '';

beforeAll(() => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  RSA_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  RSA_FRAGMENT = RSA_PEM.split('\n')[5] ?? 'unreachable';
});

const AZURITE = 'http://127.0.0.1:10000/devstoreaccount1';

function azureStore(name: string, endpoint: string | null): DatasetStore {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetStore',
    metadata: { name, namespace: 'team-a', generation: 1, uid: `${name}-uid` },
    spec: {
      provider: 'azureBlob',
      azureBlob: { accountName: 'devstoreaccount1', container: 'datasets', ...(endpoint ? { endpoint } : {}), auth: { mode: 'accountKey', secretRef: { name: 'k' } } },
      allowedPrefixes: ['imagenet/', 'coco/'],
      allowedVerbs: ['read', 'list', 'write', 'delete'],
      maxSessionDurationSeconds: 3600,
    },
  };
}

function gcsStore(name: string, mode: 'serviceAccountKey' | 'hmac', endpoint?: string): DatasetStore {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetStore',
    metadata: { name, namespace: 'team-a', generation: 1, uid: `${name}-uid` },
    spec: {
      provider: 'gcs',
      gcs: { bucket: 'valet-datasets', ...(endpoint ? { endpoint } : {}), auth: { mode, secretRef: { name: 'k' } } },
      allowedPrefixes: ['imagenet/', 'coco/'],
      allowedVerbs: ['read', 'write'],
      maxSessionDurationSeconds: 3600,
    },
  };
}

const AZ = azureStore('az', AZURITE);
/** No endpoint: Azure's public https one. */
const AZ_HTTPS = azureStore('azs', null);
/** A store that allows twelve-hour sessions. */
const AZ_LONG: DatasetStore = { ...azureStore('az-long', AZURITE), spec: { ...azureStore('az-long', AZURITE).spec, maxSessionDurationSeconds: 43_200 } };
const GS_SA = gcsStore('gs', 'serviceAccountKey');
const GS_HMAC = gcsStore('gh', 'hmac', 'http://127.0.0.1:4443');
const S3 = s3Store();

/** A Ready access on `s` (its status carries renderGrant's output for the current generation). */
function access(name: string, s: DatasetStore, spec: Partial<DatasetAccessSpec> = {}): DatasetAccess {
  return readyAccess(name, { storeRef: { kind: 'DatasetStore', name: s.metadata.name }, ...spec }, { store: s });
}

/** The key each store signs with, as the real grant source reads it from the store's Secret. */
function keyOf(s: DatasetStore): SigningKey {
  if (s.spec.provider === 'azureBlob') return { kind: 'azureAccountKey', accountKey: ACCOUNT_KEY };
  if (s.spec.gcs?.auth.mode === 'hmac') return { kind: 'gcsHmac', ...HMAC };
  return { kind: 'gcsServiceAccount', clientEmail: EMAIL, privateKeyPem: RSA_PEM };
}

const ALL_ACCESSES = (): DatasetAccess[] => [
  access('blobs', AZ, { verbs: ['read', 'list', 'write', 'delete'] }),
  access('blobs-ro', AZ, { verbs: ['read'] }),
  access('blobs-wo', AZ, { verbs: ['write'] }),
  access('blobs-short', AZ, { verbs: ['read'], presign: { enabled: true, maxExpirySeconds: 300 } }),
  access('blobs-long', AZ, { verbs: ['read'], presign: { enabled: true, maxExpirySeconds: 2000 } }),
  access('blobs-https', AZ_HTTPS, { verbs: ['read', 'list', 'write', 'delete'] }),
  access('gcs-sa', GS_SA, { verbs: ['read', 'write'] }),
  access('gcs-hmac', GS_HMAC, { verbs: ['read', 'write'] }),
  access('gcs-ro', GS_SA, { verbs: ['read'] }),
  access('s3data', S3, { verbs: ['read', 'list'] }),
];

interface Harness {
  signer: UrlSigner;
  refused: AuditEntry[];
  issued: AuditEntry[];
  /** Stores signingKey was asked for, in order. */
  keyCalls: string[];
}

function harness(opts: { accesses?: DatasetAccess[]; signingKey?: (s: DatasetStore) => Promise<SigningKey>; authenticator?: Authenticator } = {}): Harness {
  const accesses = opts.accesses ?? ALL_ACCESSES();
  const stores = [AZ, AZ_HTTPS, AZ_LONG, GS_SA, GS_HMAC, S3];
  const keyCalls: string[] = [];
  const grants: GrantSource = {
    // These stores keep their keys in team-a; pure signing logic here, ADR 0008's placement is held by authorize.test.ts.
    valetNamespace: 'team-a',
    accesses: (ns) => accesses.filter((a) => a.metadata.namespace === ns),
    overlappingClaims: (clusterStore, prefix, ns) => overlappingClaimsIn(accesses, clusterStore, prefix, ns),
    store: (a) => stores.find((s) => s.metadata.name === a.spec.storeRef.name),
    storeCredentials: () => Promise.reject(new Error('UrlSigner must not ask for STS credentials')),
    signingKey: (s) => {
      keyCalls.push(s.metadata.name);
      return opts.signingKey ? opts.signingKey(s as DatasetStore) : Promise.resolve(keyOf(s as DatasetStore));
    },
    namespaceLabels: () => ({}),
  };
  const refused: AuditEntry[] = [];
  const issued: AuditEntry[] = [];
  const audit: Auditor = { refused: (e) => refused.push(e), issued: (e) => issued.push(e), event: () => undefined, podEvent: () => undefined };
  const authenticator: Authenticator = opts.authenticator ?? { authenticate: async () => pod() };
  return { signer: new UrlSigner({ authenticator, grants, audit, clock: new FakeClock(NOW) }), refused, issued, keyCalls };
}

const ctx = (): RequestContext => ({ requestId: 'req-1', remoteAddress: '10.0.0.7', started: 0, deadline: 10_000, signal: new AbortController().signal });

const SECRETS = () => [ACCOUNT_KEY, HMAC.secret, RSA_FRAGMENT];

/**
 * `p` rejects with an IssuerError of `code`, audited exactly once with that code, and neither the
 * error nor the audit entry carries a secret. Returns the error.
 */
async function refusal(h: Harness, p: Promise<unknown>, code: IssuerErrorCode): Promise<IssuerError> {
  const before = h.refused.length;
  const err = await p.then(
    () => {
      throw new Error(`expected a ${code} refusal, the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IssuerError);
  const e = err as IssuerError;
  expect(e.code, e.message).toBe(code);
  expect(h.refused.length - before, 'audited once').toBe(1);
  const entry = h.refused.at(-1);
  expect(entry?.code).toBe(code);
  expect(entry?.message).toBe(e.message);
  const text = `${e.message} ${JSON.stringify(entry)}`;
  for (const secret of SECRETS()) expect(text).not.toContain(secret);
  return e;
}

/** The parser's refusal: a BadRequest (400) whose message matches `why`. */
function badRequest(fn: () => unknown): IssuerError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IssuerError);
    expect((err as IssuerError).code).toBe('BadRequest');
    expect((err as IssuerError).httpStatus).toBe(400);
    return err as IssuerError;
  }
  throw new Error('expected a BadRequest, nothing was thrown');
}

/** Whole seconds, as a SAS and rfc3339 write them. */
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// ── parsers ───────────────────────────────────────────────────────────────────────────────────

describe('parseSignRequest', () => {
  const OK = { access: 'blobs', method: 'GET', keys: ['imagenet/a.bin'] };

  it('accepts the documented shape, with and without expiresSeconds, at the bounds', () => {
    expect(parseSignRequest(OK)).toEqual({ access: 'blobs', method: 'GET', keys: ['imagenet/a.bin'] });
    expect(parseSignRequest(OK)).not.toHaveProperty('expiresSeconds');
    expect(parseSignRequest({ ...OK, expiresSeconds: 1 }).expiresSeconds).toBe(1);
    expect(parseSignRequest({ ...OK, expiresSeconds: MAX_SIGN_SECONDS }).expiresSeconds).toBe(604_800);
    expect(parseSignRequest({ ...OK, keys: Array.from({ length: MAX_SIGN_KEYS }, (_, i) => `imagenet/${i}`) }).keys).toHaveLength(1000);
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) expect(parseSignRequest({ ...OK, method }).method).toBe(method);
    expect(parseSignRequest({ ...OK, access: 'a.b-c.d0' }).access).toBe('a.b-c.d0');
  });

  it('refuses a body that is not an object', () => {
    for (const body of [null, undefined, [], ['blobs'], 'blobs', 1, true]) expect(badRequest(() => parseSignRequest(body)).message).toMatch(/JSON object/);
  });

  it('refuses an unknown field, naming it and the allowed ones', () => {
    const e = badRequest(() => parseSignRequest({ ...OK, expires: 60 }));
    expect(e.message).toMatch(/unknown field "expires"/);
    expect(e.message).toContain('"expiresSeconds"');
    expect(badRequest(() => parseSignRequest({ ...OK, accesses: ['blobs'] })).message).toMatch(/unknown field "accesses"/);
    // A long field name is cut in the message.
    expect(badRequest(() => parseSignRequest({ ...OK, ['x'.repeat(500)]: 1 })).message).not.toContain('x'.repeat(65));
  });

  it('refuses a bad access name', () => {
    for (const a of [undefined, '', 'Blobs', 'blobs_1', '-blobs', 'blobs-', 'team-a/blobs', '../blobs', 'a'.repeat(254), 5, ['blobs'], null]) {
      expect(badRequest(() => parseSignRequest({ ...OK, access: a })).message, String(a)).toMatch(/"access"/);
    }
  });

  it('refuses a bad method', () => {
    for (const m of [undefined, 'get', 'POST', 'PATCH', 'OPTIONS', '', 1, ['GET']]) {
      expect(badRequest(() => parseSignRequest({ ...OK, method: m })).message, String(m)).toMatch(/"method" must be one of GET, HEAD, PUT, DELETE/);
    }
  });

  it('refuses keys that are missing, empty, more than 1000, or not a list', () => {
    for (const keys of [undefined, [], Array.from({ length: MAX_SIGN_KEYS + 1 }, (_, i) => `imagenet/${i}`), 'imagenet/a', { 0: 'imagenet/a' }, null]) {
      expect(badRequest(() => parseSignRequest({ ...OK, keys })).message).toMatch(/"keys" must be a list of 1 to 1000 object keys/);
    }
  });

  it('refuses keys that are not all strings', () => {
    for (const keys of [['imagenet/a', 5], [null], [['imagenet/a']], [{ key: 'imagenet/a' }]]) {
      expect(badRequest(() => parseSignRequest({ ...OK, keys })).message).toMatch(/"keys" must hold strings/);
    }
  });

  it('refuses expiresSeconds that is not a whole number from 1 to 604800', () => {
    for (const expiresSeconds of [0, -1, 1.5, 604_801, Number.MAX_SAFE_INTEGER, '60', null, Number.NaN, Infinity]) {
      expect(badRequest(() => parseSignRequest({ ...OK, expiresSeconds })).message, String(expiresSeconds)).toMatch(/"expiresSeconds" must be a whole number from 1 to 604800/);
    }
  });
});

describe('parseListRequest', () => {
  it('accepts the documented shape, at the bounds', () => {
    expect(parseListRequest({ access: 'blobs' })).toEqual({ access: 'blobs' });
    expect(parseListRequest({ access: 'blobs', prefix: 'imagenet/train/', continuationToken: 't'.repeat(2048), maxResults: 5000 })).toEqual({
      access: 'blobs',
      prefix: 'imagenet/train/',
      continuationToken: 't'.repeat(2048),
      maxResults: 5000,
    });
    expect(parseListRequest({ access: 'blobs', maxResults: 1 }).maxResults).toBe(1);
    // The parser takes any string as a prefix; UrlSigner.list decides whether it is inside the grant.
    expect(parseListRequest({ access: 'blobs', prefix: '' }).prefix).toBe('');
  });

  it('refuses a body that is not an object, an unknown field and a bad access name', () => {
    for (const body of [null, [], 'blobs']) expect(badRequest(() => parseListRequest(body)).message).toMatch(/JSON object/);
    expect(badRequest(() => parseListRequest({ access: 'blobs', keys: ['imagenet/a'] })).message).toMatch(/unknown field "keys"/);
    expect(badRequest(() => parseListRequest({ access: 'blobs', method: 'GET' })).message).toMatch(/unknown field "method"/);
    for (const a of [undefined, '', 'BLOBS', 'a/b', 7]) expect(badRequest(() => parseListRequest({ access: a })).message).toMatch(/"access"/);
  });

  it('refuses a prefix that is not a string', () => {
    for (const prefix of [5, null, ['imagenet/'], { p: 'imagenet/' }, true]) {
      expect(badRequest(() => parseListRequest({ access: 'blobs', prefix })).message, String(prefix)).toMatch(/"prefix" must be a string/);
    }
  });

  it('refuses an empty, over-long or non-string continuationToken', () => {
    for (const continuationToken of ['', 't'.repeat(2049), 5, null, ['t']]) {
      expect(badRequest(() => parseListRequest({ access: 'blobs', continuationToken })).message).toMatch(/"continuationToken"/);
    }
  });

  it('refuses maxResults outside 1 to 5000 or not whole', () => {
    for (const maxResults of [0, -1, 5001, 2.5, '10', null, Number.NaN]) {
      expect(badRequest(() => parseListRequest({ access: 'blobs', maxResults })).message, String(maxResults)).toMatch(/"maxResults" must be a whole number from 1 to 5000/);
    }
  });
});

// ── UrlSigner.sign ────────────────────────────────────────────────────────────────────────────

describe('UrlSigner.sign: refusals', () => {
  it('refuses an access on an s3 store with WrongProvider (409), without reading a signing key', async () => {
    const h = harness();
    const e = await refusal(h, h.signer.sign('tok', { access: 's3data', method: 'GET', keys: ['imagenet/a'] }, ctx()), 'WrongProvider');
    expect(e.httpStatus).toBe(409);
    expect(e.message).toMatch(/s3 store/);
    expect(h.keyCalls).toEqual([]);
    // The audit line names the pod that asked.
    expect(h.refused[0]).toMatchObject({ requestId: 'req-1', remoteAddress: '10.0.0.7', pod: { podName: 'trainer-0' } });
  });

  it('refuses a method whose verb the access does not grant with VerbNotGranted (403)', async () => {
    const h = harness();
    const cases: [string, SignMethod, string][] = [
      ['blobs-ro', 'PUT', 'write'],
      ['blobs-ro', 'DELETE', 'delete'],
      ['blobs-wo', 'GET', 'read'],
      ['blobs-wo', 'HEAD', 'read'],
      ['gcs-ro', 'PUT', 'write'],
    ];
    for (const [name, method, verb] of cases) {
      const e = await refusal(h, h.signer.sign('tok', { access: name, method, keys: ['imagenet/a'] }, ctx()), 'VerbNotGranted');
      expect(e.httpStatus).toBe(403);
      expect(e.message).toContain(`does not grant ${verb}, which ${method} needs`);
    }
    expect(h.keyCalls).toEqual([]);
  });

  it('refuses gcs DELETE: a gcs access does not grant delete, and one that claims to never becomes a grant', async () => {
    const h = harness();
    for (const name of ['gcs-sa', 'gcs-hmac']) {
      const e = await refusal(h, h.signer.sign('tok', { access: name, method: 'DELETE', keys: ['imagenet/a'] }, ctx()), 'VerbNotGranted');
      expect(e.message).toContain('does not grant delete');
    }
    // What the controller would do with verbs [read, delete] on gcs: Ready=False (the scope does not render).
    const notReady = readyAccess('gcs-del', { storeRef: { kind: 'DatasetStore', name: 'gs' }, verbs: ['read', 'delete'] }, { store: GS_SA });
    expect(notReady.status?.sessionPolicy).toBeUndefined();
    // A forged one: a Ready status rendered for [read], with delete added to the spec afterwards.
    const forged = access('gcs-forged', GS_SA, { verbs: ['read'] });
    forged.spec.verbs = ['read', 'delete'];
    const h2 = harness({ accesses: [notReady, forged] });
    const notReadyRefusal = await refusal(h2, h2.signer.sign('tok', { access: 'gcs-del', method: 'DELETE', keys: ['imagenet/a'] }, ctx()), 'AccessNotReady');
    expect(notReadyRefusal.refusals[0]).toMatchObject({ access: 'team-a/gcs-del', reason: 'NotReady' });
    // The forged one is judged by the issuer itself against the store: its grant does not render.
    const forgedRefusal = await refusal(h2, h2.signer.sign('tok', { access: 'gcs-forged', method: 'DELETE', keys: ['imagenet/a'] }, ctx()), 'StoreForbidsGrant');
    expect(forgedRefusal.refusals[0]).toMatchObject({ access: 'team-a/gcs-forged', reason: 'StoreForbids' });
    expect([...h.keyCalls, ...h2.keyCalls]).toEqual([]);
  });

  it('refuses a whole batch with one key outside the folder, naming its index, and signs nothing', async () => {
    const h = harness();
    const batches: [string[], number][] = [
      [['imagenet/a', 'imagenet/b', 'coco/c'], 2],
      [['imagenet/../coco/x', 'imagenet/a'], 0],
      [['imagenet/a', '/imagenet/b'], 1],
      [['imagenet/a', 'imagenet/b', 'imagenet/%2e%2e/c'], 2],
      [['imagenet/a', 'imagenetx/a'], 1],
      [['imagenet/'], 0],
      [['imagenet/a', ''], 1],
    ];
    for (const [keys, index] of batches) {
      for (const name of ['blobs', 'gcs-hmac']) {
        const e = await refusal(h, h.signer.sign('tok', { access: name, method: 'GET', keys }, ctx()), 'ObjectOutsideGrant');
        expect(e.message.startsWith(`keys[${index}]: `), e.message).toBe(true);
        expect(e.httpStatus).toBe(403);
      }
    }
    expect(h.keyCalls).toEqual([]);
  });

  it('answers StoreCredentialsUnavailable (503) when the signing key cannot be read, hiding an unexpected error', async () => {
    const h = harness({ signingKey: () => Promise.reject(new Error(`secret parse failed near ${ACCOUNT_KEY}`)) });
    const e = await refusal(h, h.signer.sign('tok', { access: 'blobs', method: 'GET', keys: ['imagenet/a'] }, ctx()), 'StoreCredentialsUnavailable');
    expect(e.httpStatus).toBe(503);
    expect(e.retryAfterSeconds).toBe(10);
    expect(e.message).toBe('the issuer cannot read the credentials of the store');
    expect(h.keyCalls).toEqual(['az']);
  });

  it('keeps the code and message of a StoreCredentialsUnavailable ValetError from the grant source', async () => {
    const message = 'Secret team-a/k of DatasetStore az has no key "accountKey"';
    const h = harness({ signingKey: () => Promise.reject(new ValetError('StoreCredentialsUnavailable', message, 503)) });
    for (const name of ['blobs', 'gcs-sa']) {
      const e = await refusal(h, h.signer.sign('tok', { access: name, method: 'GET', keys: ['imagenet/a'] }, ctx()), 'StoreCredentialsUnavailable');
      expect(e.message).toBe(message);
      expect(e.httpStatus).toBe(503);
    }
  });

  it('answers StoreCredentialsUnavailable when the key is of the wrong kind for the store, naming the store only', async () => {
    const h = harness({ signingKey: (s) => Promise.resolve(s.spec.provider === 'azureBlob' ? { kind: 'gcsHmac', ...HMAC } : { kind: 'azureAccountKey', accountKey: ACCOUNT_KEY }) });
    for (const name of ['blobs', 'gcs-sa']) {
      const e = await refusal(h, h.signer.sign('tok', { access: name, method: 'GET', keys: ['imagenet/a'] }, ctx()), 'StoreCredentialsUnavailable');
      expect(e.message).toMatch(/^store DatasetStore\/team-a\/(az|gs) has no signing key for (azureBlob|gcs) GET$/);
    }
  });

  // A key that cannot sign is the store's misconfiguration, not the pod's request: 503, not 400.
  // It is checked once, by the store's provider when the grant source reads the Secret (UrlSigner
  // does not check it again), so these go through the real grant source and providers.
  for (const [what, name, values] of [
    ['an Azure account key that is not base64 (a trailing space inside)', 'blobs', { accountKey: `${ACCOUNT_KEY.slice(0, 20)} ${ACCOUNT_KEY.slice(20)}` }],
    ['a service-account key whose PEM does not parse', 'gcs-sa', { 'key.json': JSON.stringify({ client_email: EMAIL, private_key: 'PLANTED-not-a-pem' }) }],
  ] as const) {
    it(`answers StoreCredentialsUnavailable, not BadRequest, for ${what}, without echoing it`, async () => {
      const source = new GrantSourceOverCaches({
        caches: { accesses: () => [], datasetStore: () => undefined, clusterStore: () => undefined, namespaceLabels: () => undefined, overlappingClaims: () => [] },
        core: { readNamespacedSecret: async () => ({ stringData: values as Record<string, string> }) },
        valetNamespace: 'team-a',
      });
      const h = harness({ signingKey: (s) => source.signingKey(s) });
      const e = await refusal(h, h.signer.sign('tok', { access: name, method: 'GET', keys: ['imagenet/a'] }, ctx()), 'StoreCredentialsUnavailable');
      expect(e.httpStatus).toBe(503);
      expect(e.message).toMatch(/^the Secret of DatasetStore (az|gs): /);
      expect(e.message).not.toContain(ACCOUNT_KEY.slice(20, 40));
      expect(e.message).not.toContain('PLANTED');
    });
  }

  it('audits a failed authentication once, without a pod', async () => {
    const h = harness({ authenticator: { authenticate: () => Promise.reject(new ValetError('Unauthenticated', 'token tok refused: audience', 401)) } });
    const e = await refusal(h, h.signer.sign('tok', { access: 'blobs', method: 'GET', keys: ['imagenet/a'] }, ctx()), 'Unauthenticated');
    expect(e.message).toBe('authentication failed');
    expect(h.refused[0]?.pod).toBeUndefined();
    expect(h.keyCalls).toEqual([]);
  });

  it('refuses an access that does not exist or does not grant the pod', async () => {
    const h = harness();
    const e = await refusal(h, h.signer.sign('tok', { access: 'missing', method: 'GET', keys: ['imagenet/a'] }, ctx()), 'NoGrant');
    expect(e.refusals).toContainEqual(expect.objectContaining({ access: 'team-a/missing', reason: 'NotFound' }));
    const other = harness({ authenticator: { authenticate: async () => pod({ serviceAccount: 'intruder' }) } });
    await refusal(other, other.signer.sign('tok', { access: 'blobs', method: 'GET', keys: ['imagenet/a'] }, ctx()), 'NoGrant');
    expect([...h.keyCalls, ...other.keyCalls]).toEqual([]);
  });
});

describe('UrlSigner.sign: azureBlob URLs', () => {
  const PERMS: Record<SignMethod, string> = { GET: 'r', HEAD: 'r', PUT: 'cw', DELETE: 'd' };

  it('signs one per-blob SAS per key, in order, with sp per method, st a minute back and the container + blob as path', async () => {
    const h = harness();
    const keys = ['imagenet/a.bin', 'imagenet/deep/dir/b c.bin', 'imagenet/unicodé.bin'];
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE'] as const) {
      const out = await h.signer.sign('tok', { access: 'blobs', method, keys, expiresSeconds: 600 }, ctx());
      expect(out).toMatchObject({ access: 'blobs', provider: 'azureBlob', method, expiresInSeconds: 600, expiresAt: isoSeconds(NOW + 600_000) });
      expect(out.urls.map((u) => u.key)).toEqual(keys);
      for (const [i, { url }] of out.urls.entries()) {
        const u = new URL(url);
        expect(u.origin).toBe('http://127.0.0.1:10000');
        expect(decodeURIComponent(u.pathname)).toBe(`/devstoreaccount1/datasets/${keys[i]}`);
        const q = u.searchParams;
        expect(q.get('sr')).toBe('b');
        expect(q.get('sp')).toBe(PERMS[method]);
        expect(q.get('spr')).toBe('https,http');
        expect(q.get('st')).toBe(isoSeconds(NOW - SAS_START_SKEW_MS));
        expect(q.get('se')).toBe(isoSeconds(NOW + 600_000));
        expect(q.get('sig')).toBeTruthy();
        // Byte for byte what signBlobSas gives for the same inputs: the signature is over these fields.
        expect(url).toBe(
          signBlobSas({
            account: { accountName: 'devstoreaccount1', accountKey: ACCOUNT_KEY, endpoint: AZURITE },
            container: 'datasets',
            blob: keys[i] ?? '',
            permissions: PERMS[method],
            startsOn: new Date(NOW - SAS_START_SKEW_MS),
            expiresOn: new Date(NOW + 600_000),
          }).url,
        );
        expect(url).not.toContain(ACCOUNT_KEY);
        expect(url).not.toContain(encodeURIComponent(ACCOUNT_KEY));
      }
    }
    // One signing key read per request, and no refusal audited.
    expect(h.keyCalls).toEqual(['az', 'az', 'az', 'az']);
    expect(h.refused).toEqual([]);
  });

  it('allows https only for an https endpoint (the public one by default)', async () => {
    const h = harness();
    const out = await h.signer.sign('tok', { access: 'blobs-https', method: 'PUT', keys: ['imagenet/x.bin'] }, ctx());
    const u = new URL(out.urls[0]?.url ?? '');
    expect(u.origin).toBe('https://devstoreaccount1.blob.core.windows.net');
    expect(u.pathname).toBe('/datasets/imagenet/x.bin');
    expect(u.searchParams.get('spr')).toBe('https');
    expect(u.searchParams.get('sp')).toBe('cw');
  });

  it('caps the lifetime at min(requested, presign.maxExpirySeconds or the session, the session)', async () => {
    const h = harness();
    // [access, requested, expected]; blobs* have sessionDurationSeconds 900.
    const table: [string, number | undefined, number][] = [
      ['blobs', undefined, 900],
      ['blobs', 60, 60],
      ['blobs', 1, 1],
      ['blobs', 5000, 900],
      ['blobs', MAX_SIGN_SECONDS, 900],
      ['blobs-short', undefined, 300],
      ['blobs-short', 120, 120],
      ['blobs-short', 600, 300],
    ];
    for (const [name, requested, expected] of table) {
      const out = await h.signer.sign('tok', { access: name, method: 'GET', keys: ['imagenet/a'], ...(requested === undefined ? {} : { expiresSeconds: requested }) }, ctx());
      const where = `${name} ${requested}`;
      expect(out.expiresInSeconds, where).toBe(expected);
      expect(out.expiresAt, where).toBe(isoSeconds(NOW + expected * 1000));
      expect(new URL(out.urls[0]?.url ?? '').searchParams.get('se'), where).toBe(isoSeconds(NOW + expected * 1000));
    }
    // presign.maxExpirySeconds above the session is never Ready, and the issuer refuses it itself.
    const tooLong = await refusal(h, h.signer.sign('tok', { access: 'blobs-long', method: 'GET', keys: ['imagenet/a'], expiresSeconds: 1500 }, ctx()), 'StoreForbidsGrant');
    expect(tooLong.refusals[0]?.message).toContain('PresignExpiryTooLong');
    // A session longer than a week is still capped at a week.
    const long = harness({ accesses: [access('week', AZ_LONG, { verbs: ['read'], sessionDurationSeconds: 43_200 })] });
    const out = await long.signer.sign('tok', { access: 'week', method: 'GET', keys: ['imagenet/a'], expiresSeconds: MAX_SIGN_SECONDS }, ctx());
    expect(out.expiresInSeconds).toBe(43_200);
  });
});

describe('UrlSigner.sign: gcs URLs', () => {
  const credentialsOf = (name: string): GcsCredentials =>
    name === 'gcs-hmac' ? { kind: 'hmac', accessId: HMAC.accessId, secret: HMAC.secret } : { kind: 'serviceAccount', clientEmail: EMAIL, privateKeyPem: RSA_PEM };

  it('signs exactly what signGcsUrl signs for the same time, for a service account and an HMAC key', async () => {
    const h = harness();
    const keys = ['imagenet/a.bin', 'imagenet/with space/+plus&amp.bin'];
    for (const [name, endpoint, algorithm] of [
      ['gcs-sa', 'https://storage.googleapis.com', 'GOOG4-RSA-SHA256'],
      ['gcs-hmac', 'http://127.0.0.1:4443', 'GOOG4-HMAC-SHA256'],
    ] as const) {
      for (const method of ['GET', 'HEAD', 'PUT'] as const satisfies readonly GcsMethod[]) {
        const out: SignResponse = await h.signer.sign('tok', { access: name, method, keys, expiresSeconds: 120 }, ctx());
        expect(out).toMatchObject({ access: name, provider: 'gcs', method, expiresInSeconds: 120, expiresAt: isoSeconds(NOW + 120_000) });
        expect(out.urls.map((u) => u.key)).toEqual(keys);
        for (const [i, { url }] of out.urls.entries()) {
          expect(url).toBe(signGcsUrl({ credentials: credentialsOf(name), bucket: 'valet-datasets', key: keys[i] ?? '', method, expiresSeconds: 120, now: NOW, endpoint }));
          const u = new URL(url);
          expect(u.origin).toBe(endpoint);
          expect(u.searchParams.get('X-Goog-Algorithm')).toBe(algorithm);
          expect(u.searchParams.get('X-Goog-Expires')).toBe('120');
          for (const secret of SECRETS()) expect(url).not.toContain(secret);
        }
      }
    }
  });

  it('caps X-Goog-Expires like the SAS expiry', async () => {
    const h = harness({ accesses: [access('gcs-short', GS_HMAC, { verbs: ['read'], presign: { enabled: true, maxExpirySeconds: 300 } }), access('gcs-hmac', GS_HMAC, { verbs: ['read'] })] });
    for (const [name, requested, expected] of [
      ['gcs-short', undefined, 300],
      ['gcs-short', 1000, 300],
      ['gcs-short', 30, 30],
      ['gcs-hmac', undefined, 900],
      ['gcs-hmac', 100_000, 900],
    ] as const) {
      const out = await h.signer.sign('tok', { access: name, method: 'GET', keys: ['imagenet/a'], ...(requested === undefined ? {} : { expiresSeconds: requested }) }, ctx());
      expect(out.expiresInSeconds).toBe(expected);
      expect(new URL(out.urls[0]?.url ?? '').searchParams.get('X-Goog-Expires')).toBe(String(expected));
    }
  });
});

// ── UrlSigner.list ────────────────────────────────────────────────────────────────────────────

describe('UrlSigner.list: refusals before any listing', () => {
  it('refuses s3 and gcs accesses with WrongProvider (409)', async () => {
    const h = harness();
    for (const name of ['s3data', 'gcs-sa', 'gcs-hmac']) {
      const e = await refusal(h, h.signer.list('tok', { access: name }, ctx()), 'WrongProvider');
      expect(e.httpStatus).toBe(409);
    }
    expect(h.keyCalls).toEqual([]);
  });

  it('refuses an azureBlob access without list with VerbNotGranted', async () => {
    const h = harness();
    for (const name of ['blobs-ro', 'blobs-wo']) {
      const e = await refusal(h, h.signer.list('tok', { access: name, prefix: 'imagenet/' }, ctx()), 'VerbNotGranted');
      expect(e.message).toContain('does not grant list');
    }
    expect(h.keyCalls).toEqual([]);
  });

  it('refuses a prefix outside the granted folder, or not a folder, with ObjectOutsideGrant', async () => {
    const h = harness();
    for (const prefix of ['coco/', 'imagenetx/', 'imagenet', '', '/imagenet/', 'imagenet/../coco/', 'imagenet//', '../', 'imagenet/*', 'i/']) {
      const e = await refusal(h, h.signer.list('tok', { access: 'blobs', prefix }, ctx()), 'ObjectOutsideGrant');
      expect(e.httpStatus, prefix).toBe(403);
    }
    expect(h.keyCalls).toEqual([]);
  });

  it('passes the refusals for the granted folder or one inside it, then needs the account key', async () => {
    // A key of the wrong kind stops the listing before any call to Azure.
    const h = harness({ signingKey: () => Promise.resolve({ kind: 'gcsHmac', ...HMAC }) });
    for (const prefix of [undefined, 'imagenet/', 'imagenet/train/']) {
      await refusal(h, h.signer.list('tok', { access: 'blobs', ...(prefix === undefined ? {} : { prefix }) }, ctx()), 'StoreCredentialsUnavailable');
    }
    expect(h.keyCalls).toEqual(['az', 'az', 'az']);
    const failing = harness({ signingKey: () => Promise.reject(new Error(`cannot decode ${ACCOUNT_KEY}`)) });
    const e = await refusal(failing, failing.signer.list('tok', { access: 'blobs' }, ctx()), 'StoreCredentialsUnavailable');
    expect(e.message).toBe('the issuer cannot read the credentials of the store');
  });
});
