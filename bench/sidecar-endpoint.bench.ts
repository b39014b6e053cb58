// 2. The sidecar's credential endpoint under keep-alive load: GET /v1/credentials on the real
// loopback server (startSidecar, in this process, with an injected key source so no issuer is
// involved: the figure is the endpoint alone), against a bare node:http server answering the same
// JSON with the same headers. The load comes from a worker thread over raw keep-alive sockets
// (bench/lib/load.ts), so client and server each have a core. The two servers are loaded in
// back-to-back pairs, the order alternating to cancel drift; the ratio is the median of the
// paired ratios (the machine is shared: absolute figures move, pairs move together). The servers
// run on this thread, so its event-loop utilization gives each one's busy time per request.
// Goals: at least 0.9 of the bare server's requests/s (issue #17); p99 under 2 ms.
// Alone: node bench/run.ts sidecar-endpoint
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parseSidecarConfig } from '../src/config/sidecar.ts';
import { createLogger } from '../src/platform/logger.ts';
import { startSidecar } from '../src/sidecar/sidecar.ts';
import type { KeySource } from '../src/sidecar/issuer-client.ts';
import { load } from './lib/load.ts';
import type { LoadSummary } from './lib/load.ts';
import { fmt } from './lib/report.ts';
import type { Benchmark } from './lib/report.ts';
import { median } from './lib/stats.ts';

const CONNECTIONS = 10;
const ROUND_MS = 1500;
const PAIRS = 6;

interface Round extends LoadSummary {
  /** Microseconds the server's event loop (this thread) was busy per request. */
  busyUsPerRequest: number;
}

/** A key as the issuer would send it: one access, 15 minutes. */
const source: KeySource = {
  fetchKeys: async () => ({
    kind: 'ok',
    keys: [
      {
        access: 'imagenet',
        bucket: 'datasets',
        prefix: 'imagenet/',
        verbs: ['read', 'list'],
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9000',
        expiresInSeconds: 900,
        credentials: {
          AccessKeyId: 'ASIAEXAMPLEEXAMPLE00',
          SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
          SessionToken: 'x'.repeat(600),
          Expiration: new Date(Date.now() + 900_000).toISOString(),
        },
      },
    ],
  }),
};

export const sidecarEndpoint: Benchmark = {
  name: 'sidecar-endpoint',
  title: "The sidecar's credential endpoint under keep-alive load",
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'valet-bench-'));
    const config = parseSidecarConfig([
      '--issuer-url=https://issuer.invalid',
      `--auth-token-file=${join(dir, 'auth-token')}`,
      '--port=0',
      '--metrics-address=127.0.0.1:0',
      '--accesses=imagenet',
    ]);
    const sidecar = await startSidecar(config, { logger: createLogger({ level: 'warn' }), registry: new Registry(), source });
    const headers = { authorization: sidecar.authToken };
    // The bare server: the same body and headers, the body serialized per request (the sidecar
    // serializes once per key and second of Expiration; JSON.stringify of this body is ~1 µs).
    const first = await fetch(`http://127.0.0.1:${sidecar.port}/v1/credentials`, { headers });
    if (first.status !== 200) throw new Error(`the sidecar answered ${first.status}`);
    const body = (await first.json()) as Record<string, string>;
    const bare = createServer((_req, res) => {
      const text = JSON.stringify(body);
      res.writeHead(200, { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    });
    bare.keepAliveTimeout = 5000;
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    const barePort = (bare.address() as AddressInfo).port;
    try {
      const run = async (port: number, ms: number): Promise<Round> => {
        const before = performance.eventLoopUtilization();
        const s = await load({ port, path: '/v1/credentials', headers, connections: CONNECTIONS, durationMs: ms });
        const elu = performance.eventLoopUtilization(before);
        return { ...s, busyUsPerRequest: (elu.active / Math.max(1, s.requests)) * 1000 };
      };
      await run(barePort, 500);
      await run(sidecar.port, 500);
      const rounds = { valet: [] as Round[], bare: [] as Round[] };
      for (let r = 0; r < PAIRS; r++) {
        if (r % 2 === 0) {
          rounds.bare.push(await run(barePort, ROUND_MS));
          rounds.valet.push(await run(sidecar.port, ROUND_MS));
        } else {
          rounds.valet.push(await run(sidecar.port, ROUND_MS));
          rounds.bare.push(await run(barePort, ROUND_MS));
        }
        const [b, v] = [rounds.bare.at(-1), rounds.valet.at(-1)];
        ctx.log(`pair ${r + 1}: sidecar ${fmt.int(v?.rps ?? 0)} req/s p99 ${fmt.ms(v?.p99Ms ?? 0)}; bare ${fmt.int(b?.rps ?? 0)} req/s p99 ${fmt.ms(b?.p99Ms ?? 0)}`);
      }
      const bad = [...rounds.valet, ...rounds.bare].reduce((n, s) => n + s.non2xx + s.errors, 0);
      if (bad > 0) throw new Error(`${bad} requests failed under load`);
      const vr = median(rounds.valet.map((s) => s.rps));
      const br = median(rounds.bare.map((s) => s.rps));
      const ratio = median(rounds.valet.map((v, i) => v.rps / (rounds.bare[i]?.rps ?? NaN)));
      const vp = median(rounds.valet.map((s) => s.p99Ms));
      const bp = median(rounds.bare.map((s) => s.p99Ms));
      const vBusy = median(rounds.valet.map((s) => s.busyUsPerRequest));
      const bBusy = median(rounds.bare.map((s) => s.busyUsPerRequest));
      const strip = (r: Round) => ({ rps: Math.round(r.rps), p50Ms: r.p50Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, requests: r.requests, busyUsPerRequest: r.busyUsPerRequest });
      return {
        rows: [
          { metric: `req/s (${CONNECTIONS} keep-alive conns)`, valet: fmt.int(vr), comparison: fmt.int(br), ratio: fmt.x(ratio), goal: '≥ 0.9×', met: ratio >= 0.9 },
          { metric: 'p99 latency', valet: fmt.ms(vp), comparison: fmt.ms(bp), ratio: fmt.x(vp / bp), goal: '< 2 ms', met: vp < 2 },
          { metric: 'server busy µs/request', valet: (vBusy).toFixed(1), comparison: (bBusy).toFixed(1), ratio: fmt.x(vBusy / bBusy), goal: '', met: undefined },
        ],
        details: {
          connections: CONNECTIONS,
          roundMs: ROUND_MS,
          keySource: 'injected (no issuer)',
          requestsPerSecond: { valet: vr, bare: br, medianPairedRatio: ratio },
          p99Ms: { valet: vp, bare: bp },
          busyMicrosecondsPerRequest: { valet: vBusy, bare: bBusy },
          rounds: { valet: rounds.valet.map(strip), bare: rounds.bare.map(strip) },
        },
        notes: [],
      };
    } finally {
      await sidecar.close();
      await new Promise<void>((r) => {
        bare.close(() => r());
        bare.closeAllConnections();
      });
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
