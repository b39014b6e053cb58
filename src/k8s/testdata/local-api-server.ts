// A loopback HTTP server standing in for the API server in unit tests, and Valet's clients
// (createK8sClients over a PooledKubeConfig) pointed at it. Every request is recorded, its body read
// whole, before `answer` answers it.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createK8sClients, PooledKubeConfig } from '../clients.ts';
import type { K8sClients } from '../clients.ts';

export interface RecordedRequest {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface LocalApiServer {
  clients: K8sClients;
  /** Every request so far, oldest first (a test may empty it). */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startLocalApiServer(answer: (req: RecordedRequest, res: ServerResponse) => void): Promise<LocalApiServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const recorded = { method: req.method, url: req.url, headers: req.headers, body };
      requests.push(recorded);
      answer(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new PooledKubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return {
    clients: createK8sClients(kc),
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
