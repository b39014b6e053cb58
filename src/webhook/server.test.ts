// Limits before work in the webhook's HTTP adapter: a flood of large or slow reviews is refused
// with 429 before its body is read, and the budget comes back when they end.
import { createServer, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { WEBHOOK_DEFAULTS } from '../config/webhook.ts';
import type { AccessLookup } from '../injection/index.ts';
import { createWebhookMetrics } from '../metrics/webhook.ts';
import { memoryLogger } from '../platform/logger.ts';
import { createAuthority, issueCertificate } from '../tls/pki.ts';
import { createWebhookHandler, startWebhookServer } from './server.ts';
import type { WebhookHandlerDeps } from './server.ts';

const lookup: AccessLookup = { accesses: () => [], store: () => undefined };
const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function start(limits: Partial<WebhookHandlerDeps>): Promise<{ port: number; registry: Registry }> {
  const registry = new Registry();
  const settings = { ...WEBHOOK_DEFAULTS.injection, image: 'valet:test', issuerUrl: 'https://issuer.valet-system.svc:8443' };
  const server = createServer(createWebhookHandler({ settings, lookup, logger: memoryLogger(), metrics: createWebhookMetrics(registry), ...limits }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, registry };
}

/** A review that announces `length` bytes and sends `sent` of them, then holds the connection. */
function holding(port: number, length: number, sent: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      sock.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
      sock.write(' '.repeat(sent));
    });
    sockets.push(sock);
    let got = '';
    sock.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.includes('\r\n\r\n')) resolve(got);
    });
    sock.on('error', reject);
    // Still waiting: resolve with nothing once the server has surely had its chance to answer.
    setTimeout(() => resolve(got), 300);
  });
}

function review(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ml', object: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } } } });
    const req = request({ port, host: '127.0.0.1', path: '/mutate', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the webhook, flooded', () => {
  it('answers 429 with Retry-After, unread, once the buffered-bytes budget is spoken for; a normal review is served again when those end', async () => {
    const { port, registry } = await start({ maxBufferedBytes: 1_000_000, maxBodyBytes: 600_000 });
    expect(await holding(port, 500_000, 1000)).toBe(''); // admitted: it reserves 500 kB and waits
    const refused = await holding(port, 600_000, 0);
    expect(refused).toMatch(/^HTTP\/1\.1 429 /);
    expect(refused.toLowerCase()).toContain('retry-after: 1');
    expect(refused.toLowerCase()).toContain('connection: close');
    // A real review is small and still fits beside the one waiting.
    expect(await review(port)).toBe(200);
    // Once the waiting one ends, its reservation is back: the large one is admitted now.
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await holding(port, 600_000, 1000)).toBe('');
    expect(await registry.getSingleMetricAsString('valet_webhook_admissions_total')).toMatch(/result="Overloaded"\} 1/);
  });

  it('answers 429 beyond the concurrency cap, whatever the sizes', async () => {
    // Slow clients that send a few bytes of a small body each hold a slot, not memory.
    const { port } = await start({ maxConcurrent: 2 });
    expect(await holding(port, 100, 10)).toBe('');
    expect(await holding(port, 100, 10)).toBe('');
    expect(await holding(port, 100, 10)).toMatch(/^HTTP\/1\.1 429 /);
  });
});

describe('the webhook with --webhook-client-ca-file', () => {
  it('completes the TLS handshake only for a client certificate its CA signed: a stranger gets no answer at all', async () => {
    const serverCa = await createAuthority('webhook-serving-ca');
    const serving = await issueCertificate(serverCa, { commonName: 'valet', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const clientCa = await createAuthority('apiserver-client-ca');
    const apiserver = await issueCertificate(clientCa, { commonName: 'kube-apiserver', usage: 'client' });
    const otherCa = await createAuthority('someone-else');
    const stranger = await issueCertificate(otherCa, { commonName: 'stranger', usage: 'client' });
    const settings = { ...WEBHOOK_DEFAULTS.injection, image: 'valet:test', issuerUrl: 'https://issuer.valet-system.svc:8443' };
    const server = await startWebhookServer({ settings, lookup, logger: memoryLogger(), tls: { certPem: serving.certPem, keyPem: serving.privateKeyPem }, clientCaPem: clientCa.certPem, host: '127.0.0.1', port: 0 });
    const get = (client?: { certPem: string; privateKeyPem: string }) =>
      new Promise<number | string>((resolve) => {
        const req = httpsRequest({ host: '127.0.0.1', port: server.port, path: '/healthz', ca: serverCa.certPem, ...(client ? { cert: client.certPem, key: client.privateKeyPem } : {}) }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end();
      });
    try {
      expect(await get(apiserver)).toBe(200);
      expect(typeof (await get())).toBe('string');
      expect(typeof (await get(stranger))).toBe('string');
    } finally {
      await server.close();
    }
  });
});
