// How the loopback server answers: JSON bodies and errors, never cached, never sniffed.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { SidecarError } from './presign.ts';

export const NO_STORE = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

export function sendJson(res: ServerResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  sendJsonText(res, status, JSON.stringify(body), undefined, extra);
}

/** Sends JSON already serialized; `bytes` is its UTF-8 length when the caller knows it. */
export function sendJsonText(res: ServerResponse, status: number, text: string, bytes = Buffer.byteLength(text), extra?: Record<string, string>): void {
  // Written out, not spread from NO_STORE: this runs on every request (same headers, same order).
  const headers: OutgoingHttpHeaders = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-type': 'application/json', 'content-length': bytes };
  if (extra !== undefined) Object.assign(headers, extra);
  res.writeHead(status, headers).end(text);
}

export const sendError = (res: ServerResponse, e: SidecarError, extra?: Record<string, string>): void => sendJson(res, e.status, { error: { code: e.code, message: e.message } }, extra);

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
