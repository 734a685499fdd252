/** A minimal NBD client for tests: raw bytes on a socket, so tests can also send what a real client never would. */
import { connect, type Socket } from 'node:net';
import { Out } from '../wire.js';
import { SocketWire } from '../node.js';
import { IHAVEOPT, OPT, REQUEST_MAGIC, CMD } from '../protocol.js';

export class TestClient {
  readonly wire: SocketWire;
  private constructor(readonly socket: Socket) {
    this.wire = new SocketWire(socket);
  }

  static async open(path: string): Promise<TestClient> {
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new TestClient(socket);
  }

  async u32(): Promise<number> {
    const b = await this.wire.read(4);
    if (!b) throw new Error('closed');
    return new DataView(b.buffer, b.byteOffset).getUint32(0);
  }

  /** Greeting in, client flags (fixed newstyle + no zeroes) out. */
  async greet(): Promise<void> {
    const g = await this.wire.read(18);
    if (!g) throw new Error('no greeting');
    await this.wire.write(new Out().u32(3).bytes());
  }

  async option(opt: number, data: Uint8Array = new Uint8Array(0)): Promise<void> {
    await this.wire.write(new Out().u64(IHAVEOPT).u32(opt).u32(data.length).push(data).bytes());
  }

  /** One option reply: its type and data. */
  async reply(): Promise<{ opt: number; type: number; data: Uint8Array }> {
    const h = await this.wire.read(20);
    if (!h) throw new Error('closed');
    const v = new DataView(h.buffer, h.byteOffset);
    const len = v.getUint32(16);
    const data = (await this.wire.read(len))!;
    return { opt: v.getUint32(8), type: v.getUint32(12), data };
  }

  /** GO to the export and return its size; replies other than INFO/ACK throw. */
  async go(name = ''): Promise<number> {
    const n = new TextEncoder().encode(name);
    await this.option(OPT.GO, new Out().u32(n.length).push(n).u16(0).bytes());
    let size = -1;
    for (;;) {
      const r = await this.reply();
      if (r.type === 1) return size;
      if (r.type !== 3) throw new Error(`GO answered ${r.type.toString(16)}`);
      const v = new DataView(r.data.buffer, r.data.byteOffset);
      if (v.getUint16(0) === 0) size = Number(v.getBigUint64(2));
    }
  }

  async request(type: number, offset: number, length: number, handle = 1n, payload?: Uint8Array, flags = 0): Promise<void> {
    const out = new Out().u32(REQUEST_MAGIC).u16(flags).u16(type).u64(handle).u64(offset).u32(length);
    await this.wire.write(out.bytes(), ...(payload ? [payload] : []));
  }

  /** A simple reply: errno and, for a successful read of `length`, the bytes. */
  async simpleReply(length = 0): Promise<{ errno: number; handle: bigint; data?: Uint8Array }> {
    const h = await this.wire.read(16);
    if (!h) throw new Error('closed');
    const v = new DataView(h.buffer, h.byteOffset);
    const errno = v.getUint32(4);
    const handle = v.getBigUint64(8);
    const data = errno === 0 && length > 0 ? (await this.wire.read(length))! : undefined;
    return { errno, handle, data };
  }

  async read(offset: number, length: number, handle = 1n): Promise<Uint8Array> {
    await this.request(CMD.READ, offset, length, handle);
    const r = await this.simpleReply(length);
    if (r.errno) throw new Error(`errno ${r.errno}`);
    return r.data!;
  }

  close(): void {
    this.socket.destroy();
  }
}
