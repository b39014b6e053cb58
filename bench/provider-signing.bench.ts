// 7. Provider signing (issue #9): for azureBlob and gcs stores the issuer, not the sidecar, signs
// every object URL (src/issuer/sign.ts UrlSigner, POST /v1/sign, up to 1,000 keys a call), so its
// one core does what every s3 pod's sidecar does for itself. Two parts, in one run:
// 1. Pure signing, URLs per second on this thread (one core), against s3's presigner
//    (createPresigner, src/issuer/presign.ts) as the comparison: Azure per-blob service SAS
//    (signBlobSas, src/issuer/azure-blob.ts, through @azure/storage-blob), GCS V4 with an HMAC key
//    and with an RSA-2048 service-account key, each both as the issuer calls it today (signGcsUrl:
//    signing key derived, or PEM parsed, per URL) and through createGcsSigner (keys cached). The
//    cached and uncached forms are first checked to produce the same URL. Interleaved rounds bounded
//    by count and time; each figure is the median round.
// 2. POST /v1/sign end to end through the issuer's real HTTP app (createIssuerApp and
//    startIssuerServer, plain HTTP on 127.0.0.1:0, in this process, metrics on, info logs built
//    and discarded), with small fakes for the Authenticator (returns a pod at once) and the
//    GrantSource (one Ready azureBlob access whose status.sessionPolicy is renderGrant's output; the
//    account key from signingKey). No Kubernetes: the real issuer adds a TokenReview and a pod read
//    (cached), which are not measured here: this is the issuer's own cost per request and per URL.
//    The client is a worker thread with a keep-alive http.Agent (so it does not share this event
//    loop), 4 requests in flight, batches of 1, 100 and 1,000 keys in rotating order; then one
//    request at a time for latency. This thread's event-loop utilization gives the server's busy
//    time per request. The first answer is checked byte for byte against signBlobSas.
// Goals: Azure and GCS HMAC at least 0.5× the s3 presigner (each is one HMAC-SHA256 per URL plus
// string building, as SigV4 with a cached key is); GCS RSA at least 500 URLs/s (≤ 2 ms a URL, the
// RSA-2048 signature itself); batch 1,000 end to end at least 0.5× pure Azure signing; a one-key
// request under 2 ms p50, one at a time.
// Alone: node bench/run.ts provider-signing
import { generateKeyPairSync } from 'node:crypto';
import { Agent, request } from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Registry } from 'prom-client';
import type { DatasetAccess, DatasetStore } from '../src/api/v1alpha1/index.ts';
import { createIssuerMetrics } from '../src/metrics/issuer.ts';
import { createLogger } from '../src/platform/logger.ts';
import { AZURE_SAS_PERMISSIONS, renderGrant } from '../src/policy/index.ts';
import { signBlobSas } from '../src/issuer/azure-blob.ts';
import { createGcsSigner, signGcsUrl } from '../src/issuer/gcs-sign.ts';
import type { GcsCredentials } from '../src/issuer/gcs-sign.ts';
import type { Authenticator, GrantSource, PodIdentity } from '../src/issuer/ports.ts';
import { createPresigner } from '../src/issuer/presign.ts';
import { createIssuerApp, startIssuerServer } from '../src/issuer/server.ts';
import { SAS_START_SKEW_MS } from '../src/issuer/sign.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { median, percentile } from './lib/stats.ts';

