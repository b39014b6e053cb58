// The load generator's worker thread: `connections` keep-alive TCP connections to 127.0.0.1, each
// sending one GET at a time (no pipelining) for `durationMs`, recording each request's latency.
// Raw sockets with a prebuilt request and a minimal response parser (status line and
// content-length), like autocannon, so the client costs far less CPU than the server under test.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadOptions {
  port: number;
  path: string;
  headers: Record<string, string>;
  connections: number;
  durationMs: number;
  /** Bound on recorded latencies. */
  maxSamples: number;
}

export interface LoadOutcome {
  requests: number;
  non2xx: number;
  errors: number;
  elapsedMs: number;
  /** Latencies in ms (up to maxSamples). */
  latencies: Float64Array;
}

const o = workerData as LoadOptions;
const request = Buffer.from(
  `GET ${o.path} HTTP/1.1\r\nhost: 127.0.0.1:${o.port}\r\n${Object.entries(o.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`,
);
const latencies = new Float64Array(o.maxSamples);
let recorded = 0;
let requests = 0;
let non2xx = 0;
let errors = 0;
const started = performance.now();
const endAt = started + o.durationMs;
let open = 0;

function run(done: () => void): void {
  const socket: Socket = connect({ host: '127.0.0.1', port: o.port, noDelay: true });
  open++;
  let buf: Buffer = Buffer.alloc(0);
  let sentAt = 0;
  const send = () => {
    if (performance.now() >= endAt) {
      socket.end();
      return;
    }
    sentAt = performance.now();
    socket.write(request);
  };
  socket.on('connect', send);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0) return;
      const headers = buf.subarray(0, head).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
      const length = m ? Number(m[1]) : 0;
      if (buf.length < head + 4 + length) return;
      const status = Number(headers.slice(9, 12));
      buf = buf.subarray(head + 4 + length);
      const now = performance.now();
      requests++;
      if (status < 200 || status > 299) non2xx++;
      if (recorded < latencies.length) latencies[recorded++] = now - sentAt;
      send();
    }
  });
  socket.on('error', () => {
    errors++;
  });
  socket.on('close', () => {
    open--;
    if (open === 0) done();
  });
}

for (let i = 0; i < o.connections; i++) run(() => {
  const outcome: LoadOutcome = { requests, non2xx, errors, elapsedMs: performance.now() - started, latencies: latencies.slice(0, recorded) };
  parentPort?.postMessage(outcome);
});
