// How the loopback server answers: JSON bodies and errors, never cached, never sniffed.
import type { ServerResponse } from 'node:http';
import type { SidecarError } from './presign.ts';

export const NO_STORE = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

export function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...NO_STORE, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra }).end(text);
}

export const sendError = (res: ServerResponse, e: SidecarError, extra: Record<string, string> = {}): void => sendJson(res, e.status, { error: { code: e.code, message: e.message } }, extra);

/** Waits for backpressure to clear (or the client to go), leaving no listener behind either way. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