const EXPIRES = 600;
const keys = Array.from({ length: 1000 }, (_, i) => `imagenet/train/shard-${String(i).padStart(6, '0')}.tar`);
const s3 = {
  credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'x'.repeat(600) },
  target: { bucket: 'datasets', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000' },
};
// Azurite's published development key: any 64-byte base64 key signs the same way.
const azure = { accountName: 'valetbench', accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', container: 'datasets' };
const azureEndpoint = `https://${azure.accountName}.blob.core.windows.net`;
const gcsBucket = 'valet-datasets';
const gcsHmac: GcsCredentials = { kind: 'hmac', accessId: 'GOOG1EXAMPLEEXAMPLEEXAMPLE', secret: 'bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ' };

const NS = 'bench';
const ACCESS = 'imagenet';
const TOKEN = 'bench-token';
const CONNECTIONS = 4;
const ROUND_MS = 1000;
const HTTP_ROUNDS = 3;
const BATCHES = [1, 100, 1000] as const;
const SIGN_ROUNDS = 5;
const SIGN_ROUND_MS = 300;
const WORKER_ROLE = 'provider-signing-client';

/** URLs per second of `sign` over up to `n` URLs or `maxMs`, whichever ends first. */
function rate(sign: (key: string, now: number) => string, n: number, maxMs: number): number {
  let bytes = 0;
  const t0 = performance.now();
  let i = 0;
  for (; i < n; i++) {
    bytes += sign(keys[i % keys.length] as string, Date.now()).length;
    if ((i & 15) === 15 && performance.now() - t0 > maxMs) break;
  }
  if (bytes === 0) throw new Error('nothing signed');
  return (i + (i < n ? 1 : 0)) / ((performance.now() - t0) / 1000);
}

// ---- the client, on its own thread: this same file, started as a worker ----

interface ClientJob {
  port: number;
  batch: number;
  connections: number;
  durationMs: number;
}

interface ClientOutcome {
  requests: number;
  non2xx: number;
  errors: number;
  elapsedMs: number;
  bytes: number;
  latencies: number[];
  /** The first answer's body, for the check. */
  first: string;
}

function runClient(): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  parentPort?.on('message', (job: ClientJob) => {
    const body = Buffer.from(JSON.stringify({ access: ACCESS, method: 'GET', keys: keys.slice(0, job.batch) }));
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': String(body.length) };
    const out: ClientOutcome = { requests: 0, non2xx: 0, errors: 0, elapsedMs: 0, bytes: 0, latencies: [], first: '' };
    const started = performance.now();
    const endAt = started + job.durationMs;
    const one = () =>
      new Promise<void>((resolve) => {
        const sentAt = performance.now();
        const req = request({ host: '127.0.0.1', port: job.port, path: '/v1/sign', method: 'POST', agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            out.bytes += c.length;
            if (out.first === '') chunks.push(c);
          });
          res.on('end', () => {
            out.requests++;
            if (res.statusCode !== 200) out.non2xx++;
            if (out.latencies.length < 200_000) out.latencies.push(performance.now() - sentAt);
            if (out.first === '') out.first = Buffer.concat(chunks).toString();
            resolve();
          });
          res.on('error', () => {
            out.errors++;
            resolve();
          });
        });
        req.on('error', () => {
          out.errors++;
          resolve();
        });
        req.end(body);
      });
    const loop = async () => {
      do await one();
      while (performance.now() < endAt && out.errors < 100);
    };
    void Promise.all(Array.from({ length: job.connections }, loop)).then(() => {
      out.elapsedMs = performance.now() - started;
      parentPort?.postMessage(out);
    });
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE) runClient();

function clientRound(worker: Worker, job: ClientJob): Promise<ClientOutcome> {
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => {
      worker.off('message', onMessage);
      reject(new Error('the client did not finish in time'));
    }, job.durationMs + 15_000);
    const onMessage = (m: ClientOutcome) => {
      clearTimeout(guard);
      resolve(m);
    };
    worker.once('message', onMessage);
    worker.postMessage(job);
  });
}

// ---- the issuer's fakes: one pod, one Ready azureBlob access ----

