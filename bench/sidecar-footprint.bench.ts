// 6. Sidecar footprint: `valet sidecar` as a child process, as the webhook would run it (a bound
// token file, the issuer's CA file, one access), against the real issuer in `valet operator`.
// Between the two sits a pass-through (TLS, this process) that notes when the issuer's answer goes
// back, so "ready after the issuer answers" is the time from that answer to /readyz = 200 (polled
// every 5 ms). Also spawn → ready, and resident memory (VmRSS) idle and under keep-alive load on
// /v1/credentials. The comparison is a bare Node process serving one route with node:http: the
// floor of any Node sidecar. Three starts each; medians. Then once more (experiment) with a warm
// Node compile cache (NODE_COMPILE_CACHE, filled beforehand by `valet sidecar --help`, as an image
// build step could do): the cache holds the type-stripped sources, so Node's type stripper is
// never loaded (docs/performance.md §6).
// Goals: ready under 1 s after the issuer answers; idle RSS under 70 MB.
// Alone: node bench/run.ts sidecar-footprint
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cleanEnv } from '../test/lab/index.ts';
import { allocatePorts, runCaptured, startProcess } from '../test/lab/process.ts';
import type { ServerProcess } from '../test/lab/process.ts';
import type { Cluster } from './lib/cluster.ts';
import { accessBody, cluster, createPods, G, get, NS, root, SA, waitReadyAccess } from './lib/cluster.ts';
import { load } from './lib/load.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { median, rssSplitOf, sampleRss, sleep } from './lib/stats.ts';

const STARTS = 3;
const IDLE_MS = 3000;
const LOAD_MS = 3000;
const READY_GOAL_MS = 1000;
const IDLE_GOAL = 70 * 1024 * 1024;

interface Gate {
  url: string;
  answers: number[];
  close(): Promise<void>;
}

