// Limits before work (issue #16), against `valet operator` as shipped, a real process whose memory
// the kernel reports: 600 hostile connections to the webhook, each announcing a 4 MiB review and
// sending as much of it as the server takes, and 600 to the issuer, each announcing a body under a
// bearer token the API server refuses. Before the limits, about 120 such webhook connections held
// 512 MiB (each buffered up to 4 MiB) and the issuer read every body before it authenticated the
// caller. Now the replica's memory stays bounded, the excess is answered 429 (webhook) or 401
// (issuer) without its body being read, and a real AdmissionReview and a real key request are
// served while the hostile connections are still open.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocatePorts, type ServerProcess } from '../lab/process.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { startWorld, waitFor, type World } from '../lab/world.ts';

const NS = 'team-a';
const HOSTILE = 600;
const MiB = 1024 * 1024;

let w: World;
let operator: ServerProcess;
let agent: Agent;
let ports: { issuer: number; webhook: number; metrics: number };
let podUid: string;
let ca: string;
const hostile: TLSSocket[] = [];

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

function call(port: number, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers }, timeout: 30_000 }, (res) => {
      let out = '';
      res.on('data', (c: Buffer) => (out += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: out }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const review = () =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'legit-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: NS, object: { metadata: { name: 'trainer-1', labels: { 'valet.dev/inject': 'true' } }, spec: { serviceAccountName: 'trainer', containers: [{ name: 'app', image: 'example.invalid/app:1' }] } } },
  });

/**
 * Opens a hostile connection: the headers of a request announcing `length` bytes, then as much of
 * the body as the server reads, in 256 KiB chunks, never the last byte. Resolves with the status
 * line the server answered with, 'dropped' when it closed the connection without an answer (over
 * its connection bound), or '' when it is still reading (admitted).
 */
function flood(port: number, head: string, length: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    hostile.push(sock);
    let answer = '';
    let sent = 0;
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const pump = () => {
      while (sent + chunk.length < length && !sock.destroyed) {
        sent += chunk.length;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
    };
    const statusLine = () => answer.split('\r\n')[0] ?? '';
    sock.once('secureConnect', () => {
      sock.write(`${head}Content-Length: ${length}\r\n\r\n`);
      // The body only after a pause: a server that refuses on the headers has answered by then, and
      // its answer is not lost to a reset caused by bytes it never read.
      setTimeout(() => answer === '' && pump(), 2000);
    });
    // Admitted connections are still reading after this long; refused ones have their answer.
    setTimeout(() => resolve(statusLine()), 15_000);
    sock.on('data', (c: Buffer) => {
      answer += c.toString();
      if (answer.includes('\r\n')) resolve(statusLine());
    });
    sock.on('close', () => resolve(answer ? statusLine() : 'dropped'));
    sock.on('error', () => undefined);
  });
}

beforeAll(async () => {
  // The tenant, its store and access, and the world's serving certificate (localhost, 127.0.0.1);
  // the operator is this suite's own process, whose memory the kernel reports.
  w = await startWorld({ ns: NS, store: { allowedPrefixes: ['imagenet/'], allowedVerbs: ['read', 'list'] }, operator: false });
  podUid = (await w.podToken('trainer-0')).uid;
  await w.createAccess('imagenet', {});
  ca = w.tls.caPem;
  agent = new Agent({ ca, keepAlive: false });
  ports = await allocatePorts(['issuer', 'webhook', 'metrics'] as const);
  operator = w.startOperatorProcess({ ports, identity: 'limits', extraArgs: ['--sidecar-image=valet:test', '--sidecar-issuer-url=https://valet.valet-system.svc:8443'] });
  await waitFor('the issuer to serve a key', async () => (await call(ports.issuer, '/v1/keys', '', { authorization: `Bearer ${await w.lab.token(NS, 'trainer', { boundPod: { name: 'trainer-0', uid: podUid }, audience: 'valet.dev' })}` }).catch(() => ({ status: 0 }))).status === 200, 60_000);
  await waitFor('the webhook to answer', async () => (await call(ports.webhook, '/mutate', review(), { 'content-type': 'application/json' }).catch(() => ({ status: 0 }))).status === 200, 60_000);
});
afterAll(async () => {
  for (const s of hostile) s.destroy();
  agent?.destroy();
  await w?.stop();
});
useLabLogs(() => w);