function azureFixtures(): { store: DatasetStore; access: DatasetAccess } {
  const store: DatasetStore = {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetStore',
    metadata: { name: 'blob', namespace: NS, generation: 1, uid: 'store-uid' },
    spec: {
      provider: 'azureBlob',
      azureBlob: { accountName: azure.accountName, container: azure.container, auth: { mode: 'accountKey', secretRef: { name: 'azure-key' } } },
      allowedPrefixes: ['imagenet/'],
      allowedVerbs: ['read', 'list'],
      maxSessionDurationSeconds: 3600,
    },
  };
  const access: DatasetAccess = {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name: ACCESS, namespace: NS, generation: 1, uid: 'access-uid' },
    spec: {
      storeRef: { kind: 'DatasetStore', name: 'blob' },
      prefix: 'imagenet/',
      verbs: ['read', 'list'],
      subjects: { serviceAccounts: ['worker'] },
      sessionDurationSeconds: 900,
      presign: { maxExpirySeconds: EXPIRES },
    },
  };
  const rendered = renderGrant(store, access);
  if (!rendered.ok) throw new Error(`the access does not render: ${rendered.message}`);
  access.status = {
    observedGeneration: 1,
    store: 'DatasetStore/blob',
    conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'Valid', message: 'ready' }],
    sessionPolicy: rendered.policy,
    packedPolicySize: rendered.packedSize,
  };
  return { store, access };
}

interface HttpRound extends ClientOutcome {
  batch: number;
  urlsPerSecond: number;
  /** Microseconds this thread (the server) was busy per request. */
  busyUsPerRequest: number;
}

