/**
 * An LZFSE decoder written from the format of Apple's reference implementation: a stream of
 * blocks `bvx1`/`bvx2` (LZ77 triplets and literals entropy-coded with FSE), `bvxn` (LZVN),
 * `bvx-` (stored) and `bvx$` (end of stream). Output size is known up front (a DMG chunk's
 * sector count) and never exceeded.
 */
import { LzfseError, lzvnDecode } from './lzvn.js';

const MAGIC_END = 0x24787662; // bvx$
const MAGIC_RAW = 0x2d787662; // bvx-
const MAGIC_V1 = 0x31787662; // bvx1
const MAGIC_V2 = 0x32787662; // bvx2
const MAGIC_LZVN = 0x6e787662; // bvxn

const L_SYMBOLS = 20, M_SYMBOLS = 20, D_SYMBOLS = 64, LIT_SYMBOLS = 256;
const L_STATES = 64, M_STATES = 64, D_STATES = 256, LIT_STATES = 1024;
const MATCHES_PER_BLOCK = 10000;
const LITERALS_PER_BLOCK = 4 * MATCHES_PER_BLOCK;

const L_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 5, 8];
const L_BASE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 28, 60];
const M_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 8, 11];
const M_BASE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 56, 312];
const D_EXTRA: number[] = [];
const D_BASE: number[] = [];
// d extra bits: 0,0,0,0 then groups of four of 1..15; bases accumulate.
for (let i = 0, base = 0; i < D_SYMBOLS; i++) {
  const e = i < 4 ? 0 : (i >> 2);
  D_EXTRA.push(e);
  D_BASE.push(base);
  base += 1 << e;
}

const FREQ_NBITS = [2, 3, 2, 5, 2, 3, 2, 8, 2, 3, 2, 5, 2, 3, 2, 14, 2, 3, 2, 5, 2, 3, 2, 8, 2, 3, 2, 5, 2, 3, 2, 14];
const FREQ_VALUE = [0, 2, 1, 4, 0, 3, 1, -1, 0, 2, 1, 5, 0, 3, 1, -1, 0, 2, 1, 6, 0, 3, 1, -1, 0, 2, 1, 7, 0, 3, 1, -1];

/** A backwards FSE bit stream over `buf[start, end)`, modelled as one little-endian integer read from the top. */
class BackBits {
  /** Bit position (from `start`) of the next bit above the unread ones. */
  pos: number;
  constructor(private readonly buf: Uint8Array, private readonly start: number, end: number, extraBits: number) {
    if (extraBits > 0 || extraBits < -7) throw new LzfseError(`bad FSE stream bit count ${extraBits}`);
    this.pos = (end - start) * 8 + extraBits;
    if (this.pos < 0) throw new LzfseError('FSE stream too short');
    // The padding bits above the stream must be zero.
    if (extraBits < 0) {
      const top = buf[end - 1]!;
      if (top >> (8 + extraBits) !== 0) throw new LzfseError('FSE stream padding is not zero');
    }
  }
  /** Take the `n` (<= 24) bits just below the current position. */
  pull(n: number): number {
    if (n === 0) return 0;
    const p = this.pos - n;
    if (p < 0) throw new LzfseError('FSE stream overrun');
    this.pos = p;
    const b = this.start + (p >>> 3);
    const buf = this.buf;
    const v = (buf[b]! | ((buf[b + 1] ?? 0) << 8) | ((buf[b + 2] ?? 0) << 16) | ((buf[b + 3] ?? 0) << 24)) >>> 0;
    return (v >>> (p & 7)) & ((1 << n) - 1);
  }
}

interface ValueTable {
  totalBits: Uint8Array;
  valueBits: Uint8Array;
  delta: Int32Array;
  vbase: Int32Array;
}

function clz32(x: number): number {
  return Math.clz32(x);
}

function checkFreq(freq: Uint16Array, nstates: number, what: string): void {
  let sum = 0;
  for (const f of freq) sum += f;
  if (sum > nstates) throw new LzfseError(`${what} frequencies sum to ${sum} > ${nstates}`);
}

