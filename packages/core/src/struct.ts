import { CorruptImageError } from './errors.js';

/** A 64-bit field from binary-parser (bigint) as a number, refusing values past 2^53. */
export function u64(v: bigint | number, structure: string, offset: number): number {
  if (typeof v === 'number') return v;
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CorruptImageError(structure, offset, 'a 64-bit value below 2^53', `0x${v.toString(16)}`);
  }
  return Number(v);
}

/** Little helpers for hand-written encoders (the mirror of each binary-parser decoder). */
export class ByteWriter {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(size: number | Uint8Array) {
    this.bytes = typeof size === 'number' ? new Uint8Array(size) : size;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
  u8(off: number, v: number): this { this.view.setUint8(off, v); return this; }
  u16be(off: number, v: number): this { this.view.setUint16(off, v); return this; }
  u16le(off: number, v: number): this { this.view.setUint16(off, v, true); return this; }
  u32be(off: number, v: number): this { this.view.setUint32(off, v >>> 0); return this; }
  u32le(off: number, v: number): this { this.view.setUint32(off, v >>> 0, true); return this; }
  u64be(off: number, v: number | bigint): this { this.view.setBigUint64(off, BigInt(v)); return this; }
  u64le(off: number, v: number | bigint): this { this.view.setBigUint64(off, BigInt(v), true); return this; }
  /** Both-endian 16-bit (ISO9660): little then big. */
  u16both(off: number, v: number): this { return this.u16le(off, v).u16be(off + 2, v); }
  u32both(off: number, v: number): this { return this.u32le(off, v).u32be(off + 4, v); }
  bytesAt(off: number, b: Uint8Array): this { this.bytes.set(b, off); return this; }
  ascii(off: number, s: string, len = s.length, pad = 0): this {
    for (let i = 0; i < len; i++) this.bytes[off + i] = i < s.length ? s.charCodeAt(i) & 0xff : pad;
    return this;
  }
}

/** Read a fixed-width ASCII field, stopping at NUL. */
export function ascii(b: Uint8Array, off = 0, len = b.length - off): string {
  let s = '';
  for (let i = off; i < off + len && i < b.length; i++) {
    if (b[i] === 0) break;
    s += String.fromCharCode(b[i]!);
  }
  return s;
}

/** A 16-byte GUID in Microsoft mixed-endian layout as text. */
export function guidToString(b: Uint8Array, off = 0): string {
  const h = (i: number) => b[off + i]!.toString(16).padStart(2, '0');
  return (
    h(3) + h(2) + h(1) + h(0) + '-' + h(5) + h(4) + '-' + h(7) + h(6) + '-' + h(8) + h(9) + '-' +
    h(10) + h(11) + h(12) + h(13) + h(14) + h(15)
  ).toUpperCase();
}

export function guidToBytes(s: string): Uint8Array {
  const hex = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a GUID: ${s}`);
  const x = (i: number) => parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  const out = new Uint8Array(16);
  order.forEach((src, dst) => (out[dst] = x(src)));
  return out;
}

export function isZeroGuid(b: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 16; i++) if (b[off + i] !== 0) return false;
  return true;
}

/** A random RFC 4122 v4 GUID as text (uses Web Crypto, present in Node 20 and browsers). */
export function randomGuid(): string {
  return globalThis.crypto.randomUUID().toUpperCase();
}