export const providerSigning: Benchmark = {
  name: 'provider-signing',
  title: 'Per-object URL signing by the issuer (azureBlob, gcs)',
  async run(ctx) {
    // ---- 1. pure signing ----
    const presigner = createPresigner();
    const gcs = createGcsSigner();
    const gcsRsa: GcsCredentials = {
      kind: 'serviceAccount',
      clientEmail: 'valet-signer@bench.iam.gserviceaccount.com',
      privateKeyPem: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const gcsReq = (credentials: GcsCredentials, key: string, now: number) => ({ credentials, bucket: gcsBucket, key, method: 'GET' as const, expiresSeconds: EXPIRES, now });
    const azureSas = (key: string, now: number) =>
      signBlobSas({
        account: { ...azure, endpoint: azureEndpoint },
        container: azure.container,
        blob: key,
        permissions: AZURE_SAS_PERMISSIONS.read,
        startsOn: new Date(now - SAS_START_SKEW_MS),
        expiresOn: new Date(now + EXPIRES * 1000),
      }).url;
    const signers = {
      s3: { urls: 100_000, fn: (key: string, now: number) => presigner.presign({ ...s3, key, method: 'GET', expiresSeconds: EXPIRES, now }) },
      azure: { urls: 100_000, fn: azureSas },
      gcsHmac: { urls: 100_000, fn: (key: string, now: number) => signGcsUrl(gcsReq(gcsHmac, key, now)) },
      gcsHmacCached: { urls: 100_000, fn: (key: string, now: number) => gcs.sign(gcsReq(gcsHmac, key, now)) },
      gcsRsa: { urls: 2_000, fn: (key: string, now: number) => signGcsUrl(gcsReq(gcsRsa, key, now)) },
      gcsRsaCached: { urls: 2_000, fn: (key: string, now: number) => gcs.sign(gcsReq(gcsRsa, key, now)) },
    };
    type Name = keyof typeof signers;
    const names = Object.keys(signers) as Name[];
    // Same work: the cached and uncached GCS forms sign the same URL.
    const now0 = Date.now();
    for (const [a, b] of [['gcsHmac', 'gcsHmacCached'], ['gcsRsa', 'gcsRsaCached']] as const) {
      const [ua, ub] = [signers[a].fn(keys[7] as string, now0), signers[b].fn(keys[7] as string, now0)];
      if (ua !== ub) throw new Error(`${a} and ${b} disagree:\n${ua}\n${ub}`);
    }
    for (const n of names) rate(signers[n].fn, signers[n].urls / 5, 150);
    const signRounds = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Name, number[]>;
    for (let r = 0; r < SIGN_ROUNDS; r++) {
      for (const n of names) signRounds[n].push(rate(signers[n].fn, signers[n].urls, SIGN_ROUND_MS));
      ctx.log(`signing round ${r + 1}: ${names.map((n) => `${n} ${fmt.int(signRounds[n].at(-1) ?? 0)}/s`).join(', ')}`);
    }
    const pure = Object.fromEntries(names.map((n) => [n, median(signRounds[n])])) as Record<Name, number>;

    // ---- 2. POST /v1/sign through the issuer's app ----
    const { store, access } = azureFixtures();
    const pod: PodIdentity = { namespace: NS, serviceAccount: 'worker', podName: 'worker-0', podUid: 'pod-uid', labels: {} };
    const authenticator: Authenticator = {
      authenticate: async (bearer) => {
        if (bearer !== TOKEN) throw new Error('unexpected token');
        return pod;
      },
    };
    const grants: GrantSource = {
      accesses: (ns) => (ns === NS ? [access] : []),
      store: (a) => (a.spec.storeRef.name === store.metadata.name ? store : undefined),
      storeCredentials: () => Promise.reject(new Error('azureBlob stores have no STS credentials')),
      signingKey: async () => ({ kind: 'azureAccountKey', accountKey: azure.accountKey }),
      namespaceLabels: () => ({}),
    };
    const app = createIssuerApp({
      authenticator,
      grants,
      sts: { assumeRole: () => Promise.reject(new Error('no STS in this benchmark')) },
      // As shipped (info): each request's log line is built; writing it is left out.
      logger: createLogger({ level: 'info', write: () => {} }),
      metrics: createIssuerMetrics(new Registry()),
    });
    const server = await startIssuerServer({ app, tls: undefined, host: '127.0.0.1', port: 0 });
    const worker = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE } });
    try {
      const round = async (batch: number, connections: number, durationMs: number): Promise<HttpRound> => {
        const before = performance.eventLoopUtilization();
        const o = await clientRound(worker, { port: server.port, batch, connections, durationMs });
        const elu = performance.eventLoopUtilization(before);
        if (o.non2xx + o.errors > 0) throw new Error(`POST /v1/sign with ${batch} keys: ${o.non2xx} non-200 answers, ${o.errors} errors; first answer: ${o.first.slice(0, 300)}`);
        return { ...o, batch, urlsPerSecond: (o.requests * batch) / (o.elapsedMs / 1000), busyUsPerRequest: (elu.active / Math.max(1, o.requests)) * 1000 };
      };
      // Same work: the issuer's URL is the one signBlobSas gives for the same second.
      const check = await round(3, 1, 1);
      const answer = JSON.parse(check.first) as { expiresAt: string; expiresInSeconds: number; urls: { key: string; url: string }[] };
      const signedAt = Date.parse(answer.expiresAt) - answer.expiresInSeconds * 1000;
      if (answer.expiresInSeconds !== EXPIRES || answer.urls.length !== 3 || answer.urls[2]?.url !== azureSas(keys[2] as string, signedAt)) {
        throw new Error(`the issuer's URL differs from signBlobSas's:\nissuer ${answer.urls[2]?.url}\npure   ${azureSas(keys[2] as string, signedAt)}`);
      }
      for (const b of BATCHES) await round(b, CONNECTIONS, 300);
      const httpRounds = Object.fromEntries(BATCHES.map((b) => [b, [] as HttpRound[]])) as Record<(typeof BATCHES)[number], HttpRound[]>;
      for (let r = 0; r < HTTP_ROUNDS; r++) {
        const order = [...BATCHES.slice(r % BATCHES.length), ...BATCHES.slice(0, r % BATCHES.length)];
        for (const b of order) httpRounds[b].push(await round(b, CONNECTIONS, ROUND_MS));
        ctx.log(`POST /v1/sign round ${r + 1}: ${BATCHES.map((b) => `${b} keys ${fmt.int(httpRounds[b].at(-1)?.urlsPerSecond ?? 0)} URLs/s`).join(', ')}`);
      }
      const single = await round(1, 1, ROUND_MS);
      const singleBig = await round(1000, 1, ROUND_MS);
      ctx.log(`one at a time: 1 key p50 ${fmt.ms(percentile(single.latencies, 50))}, 1,000 keys p50 ${fmt.ms(percentile(singleBig.latencies, 50))}`);

      const urls = (b: (typeof BATCHES)[number]) => median(httpRounds[b].map((h) => h.urlsPerSecond));
      const busy = (b: (typeof BATCHES)[number]) => median(httpRounds[b].map((h) => h.busyUsPerRequest));
      const [u1, u100, u1000] = [urls(1), urls(100), urls(1000)];
      const p50One = percentile(single.latencies, 50);
      const azureUs = 1e6 / pure.azure;
      const overheadUs = busy(1) - azureUs;
      const vsS3 = (n: Name, goal: number | undefined, label: string) => ({
        metric: `${label}, URLs/s vs s3 presigner`,
        valet: fmt.int(pure[n]),
        comparison: fmt.int(pure.s3),
        ratio: fmt.x(pure[n] / pure.s3),
        goal: goal === undefined ? '≥ 500/s' : `≥ ${goal}×`,
        met: goal === undefined ? pure[n] >= 500 : pure[n] / pure.s3 >= goal,
      });
      const strip = (h: HttpRound) => ({
        batch: h.batch,
        requests: h.requests,
        urlsPerSecond: Math.round(h.urlsPerSecond),
        busyUsPerRequest: Math.round(h.busyUsPerRequest),
        p50Ms: percentile(h.latencies, 50),
        p99Ms: percentile(h.latencies, 99),
        responseBytesPerRequest: Math.round(h.bytes / Math.max(1, h.requests)),
      });
      return {
        rows: [
          vsS3('azure', 0.5, 'Azure SAS'),
          vsS3('gcsHmac', 0.5, 'GCS HMAC (signGcsUrl, as the issuer calls it)'),
          vsS3('gcsHmacCached', 0.5, 'GCS HMAC (createGcsSigner)'),
          vsS3('gcsRsa', undefined, 'GCS RSA-2048 (signGcsUrl, as the issuer calls it)'),
          vsS3('gcsRsaCached', undefined, 'GCS RSA-2048 (createGcsSigner)'),
          { metric: 'POST /v1/sign 1,000 keys, URLs/s vs pure Azure', valet: fmt.int(u1000), comparison: fmt.int(pure.azure), ratio: fmt.x(u1000 / pure.azure), goal: '≥ 0.5×', met: u1000 / pure.azure >= 0.5 },
          { metric: 'POST /v1/sign 100 keys, URLs/s vs pure Azure', valet: fmt.int(u100), comparison: fmt.int(pure.azure), ratio: fmt.x(u100 / pure.azure), goal: '', met: undefined },
          { metric: 'POST /v1/sign URLs/s, 1,000 keys vs 1 key', valet: fmt.int(u1000), comparison: fmt.int(u1), ratio: fmt.x(u1000 / u1), goal: '', met: undefined },
          { metric: 'POST /v1/sign 1 key, p50 (one at a time)', valet: fmt.ms(p50One), comparison: '', ratio: '', goal: '< 2 ms', met: p50One < 2 },
          { metric: 'server busy µs/request, 1 key vs one SAS', valet: busy(1).toFixed(0), comparison: azureUs.toFixed(1), ratio: fmt.x(busy(1) / azureUs), goal: '', met: undefined },
        ],
        details: {
          connections: CONNECTIONS,
          roundMs: ROUND_MS,
          authenticator: 'fake (no TokenReview, no pod read)',
          urlsPerSecond: { pure, post: { 1: u1, 100: u100, 1000: u1000 } },
          microsecondsPerUrl: Object.fromEntries(names.map((n) => [n, 1e6 / pure[n]])),
          serverBusyMicrosecondsPerRequest: { 1: busy(1), 100: busy(100), 1000: busy(1000) },
          requestOverheadMicroseconds: overheadUs,
          oneAtATime: { oneKey: strip(single), thousandKeys: strip(singleBig) },
          signRounds,
          httpRounds: Object.fromEntries(BATCHES.map((b) => [b, httpRounds[b].map(strip)])),
        },
        notes: [
          `per request, beyond signing: ~${fmt.int(overheadUs)} µs of the issuer's thread (1-key requests), against ${azureUs.toFixed(1)} µs per Azure SAS; a 1,000-key request takes ${fmt.ms(percentile(singleBig.latencies, 50))} p50 one at a time`,
        ],
      };
    } finally {
      await worker.terminate();
      await server.close();
    }
  },
};