function literalTable(freq: Uint16Array): { symbol: Uint8Array; k: Uint8Array; delta: Int32Array } {
  const n = LIT_STATES;
  const symbol = new Uint8Array(n), k = new Uint8Array(n), delta = new Int32Array(n);
  const nclz = clz32(n);
  let t = 0;
  for (let i = 0; i < LIT_SYMBOLS; i++) {
    const f = freq[i]!;
    if (!f) continue;
    const kk = clz32(f) - nclz;
    const j0 = ((2 * n) >> kk) - f;
    for (let j = 0; j < f; j++, t++) {
      symbol[t] = i;
      if (j < j0) {
        k[t] = kk;
        delta[t] = ((f + j) << kk) - n;
      } else {
        k[t] = kk - 1;
        delta[t] = (j - j0) << (kk - 1);
      }
    }
  }
  return { symbol, k, delta };
}

function valueTable(nstates: number, freq: Uint16Array, extra: number[], base: number[]): ValueTable {
  const totalBits = new Uint8Array(nstates), valueBits = new Uint8Array(nstates);
  const delta = new Int32Array(nstates), vbase = new Int32Array(nstates);
  const nclz = clz32(nstates);
  let t = 0;
  for (let i = 0; i < freq.length; i++) {
    const f = freq[i]!;
    if (!f) continue;
    const k = clz32(f) - nclz;
    const j0 = ((2 * nstates) >> k) - f;
    for (let j = 0; j < f; j++, t++) {
      valueBits[t] = extra[i]!;
      vbase[t] = base[i]!;
      if (j < j0) {
        totalBits[t] = k + extra[i]!;
        delta[t] = ((f + j) << k) - nstates;
      } else {
        totalBits[t] = k - 1 + extra[i]!;
        delta[t] = (j - j0) << (k - 1);
      }
    }
  }
  return { totalBits, valueBits, delta, vbase };
}

interface BlockHeader {
  nRawBytes: number;
  nLiterals: number;
  nMatches: number;
  nLiteralPayloadBytes: number;
  nLmdPayloadBytes: number;
  literalBits: number;
  literalState: number[];
  lmdBits: number;
  lState: number;
  mState: number;
  dState: number;
  lFreq: Uint16Array;
  mFreq: Uint16Array;
  dFreq: Uint16Array;
  litFreq: Uint16Array;
  headerSize: number;
}

function readV1(src: Uint8Array, at: number, dv: DataView): BlockHeader {
  const need = 770;
  if (at + need > src.length) throw new LzfseError('truncated bvx1 header');
  const u32 = (o: number) => dv.getUint32(at + o, true);
  const u16 = (o: number) => dv.getUint16(at + o, true);
  const h: BlockHeader = {
    nRawBytes: u32(4),
    nLiterals: u32(12),
    nMatches: u32(16),
    nLiteralPayloadBytes: u32(20),
    nLmdPayloadBytes: u32(24),
    literalBits: dv.getInt32(at + 28, true),
    literalState: [u16(32), u16(34), u16(36), u16(38)],
    lmdBits: dv.getInt32(at + 40, true),
    lState: u16(44),
    mState: u16(46),
    dState: u16(48),
    lFreq: new Uint16Array(L_SYMBOLS),
    mFreq: new Uint16Array(M_SYMBOLS),
    dFreq: new Uint16Array(D_SYMBOLS),
    litFreq: new Uint16Array(LIT_SYMBOLS),
    headerSize: need,
  };
  let o = 50;
  for (const arr of [h.lFreq, h.mFreq, h.dFreq, h.litFreq]) for (let i = 0; i < arr.length; i++, o += 2) arr[i] = u16(o);
  return h;
}

