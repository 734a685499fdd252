/** The Node side: sockets as Wires, a server on TCP, a unix socket or an inherited fd (socket activation). */
import { createServer, type Server, type Socket } from 'node:net';
import { serveConnection } from './session.js';
import type { NbdExport } from './export.js';
import type { Wire } from './wire.js';

/** Input buffered past this pauses the socket until the session catches up. */
const HIGH_WATER = 8 << 20;

export class SocketWire implements Wire {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private waiter?: () => void;
  private drained?: Promise<void>;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.buffered += b.length;
      if (this.buffered > HIGH_WATER) socket.pause();
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async need(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false;
      this.socket.resume();
      await new Promise<void>((r) => (this.waiter = r));
    }
    return true;
  }

  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    if (this.buffered <= HIGH_WATER) this.socket.resume();
    return out;
  }

  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.need(n))) return null;
    return this.take(n);
  }

  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const k = Math.min(n, HIGH_WATER);
      if (!(await this.need(k))) return false;
      this.take(k);
      n -= k;
    }
    return true;
  }

  write(...parts: Uint8Array[]): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(new Error('connection closed'));
    let ok = true;
    // Corked, a reply's header and payload leave in one writev.
    if (parts.length > 1) this.socket.cork();
    for (const p of parts) ok = this.socket.write(p);
    if (parts.length > 1) this.socket.uncork();
    if (ok && !this.drained) return Promise.resolve();
    // Every writer waiting on a full socket shares one wait for 'drain'.
    this.drained ??= new Promise<void>((resolve, reject) => {
      const done = () => {
        this.socket.off('close', fail);
        this.drained = undefined;
        resolve();
      };
      const fail = () => {
        this.socket.off('drain', done);
        this.drained = undefined;
        reject(new Error('connection closed'));
      };
      this.socket.once('drain', done);
      this.socket.once('close', fail);
    });
    return this.drained;
  }

  close(): void {
    this.socket.end();
    this.socket.destroySoon?.();
  }
}

export type ListenOn = { host: string; port: number } | { path: string } | { fd: number };

export interface NbdServer {
  server: Server;
  /** `nbd://host:port/name` or `nbd+unix:///name?socket=…`; empty for an inherited fd. */
  uri: string;
  close(): Promise<void>;
}

/** Serve `exports` until closed; every connection is independent, a failing client affects only itself. */
export async function listenNbd(exports: NbdExport[], on: ListenOn, onError?: (e: unknown) => void): Promise<NbdServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ pauseOnConnect: false }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    void serveConnection(new SocketWire(socket), exports, onError);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('fd' in on) server.listen({ fd: on.fd }, resolve);
    else if ('path' in on) server.listen(on.path, resolve);
    else server.listen(on.port, on.host, resolve);
  });
  const name = encodeURIComponent(exports[0]?.name ?? '');
  let uri = '';
  if ('path' in on) uri = `nbd+unix:///${name}?socket=${on.path}`;
  else if ('port' in on) {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : on.port;
    uri = `nbd://${on.host.includes(':') ? `[${on.host}]` : on.host}:${port}/${name}`;
  }
  return {
    server,
    uri,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The listening fd handed over by systemd-style socket activation (LISTEN_FDS/LISTEN_PID), if any. */
export function activationFd(env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (env.LISTEN_PID !== String(process.pid) || !env.LISTEN_FDS || Number(env.LISTEN_FDS) < 1) return undefined;
  return 3;
}
