/** The header every APFS object starts with (obj_phys_t) and its Fletcher-64 checksum. */
import { CorruptImageError, TruncatedImageError, type BlockDevice } from '@diskit/core';

export const OBJ_HEADER = 32;

// o_type: low 16 bits are the type, the top bits are storage flags.
export const OBJECT_TYPE_MASK = 0x0000ffff;
export const OBJ_STORAGETYPE_MASK = 0xc0000000;
export const OBJ_VIRTUAL = 0x00000000;
export const OBJ_EPHEMERAL = 0x80000000;
export const OBJ_PHYSICAL = 0x40000000;
export const OBJ_ENCRYPTED = 0x10000000;

export const T_NX_SUPERBLOCK = 0x01;
export const T_BTREE = 0x02;
export const T_BTREE_NODE = 0x03;
export const T_OMAP = 0x0b;
export const T_CHECKPOINT_MAP = 0x0c;
export const T_FS = 0x0d;
export const T_FSTREE = 0x0e;
export const T_SNAPMETATREE = 0x10;
export const T_OMAP_SNAPSHOT = 0x13;

export interface ObjHeader {
  cksum: bigint;
  oid: number;
  xid: number;
  type: number;
  flags: number;
  subtype: number;
}

/** A u64 as a number: APFS ids, block numbers and sizes stay below 2^53 in any real container. */
export function u64(dv: DataView, at: number, what = 'value', where = 0): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  if (hi >= 0x200000) throw new CorruptImageError(what, where + at, 'a 64-bit value below 2^53', `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`);
  return hi * 0x100000000 + lo;
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function parseObjHeader(b: Uint8Array, where = 0): ObjHeader {
  const dv = view(b);
  const t = dv.getUint32(24, true);
  return {
    cksum: dv.getBigUint64(0, true),
    oid: u64(dv, 8, 'object id', where),
    xid: u64(dv, 16, 'transaction id', where),
    type: t & OBJECT_TYPE_MASK,
    flags: (t & ~OBJECT_TYPE_MASK) >>> 0,
    subtype: dv.getUint32(28, true) & OBJECT_TYPE_MASK,
  };
}

const MOD = 0xffffffff;

/** Fletcher-64 over 32-bit little-endian words of `b` from byte 8 (the checksum field is left out). */
export function fletcher64(b: Uint8Array): bigint {
  const dv = view(b);
  const words = (b.length - 8) >>> 2;
  let s1 = 0, s2 = 0;
  // Sums stay exact in doubles for 1,024 words between reductions (s2 < 2^53).
  for (let i = 0; i < words; ) {
    const end = Math.min(words, i + 1024);
    for (; i < end; i++) {
      s1 += dv.getUint32(8 + i * 4, true);
      s2 += s1;
    }
    s1 %= MOD;
    s2 %= MOD;
  }
  const c1 = MOD - ((s1 + s2) % MOD);
  const c2 = MOD - ((s1 + c1) % MOD);
  return (BigInt(c2) << 32n) | BigInt(c1);
}

/** Whether a block's stored checksum matches its contents (an all-zero block never does). */
export function checksumOk(b: Uint8Array): boolean {
  const stored = view(b).getBigUint64(0, true);
  return stored !== 0n && stored === fletcher64(b);
}

/** Write the checksum into a block (for tests and fixtures). */
export function sealObject(b: Uint8Array): Uint8Array {
  view(b).setBigUint64(0, fletcher64(b), true);
  return b;
}

export interface ReadObjectOptions {
  /** Expected o_type (low 16 bits). */
  type?: number;
  /** Expected o_subtype. */
  subtype?: number;
  /** Expected o_oid (a physical object's is its address; a virtual one's the id that was looked up). */
  oid?: number;
  /** The object must not be newer than this transaction. */
  maxXid?: number;
  /** Block 0 is allowed (only the container superblock lives there). */
  blockZero?: boolean;
}

/** Read and verify one object block at block `paddr`: checksum, type, id, transaction. */
export async function readObject(dev: BlockDevice, blockSize: number, paddr: number, what: string, opts: ReadObjectOptions = {}): Promise<{ bytes: Uint8Array; hdr: ObjHeader }> {
  const offset = paddr * blockSize;
  if (paddr === 0 && !opts.blockZero) throw new CorruptImageError(what, 0, 'a non-zero block address', '0');
  if (!Number.isSafeInteger(offset) || offset + blockSize > dev.size) throw new TruncatedImageError(what, offset, blockSize, dev.size);
  const bytes = new Uint8Array(blockSize);
  await dev.read(bytes, offset);
  return { bytes, hdr: verifyObject(bytes, offset, what, opts) };
}

/** Check an object block read from `offset`: checksum, type, id, transaction. */
export function verifyObject(bytes: Uint8Array, offset: number, what: string, opts: ReadObjectOptions = {}): ObjHeader {
  const stored = view(bytes).getBigUint64(0, true);
  const sum = fletcher64(bytes);
  if (stored !== sum || stored === 0n) {
    throw new CorruptImageError(what, offset, `Fletcher-64 checksum 0x${sum.toString(16)}`, `0x${stored.toString(16)}`);
  }
  const hdr = parseObjHeader(bytes, offset);
  if (opts.type !== undefined && hdr.type !== opts.type) throw new CorruptImageError(what, offset, `object type 0x${opts.type.toString(16)}`, `0x${hdr.type.toString(16)}`);
  if (opts.subtype !== undefined && hdr.subtype !== opts.subtype) throw new CorruptImageError(what, offset, `object subtype 0x${opts.subtype.toString(16)}`, `0x${hdr.subtype.toString(16)}`);
  if (opts.oid !== undefined && hdr.oid !== opts.oid) throw new CorruptImageError(what, offset, `object id ${opts.oid}`, String(hdr.oid));
  if (opts.maxXid !== undefined && hdr.xid > opts.maxXid) throw new CorruptImageError(what, offset, `a transaction id ≤ ${opts.maxXid}`, String(hdr.xid));
  return hdr;
}
