/** The byte stream a session talks over: exact reads, ordered writes. Node sockets adapt to it in node.ts. */
export interface Wire {
  /** The next `n` bytes, or `null` if the peer closed first. */
  read(n: number): Promise<Uint8Array | null>;
  /** Discard the next `n` bytes (false if the peer closed first). */
  skip(n: number): Promise<boolean>;
  /**
   * Queue bytes for sending, all parts back to back (no other reply lands between them); resolves
   * once the transport has taken them (backpressure).
   */
  write(...parts: Uint8Array[]): Promise<void>;
  close(): void;
}

/** Little helper for building big-endian messages. */
export class Out {
  private parts: Uint8Array[] = [];
  private scratch = new DataView(new ArrayBuffer(8));
  u16(v: number): this {
    this.scratch.setUint16(0, v);
    return this.push(new Uint8Array(this.scratch.buffer.slice(0, 2)));
  }
  u32(v: number): this {
    this.scratch.setUint32(0, v >>> 0);
    return this.push(new Uint8Array(this.scratch.buffer.slice(0, 4)));
  }
  u64(v: number | bigint): this {
    this.scratch.setBigUint64(0, BigInt(v));
    return this.push(new Uint8Array(this.scratch.buffer.slice(0, 8)));
  }
  str(s: string): this {
    return this.push(new TextEncoder().encode(s));
  }
  push(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
