/** A loopback HTTP server for tests: serves one buffer with Range support, and misbehaves on request. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RangeServerState {
  data: Uint8Array;
  etag: string;
  /** Answer ranges with 200 and the whole body. */
  ignoreRanges?: boolean;
  /** Cut this many responses off halfway through their bodies. */
  dropNext?: number;
  /** Answer this many requests with 503. */
  failNext?: number;
  /** Required header (name: value) or 401. */
  requireHeader?: [string, string];
  requests: number;
  ranges: string[];
}

export async function rangeServer(data: Uint8Array): Promise<{ url: string; state: RangeServerState; server: Server; close(): Promise<void> }> {
  const state: RangeServerState = { data, etag: '"v1"', requests: 0, ranges: [] };
  const server = createServer((req, res) => {
    // CORS, so a page on another origin (the inspector page in its tests) may read ranges.
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, ETag, Last-Modified');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Headers': 'Range, Authorization', 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    state.requests++;
    if (req.url === '/redirect') {
      res.writeHead(302, { Location: '/image' }).end();
      return;
    }
    if (state.requireHeader && req.headers[state.requireHeader[0].toLowerCase()] !== state.requireHeader[1]) {
      res.writeHead(401).end();
      return;
    }
    if (state.failNext && state.failNext > 0) {
      state.failNext--;
      res.writeHead(503).end();
      return;
    }
    const d = state.data;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m || state.ignoreRanges) {
      res.writeHead(200, { 'Content-Length': d.length, ETag: state.etag });
      res.end(d);
      return;
    }
    state.ranges.push(req.headers.range!);
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), d.length - 1);
    const body = d.subarray(start, end + 1);
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${d.length}`, 'Content-Length': body.length, ETag: state.etag, 'Accept-Ranges': 'bytes' });
    if (state.dropNext && state.dropNext > 0) {
      state.dropNext--;
      res.write(body.subarray(0, body.length >> 1));
      setTimeout(() => res.socket?.destroy(), 5);
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/image`,
    state,
    server,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