describe(`${HOSTILE} hostile connections to each listener of one operator replica`, () => {
  it('keep its memory bounded, get 429 (webhook) or 401 (issuer) unread, and leave a real review and a real key request served', async () => {
    const pid = operator.pid;
    const before = rssOf(pid);
    const peak = { rss: before };
    const sampler = setInterval(() => (peak.rss = Math.max(peak.rss, rssOf(pid))), 50);
    try {
      const webhookHead = `POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n`;
      const issuerHead = `POST /v1/keys HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer not-a-token-${'x'.repeat(40)}\r\nContent-Type: application/json\r\n`;
      const answers = await Promise.all([
        ...Array.from({ length: HOSTILE }, () => flood(ports.webhook, webhookHead, 4 * MiB)),
        ...Array.from({ length: HOSTILE }, () => flood(ports.issuer, issuerHead, 16_000)),
      ]);
      const webhook = answers.slice(0, HOSTILE);
      const issuer = answers.slice(HOSTILE);
      const count = (xs: string[]) => xs.reduce<Record<string, number>>((m, a) => ((m[a || 'still reading'] = (m[a || 'still reading'] ?? 0) + 1), m), {});
      // While all of them are still open: the legitimate requests.
      const legitReview = await call(ports.webhook, '/mutate', review(), { 'content-type': 'application/json' });
      const token = await w.lab.token(NS, 'trainer', { boundPod: { name: 'trainer-0', uid: podUid }, audience: 'valet.dev' });
      const legitKey = await call(ports.issuer, '/v1/keys', '', { authorization: `Bearer ${token}` });
      const grown = peak.rss - before;
      process.stdout.write(`resource limits: webhook ${JSON.stringify(count(webhook))}; issuer ${JSON.stringify(count(issuer))}; RSS ${Math.round(before / MiB)} MiB before, peak +${Math.round(grown / MiB)} MiB\n`);

      // At most 16 MiB of large bodies fit the webhook's budget: 4 of 4 MiB; every other is refused
      // unread (429), or dropped at once beyond its 512 connections.
      expect(webhook.filter((a) => a === '').length).toBeLessThanOrEqual(4);
      expect(webhook.filter((a) => a.startsWith('HTTP/1.1 429 ') || a === 'dropped').length).toBeGreaterThanOrEqual(HOSTILE - 4);
      expect(webhook.filter((a) => a.startsWith('HTTP/1.1 429 ')).length).toBeGreaterThan(0);
      // The issuer authenticates first: every bad bearer is a 401, none of its bodies read.
      expect(issuer.filter((a) => a.startsWith('HTTP/1.1 401 ')).length).toBe(HOSTILE);
      expect(legitReview.status).toBe(200);
      expect(JSON.parse(legitReview.body).response).toMatchObject({ uid: 'legit-1', allowed: true });
      expect(legitKey.status, legitKey.body).toBe(200);
      // 600 × 4 MiB would be 2.4 GiB; what the budgets allow, plus TLS buffers, stays far below.
      expect(grown).toBeLessThan(160 * MiB);
    } finally {
      clearInterval(sampler);
    }
  }, 180_000);

  it('serves normally once they are gone', async () => {
    for (const s of hostile.splice(0)) s.destroy();
    const r = await waitFor('the webhook to admit a review again', async () => {
      const x = await call(ports.webhook, '/mutate', review(), { 'content-type': 'application/json' });
      return x.status === 200 ? x : undefined;
    });
    expect(r.status).toBe(200);
  });
});