/** HTTPS pass-through to the issuer that notes when each 200 answer is sent back. */
async function gate(c: Cluster, issuerUrl: string): Promise<Gate> {
  const answers: number[] = [];
  const server = createServer({ cert: c.serving.certPem, key: c.serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const up = request(`${issuerUrl}${req.url}`, { method: req.method, headers: req.headers, ca: c.ca.certPem }, (r) => {
        const body: Buffer[] = [];
        r.on('data', (d: Buffer) => body.push(d));
        r.on('end', () => {
          res.writeHead(r.statusCode ?? 502, r.headers).end(Buffer.concat(body));
          if (r.statusCode === 200) answers.push(performance.now());
        });
      });
      up.on('error', () => res.writeHead(502).end());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answers,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function pollUntil200(url: string, proc: ServerProcess, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (proc.exited()) throw new Error(`${proc.name} exited before it was ready (log ${proc.log})`);
    try {
      if ((await get(url, {}, 1000)).status === 200) return performance.now();
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs / 1000}s`);
    await sleep(5);
  }
}

interface Footprint {
  spawnToReadyMs: number;
  readyAfterAnswerMs?: number;
  idleRss?: number;
  /** The idle RSS split: the process's own pages, and mapped-file pages (the shared node binary). */
  idleAnon?: number;
  idleFile?: number;
  loadedRss?: number;
  loadRps?: number;
}

/** Idle RSS after IDLE_MS, then peak RSS during LOAD_MS of keep-alive load on `port` + `path`. */
async function memory(pid: number, port: number, path: string, headers: Record<string, string>): Promise<Pick<Footprint, 'idleRss' | 'idleAnon' | 'idleFile' | 'loadedRss' | 'loadRps'>> {
  await sleep(IDLE_MS);
  const idle = await rssSplitOf(pid);
  const sampler = sampleRss(pid, 100);
  const s = await load({ port, path, headers, connections: 10, durationMs: LOAD_MS });
  const { peak } = await sampler.stop();
  if (s.non2xx + s.errors > 0) throw new Error(`${s.non2xx + s.errors} requests failed under load`);
  return { idleRss: idle.rss, idleAnon: idle.anon, idleFile: idle.file, loadedRss: peak, loadRps: s.rps };
}

const split = (f: Footprint | undefined) => (f?.idleRss === undefined ? '' : `, RSS idle ${fmt.mb(f.idleRss)} (own ${fmt.mb(f.idleAnon ?? NaN)} + files ${fmt.mb(f.idleFile ?? NaN)}), under load ${fmt.mb(f.loadedRss ?? NaN)}`);

export const sidecarFootprint: Benchmark = {
  name: 'sidecar-footprint',
  title: 'Sidecar footprint: start to ready, memory idle and under load',
  async run(ctx) {
    const c = await cluster(ctx.log);
    await c.custom.createNamespacedCustomObject({ ...G, namespace: NS, plural: 'datasetaccesses', body: accessBody('footprint', NS, 'lab') }).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
    const op = c.operator ?? (await c.startOperator());
    await waitReadyAccess(c, NS, 'footprint');
    const [pod] = await createPods(c.lab, NS, [`footprint-${Date.now()}`]);
    if (!pod) throw new Error('no pod');
    const tokenFile = join(c.dir, 'footprint-token');
    writeFileSync(tokenFile, await c.lab.token(NS, SA, { boundPod: pod, expirationSeconds: 3600 }));
    // The experiment's compile cache, filled the way an image build could: `valet sidecar --help`
    // imports every module a sidecar loads at start, and Node writes the cache at exit.
    const compileCache = join(c.dir, `compile-cache-${Date.now()}`);
    mkdirSync(compileCache, { recursive: true });
    const warm = await runCaptured(process.execPath, [join(root, 'src/cli/main.ts'), 'sidecar', '--help'], cleanEnv({ NODE_COMPILE_CACHE: compileCache }));
    if (warm.code !== 0) throw new Error(`valet sidecar --help failed: ${warm.stderr}`);
    const g = await gate(c, op.issuerUrl);
    const valet: Footprint[] = [];
    const cached: Footprint[] = [];
    const bare: Footprint[] = [];
    try {
      // The shipped entry point (src/cli/main.ts) STARTS times, then once (experiment) the same
      // with the warm compile cache.
      for (let i = 0; i <= STARTS; i++) {
        const experiment = i === STARTS;
        const ports = await allocatePorts(['port', 'metrics'] as const);
        const authFile = join(c.dir, `auth-token-${i}`);
        const answered = g.answers.length;
        const t0 = performance.now();
        const proc = startProcess({
          name: 'valet-sidecar',
          command: process.execPath,
          args: [
            join(root, 'src/cli/main.ts'),
            'sidecar',
            `--issuer-url=${g.url}`,
            `--issuer-ca-file=${c.caFile}`,
            `--token-file=${tokenFile}`,
            `--auth-token-file=${authFile}`,
            `--port=${ports.port}`,
            `--metrics-address=127.0.0.1:${ports.metrics}`,
            '--accesses=footprint',
          ],
          env: cleanEnv(experiment ? { NODE_COMPILE_CACHE: compileCache } : {}),
          log: join(c.lab.logsDir, `sidecar-${i}.log`),
        });
        try {
          const readyAt = await pollUntil200(`http://127.0.0.1:${ports.metrics}/readyz`, proc, 30_000);
          const answerAt = g.answers[answered];
          const f: Footprint = { spawnToReadyMs: readyAt - t0, ...(answerAt !== undefined ? { readyAfterAnswerMs: readyAt - answerAt } : {}) };
          if (i === 0 || experiment) Object.assign(f, await memory(proc.pid, ports.port, '/v1/credentials', { authorization: readFileSync(authFile, 'utf8') }));
          (experiment ? cached : valet).push(f);
          ctx.log(`sidecar ${i + 1}${experiment ? ' (warm compile cache)' : ''}: spawn→ready ${fmt.ms(f.spawnToReadyMs)}, answer→ready ${fmt.ms(f.readyAfterAnswerMs ?? NaN)}${split(f)}`);
        } finally {
          await proc.stop();
        }
      }
      for (let i = 0; i < STARTS; i++) {
        const [port = 0] = Object.values(await allocatePorts(['port'] as const));
        const t0 = performance.now();
        const proc = startProcess({
          name: 'bare-node',
          command: process.execPath,
          args: ['-e', `require('node:http').createServer((q, s) => s.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}')).listen(${port}, '127.0.0.1')`],
          env: cleanEnv(),
          log: join(c.lab.logsDir, `bare-node-${i}.log`),
        });
        try {
          const readyAt = await pollUntil200(`http://127.0.0.1:${port}/`, proc, 30_000);
          const f: Footprint = { spawnToReadyMs: readyAt - t0 };
          if (i === 0) Object.assign(f, await memory(proc.pid, port, '/', {}));
          bare.push(f);
          if (i === 0) ctx.log(`bare node: spawn→listening ${fmt.ms(f.spawnToReadyMs)}${split(f)}`);
        } finally {
          await proc.stop();
        }
      }
    } finally {
      await g.close();
    }
    const answerToReady = median(valet.flatMap((f) => (f.readyAfterAnswerMs === undefined ? [] : [f.readyAfterAnswerMs])));
    const vSpawn = median(valet.map((f) => f.spawnToReadyMs));
    const bSpawn = median(bare.map((f) => f.spawnToReadyMs));
    const [v0, b0, c0] = [valet[0] ?? { spawnToReadyMs: NaN }, bare[0] ?? { spawnToReadyMs: NaN }, cached[0] ?? { spawnToReadyMs: NaN }];
    const vIdle = v0.idleRss ?? NaN;
    const bIdle = b0.idleRss ?? NaN;
    const cIdle = c0.idleRss ?? NaN;
    return {
      rows: [
        { metric: 'ready after the issuer answers', valet: fmt.ms(answerToReady), comparison: '', ratio: '', goal: '< 1 s', met: answerToReady < READY_GOAL_MS },
        { metric: 'spawn → ready (bare: → listening)', valet: fmt.ms(vSpawn), comparison: fmt.ms(bSpawn), ratio: fmt.x(vSpawn / bSpawn), goal: '', met: undefined },
        { metric: 'RSS idle', valet: fmt.mb(vIdle), comparison: fmt.mb(bIdle), ratio: fmt.x(vIdle / bIdle), goal: '< 70 MB', met: vIdle < IDLE_GOAL },
        { metric: 'RSS under load (10 conns)', valet: fmt.mb(v0.loadedRss ?? NaN), comparison: fmt.mb(b0.loadedRss ?? NaN), ratio: fmt.x((v0.loadedRss ?? NaN) / (b0.loadedRss ?? NaN)), goal: '', met: undefined },
        { metric: 'experiment: warm compile cache, RSS idle', valet: fmt.mb(cIdle), comparison: `${fmt.mb(vIdle)} without`, ratio: fmt.x(cIdle / vIdle), goal: '< 70 MB', met: cIdle < IDLE_GOAL },
        { metric: 'experiment: warm compile cache, spawn → ready', valet: fmt.ms(c0.spawnToReadyMs), comparison: `${fmt.ms(vSpawn)} without`, ratio: fmt.x(c0.spawnToReadyMs / vSpawn), goal: '', met: undefined },
      ],
      details: { starts: STARTS, valet, compileCacheExperiment: cached, bare, issuer: 'valet operator (real TokenReview, MinIO STS) behind a timing pass-through' },
      notes: [
        `idle RSS split (own pages + mapped files, mostly the shared node binary): sidecar ${fmt.mb(v0.idleAnon ?? NaN)} + ${fmt.mb(v0.idleFile ?? NaN)}; with the warm compile cache ${fmt.mb(c0.idleAnon ?? NaN)} + ${fmt.mb(c0.idleFile ?? NaN)}; bare node ${fmt.mb(b0.idleAnon ?? NaN)} + ${fmt.mb(b0.idleFile ?? NaN)}`,
      ],
    };
  },
};
