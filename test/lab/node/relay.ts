// The lab node's only doors to the rest of the lab. The node runs in its own network namespace, with
// no route out of it; the kube-apiserver and MinIO listen on the host's loopback. A pair of relays
// joins them through Unix sockets in the lab folder (a file, so it crosses network namespaces while
// no packet does):
//
//   node netns: TCP <node IP>:<port>  ──►  <lab>/node/sock/<port>.sock  ──►  host: TCP 127.0.0.1:<port>
//
// and the kube-apiserver's "cluster" egress (webhooks, kubelet logs and exec) goes the other way,
// through an HTTP CONNECT proxy that listens on a Unix socket and dials inside the node's namespace.
//
//   node relay.ts tcp:10.201.0.2:6443=unix:/x/6443.sock unix:/x/6443.sock=tcp:127.0.0.1:6443 connect:/x/egress.sock
//
// Each argument is `listen=target`, or `connect:<unix path>` for the CONNECT proxy. It runs until
// SIGTERM. Not Valet code: lab plumbing only.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

type Address = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

function parseAddress(s: string): Address {
  if (s.startsWith('unix:')) return { kind: 'unix', path: s.slice(5) };
  const m = /^tcp:(.+):(\d+)$/.exec(s);
  if (!m?.[1] || !m[2]) throw new Error(`relay: bad address ${s} (want tcp:HOST:PORT or unix:PATH)`);
  return { kind: 'tcp', host: m[1], port: Number(m[2]) };
}

function dial(a: Address): Socket {
  return a.kind === 'tcp' ? createConnection({ host: a.host, port: a.port }) : createConnection({ path: a.path });
}

function join(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

function listen(server: Server, a: Address): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (a.kind === 'unix') {
      rmSync(a.path, { force: true });
      server.listen(a.path, () => resolve());
    } else {
      server.listen(a.port, a.host, () => resolve());
    }
  });
}

function forward(listenOn: Address, target: Address): Server {
  return createServer((client) => join(client, dial(target)));
}

/** HTTP CONNECT: read the request head, dial host:port from here, answer 200, then splice. */
function connectProxy(): Server {
  return createServer((client) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16_384) client.destroy();
        return;
      }
      client.off('data', onData);
      const line = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const m = /^CONNECT ([^\s:]+|\[[^\]]+\]):(\d+) HTTP\/1\.[01]$/.exec(line);
      if (!m?.[1] || !m[2]) {
        client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        return;
      }
      process.stdout.write(`relay: CONNECT ${m[1]}:${m[2]}\n`);
      const upstream = createConnection({ host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) });
      upstream.once('connect', () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        const rest = head.subarray(end + 4);
        if (rest.length > 0) upstream.write(rest);
        join(client, upstream);
      });
      upstream.once('error', (err) => {
        if (!client.destroyed) client.end(`HTTP/1.1 502 Bad Gateway\r\n\r\n${err.message}`);
      });
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  });
}

async function main(argv: string[]): Promise<void> {
  const servers: Server[] = [];
  for (const arg of argv) {
    if (arg.startsWith('connect:')) {
      const at: Address = { kind: 'unix', path: arg.slice('connect:'.length) };
      const s = connectProxy();
      await listen(s, at);
      servers.push(s);
      continue;
    }
    const [from, to] = arg.split('=');
    if (!from || !to) throw new Error(`relay: bad argument ${arg} (want LISTEN=TARGET or connect:PATH)`);
    const listenOn = parseAddress(from);
    const s = forward(listenOn, parseAddress(to));
    await listen(s, listenOn);
    servers.push(s);
  }
  process.stdout.write(`relay: ready (${argv.join(' ')})\n`);
  const stop = () => {
    for (const s of servers) s.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`relay: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