function readV2(src: Uint8Array, at: number, dv: DataView): BlockHeader {
  if (at + 32 > src.length) throw new LzfseError('truncated bvx2 header');
  const f0 = dv.getBigUint64(at + 8, true), f1 = dv.getBigUint64(at + 16, true), f2 = dv.getBigUint64(at + 24, true);
  const get = (v: bigint, lsb: number, w: number) => Number((v >> BigInt(lsb)) & ((1n << BigInt(w)) - 1n));
  const headerSize = get(f2, 0, 32);
  if (headerSize < 32 || at + headerSize > src.length) throw new LzfseError(`bad bvx2 header size ${headerSize}`);
  const h: BlockHeader = {
    nRawBytes: dv.getUint32(at + 4, true),
    nLiterals: get(f0, 0, 20),
    nLiteralPayloadBytes: get(f0, 20, 20),
    nMatches: get(f0, 40, 20),
    literalBits: get(f0, 60, 3) - 7,
    literalState: [get(f1, 0, 10), get(f1, 10, 10), get(f1, 20, 10), get(f1, 30, 10)],
    nLmdPayloadBytes: get(f1, 40, 20),
    lmdBits: get(f1, 60, 3) - 7,
    lState: get(f2, 32, 10),
    mState: get(f2, 42, 10),
    dState: get(f2, 52, 10),
    lFreq: new Uint16Array(L_SYMBOLS),
    mFreq: new Uint16Array(M_SYMBOLS),
    dFreq: new Uint16Array(D_SYMBOLS),
    litFreq: new Uint16Array(LIT_SYMBOLS),
    headerSize,
  };
  // Frequency tables: a fixed prefix code, LSB first, until the end of the header.
  let p = at + 32;
  const end = at + headerSize;
  let accum = 0, nbits = 0;
  if (headerSize > 32) {
    for (const arr of [h.lFreq, h.mFreq, h.dFreq, h.litFreq]) {
      for (let i = 0; i < arr.length; i++) {
        while (p < end && nbits + 8 <= 32) {
          accum = (accum | (src[p]! << nbits)) >>> 0;
          nbits += 8;
          p++;
        }
        const b = accum & 31;
        const n = FREQ_NBITS[b]!;
        let v: number;
        if (n === 8) v = 8 + ((accum >>> 4) & 0xf);
        else if (n === 14) v = 24 + ((accum >>> 4) & 0x3ff);
        else v = FREQ_VALUE[b]!;
        if (n > nbits) throw new LzfseError('bvx2 frequency table overruns its header');
        arr[i] = v;
        accum >>>= n;
        nbits -= n;
      }
    }
    if (nbits >= 8 || p !== end) throw new LzfseError('bvx2 frequency table does not fill its header');
  }
  return h;
}

function decodeFseBlock(src: Uint8Array, at: number, h: BlockHeader, out: Uint8Array, outPos: number): [number, number] {
  if (h.nLiterals > LITERALS_PER_BLOCK || h.nMatches > MATCHES_PER_BLOCK) throw new LzfseError('bvx block counts too large');
  for (const s of h.literalState) if (s >= LIT_STATES) throw new LzfseError('bad literal state');
  if (h.lState >= L_STATES || h.mState >= M_STATES || h.dState >= D_STATES) throw new LzfseError('bad L/M/D state');
  checkFreq(h.lFreq, L_STATES, 'L');
  checkFreq(h.mFreq, M_STATES, 'M');
  checkFreq(h.dFreq, D_STATES, 'D');
  checkFreq(h.litFreq, LIT_STATES, 'literal');
  if (outPos + h.nRawBytes > out.length) throw new LzfseError('block decodes past the expected output size');

  const litStart = at + h.headerSize;
  const litEnd = litStart + h.nLiteralPayloadBytes;
  const lmdEnd = litEnd + h.nLmdPayloadBytes;
  if (lmdEnd > src.length) throw new LzfseError('block payload runs past the input');

  // Literals: four interleaved FSE states.
  const lt = literalTable(h.litFreq);
  const literals = new Uint8Array(h.nLiterals + 4);
  {
    const bits = new BackBits(src, litStart, litEnd, h.literalBits);
    const st = h.literalState.slice();
    for (let i = 0; i < h.nLiterals; i += 4) {
      for (let j = 0; j < 4; j++) {
        const s = st[j]!;
        literals[i + j] = lt.symbol[s]!;
        st[j] = lt.delta[s]! + bits.pull(lt.k[s]!);
      }
    }
  }

  const lT = valueTable(L_STATES, h.lFreq, L_EXTRA, L_BASE);
  const mT = valueTable(M_STATES, h.mFreq, M_EXTRA, M_BASE);
  const dT = valueTable(D_STATES, h.dFreq, D_EXTRA, D_BASE);
  const bits = new BackBits(src, litEnd, lmdEnd, h.lmdBits);
  let ls = h.lState, ms = h.mState, ds = h.dState;
  const value = (t: ValueTable, s: number): [number, number] => {
    const sv = bits.pull(t.totalBits[s]!);
    const vb = t.valueBits[s]!;
    return [t.delta[s]! + (sv >>> vb), t.vbase[s]! + (sv & ((1 << vb) - 1))];
  };
  let D = -1;
  let lit = 0;
  let o = outPos;
  const blockEnd = outPos + h.nRawBytes;
  for (let n = h.nMatches; n > 0; n--) {
    let L: number, M: number, nd: number;
    [ls, L] = value(lT, ls);
    [ms, M] = value(mT, ms);
    [ds, nd] = value(dT, ds);
    if (ls >= L_STATES || ms >= M_STATES || ds >= D_STATES || ls < 0 || ms < 0 || ds < 0) throw new LzfseError('FSE state out of range');
    if (nd) D = nd;
    if (lit + L > h.nLiterals) throw new LzfseError('literal run past the block literals');
    if (o + L + M > blockEnd) throw new LzfseError('match runs past the block');
    out.set(literals.subarray(lit, lit + L), o);
    lit += L;
    o += L;
    if (M) {
      if (D <= 0 || D > o) throw new LzfseError(`bad match distance ${D}`);
      if (D >= M) out.copyWithin(o, o - D, o - D + M);
      else for (let i = 0; i < M; i++) out[o + i] = out[o + i - D]!;
      o += M;
    }
  }
  if (o !== blockEnd) throw new LzfseError(`block produced ${o - outPos} bytes, header says ${h.nRawBytes}`);
  return [lmdEnd, o];
}

/** Decode an LZFSE stream into exactly `outSize` bytes (throws LzfseError on anything else). */
export function lzfseDecode(src: Uint8Array, outSize: number): Uint8Array {
  const out = new Uint8Array(outSize);
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  let p = 0, o = 0;
  for (;;) {
    if (p + 4 > src.length) throw new LzfseError('LZFSE stream ends without bvx$');
    const magic = dv.getUint32(p, true);
    if (magic === MAGIC_END) {
      p += 4;
      break;
    }
    if (p + 8 > src.length) throw new LzfseError('truncated block header');
    const nRaw = dv.getUint32(p + 4, true);
    if (o + nRaw > outSize) throw new LzfseError(`block of ${nRaw} bytes decodes past the expected ${outSize}`);
    if (magic === MAGIC_RAW) {
      if (p + 8 + nRaw > src.length) throw new LzfseError('truncated bvx- block');
      out.set(src.subarray(p + 8, p + 8 + nRaw), o);
      o += nRaw;
      p += 8 + nRaw;
    } else if (magic === MAGIC_LZVN) {
      if (p + 12 > src.length) throw new LzfseError('truncated bvxn header');
      const nPayload = dv.getUint32(p + 8, true);
      const end = p + 12 + nPayload;
      if (end > src.length) throw new LzfseError('truncated bvxn block');
      const got = lzvnDecode(src, p + 12, end, out, o, o + nRaw);
      if (got !== o + nRaw) throw new LzfseError(`bvxn block produced ${got - o} bytes, header says ${nRaw}`);
      o = got;
      p = end;
    } else if (magic === MAGIC_V1 || magic === MAGIC_V2) {
      const h = magic === MAGIC_V1 ? readV1(src, p, dv) : readV2(src, p, dv);
      [p, o] = decodeFseBlock(src, p, h, out, o);
    } else {
      throw new LzfseError(`unknown block magic 0x${magic.toString(16)} at ${p}`);
    }
  }
  if (o !== outSize) throw new LzfseError(`stream decoded to ${o} bytes, expected ${outSize}`);
  return out;
}
