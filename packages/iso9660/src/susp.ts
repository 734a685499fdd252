/** SUSP (System Use Sharing Protocol) and Rock Ridge (RRIP 1.09 / 1.12) entries: reading them (the builder's encoders are in build/susp-entries.ts). */

/** What the Rock Ridge entries of one directory record say. */
export interface RockRidge {
  mode?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  ino?: number;
  devMajor?: number;
  devMinor?: number;
  /** Alternate name from NM (complete), or '.'/'..' flags. */
  name?: string;
  nameFlags?: number;
  target?: string;
  mtime?: Date;
  atime?: Date;
  ctime?: Date;
  crtime?: Date;
  /** RE: this directory was relocated; its real entry is the CL elsewhere. */
  relocated?: boolean;
  /** CL: the block of the relocated directory this placeholder stands for. */
  childLink?: number;
  /** PL: the parent of a relocated directory. */
  parentLink?: number;
  /** ZF (zisofs). */
  zf?: { algorithm: string; headerSize: number; blockLog2: number; size: number };
  /** SP skip length (only in the root's '.'). */
  spSkip?: number;
  hasSp?: boolean;
  /** ER extension ids. */
  extensions?: string[];
  /** Any RR entry seen. */
  any?: boolean;
}

export interface SuspEntry {
  sig: string;
  version: number;
  data: Uint8Array;
}

/** Split a system use area into its entries; a CE is returned separately. */
export function splitSusp(area: Uint8Array): { entries: SuspEntry[]; ce?: { block: number; offset: number; length: number }; stopped: boolean } {
  const entries: SuspEntry[] = [];
  let ce: { block: number; offset: number; length: number } | undefined;
  let p = 0;
  let stopped = false;
  while (p + 4 <= area.length) {
    const len = area[p + 2]!;
    if (len < 4 || p + len > area.length) break;
    const sig = String.fromCharCode(area[p]!, area[p + 1]!);
    const data = area.subarray(p + 4, p + len);
    if (sig === 'CE' && len >= 28) {
      const v = new DataView(area.buffer, area.byteOffset + p, len);
      ce = { block: v.getUint32(4, true), offset: v.getUint32(12, true), length: v.getUint32(20, true) };
    } else if (sig === 'ST') {
      stopped = true;
      break;
    } else {
      entries.push({ sig, version: area[p + 3]!, data });
    }
    p += len;
  }
  return { entries, ce, stopped };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
export function decodeName(b: Uint8Array): string {
  if (b.length < 64) {
    let s = '';
    let ascii = true;
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      s += String.fromCharCode(c);
    }
    if (ascii) return s;
  }
  try {
    return utf8.decode(b);
  } catch {
    let s = '';
    for (const c of b) s += String.fromCharCode(c);
    return s;
  }
}

function both32(d: Uint8Array, off: number): number {
  return (d[off]! | (d[off + 1]! << 8) | (d[off + 2]! << 16) | (d[off + 3]! << 24)) >>> 0;
}

function tfDate(d: Uint8Array, off: number, long: boolean): Date | undefined {
  if (!long) {
    const y = d[off]!, mo = d[off + 1]!, dd = d[off + 2]!;
    if (y === 0 && mo === 0 && dd === 0) return undefined;
    if (mo < 1 || mo > 12 || dd < 1 || dd > 31) return undefined;
    const tz = (d[off + 6]! << 24) >> 24;
    return new Date(Date.UTC(1900 + y, mo - 1, dd, d[off + 3]!, d[off + 4]!, d[off + 5]!) - (tz >= -48 && tz <= 52 ? tz : 0) * 900_000);
  }
  let s = '';
  for (let i = 0; i < 16; i++) s += String.fromCharCode(d[off + i]!);
  if (!/^\d{16}$/.test(s) || /^0+$/.test(s)) return undefined;
  const tz = (d[off + 16]! << 24) >> 24;
  const n = (a: number, l: number) => Number(s.slice(a, a + l));
  return new Date(Date.UTC(n(0, 4), n(4, 2) - 1, n(6, 2), n(8, 2), n(10, 2), n(12, 2), n(14, 2) * 10) - (tz >= -48 && tz <= 52 ? tz : 0) * 900_000);
}

/**
 * Fold SUSP entries into Rock Ridge facts. NM and SL pieces are accumulated across entries (and
 * across continuation areas, since the caller feeds every area's entries in order).
 */
export class RockRidgeAccumulator {
  rr: RockRidge = {};
  private nm: Uint8Array[] = [];
  private nmDone = false;
  private sl: string[] = [];
  private slPartial = '';
  private slDone = false;
  private slStarted = false;
  private nmName: string | undefined;

  /**
   * Walk one system use area: the common entries (PX, TF, a single NM) are decoded in place,
   * the rest through add(). Returns the area's CE, and whether an ST ended it.
   */
  addArea(area: Uint8Array): { ce?: { block: number; offset: number; length: number }; stopped: boolean } {
    const rr = this.rr;
    let ce: { block: number; offset: number; length: number } | undefined;
    let p = 0;
    while (p + 4 <= area.length) {
      const len = area[p + 2]!;
      if (len < 4 || p + len > area.length) break;
      const a = area[p]!, b = area[p + 1]!;
      if (a === 0x50 && b === 0x58 && len >= 36) {
        rr.any = true;
        rr.mode = both32(area, p + 4);
        rr.nlink = both32(area, p + 12);
        rr.uid = both32(area, p + 20);
        rr.gid = both32(area, p + 28);
        if (len >= 44) rr.ino = both32(area, p + 36);
      } else if (a === 0x54 && b === 0x46 && len >= 5) {
        rr.any = true;
        const f = area[p + 4]!;
        const long = (f & 0x80) !== 0;
        const sz = long ? 17 : 7;
        let q = p + 5 + (f & 0x01 ? sz : 0);
        if (f & 0x02 && q + sz <= p + len) {
          const t = tfDate(area, q, long);
          if (t) rr.mtime = t;
          q += sz;
        }
      } else if (a === 0x4e && b === 0x4d && len >= 5 && area[p + 4] === 0 && !this.nmDone && this.nm.length === 0) {
        rr.any = true;
        this.nmName = decodeName(area.subarray(p + 5, p + len));
        this.nmDone = true;
      } else if (a === 0x43 && b === 0x45 && len >= 28) {
        ce = { block: both32(area, p + 4), offset: both32(area, p + 12), length: both32(area, p + 20) };
      } else if (a === 0x53 && b === 0x54) {
        return { ce, stopped: true };
      } else {
        this.add([{ sig: String.fromCharCode(a, b), version: area[p + 3]!, data: area.subarray(p + 4, p + len) }]);
      }
      p += len;
    }
    return { ce, stopped: false };
  }

  add(entries: SuspEntry[]): void {
    const rr = this.rr;
    for (const e of entries) {
      const d = e.data;
      switch (e.sig) {
        case 'SP':
          if (d.length >= 3 && d[0] === 0xbe && d[1] === 0xef) {
            rr.hasSp = true;
            rr.spSkip = d[2]!;
          }
          break;
        case 'ER': {
          if (d.length < 4) break;
          const lid = d[0]!;
          const id = decodeName(d.subarray(4, 4 + lid));
          (rr.extensions ??= []).push(id);
          break;
        }
        case 'RR':
          rr.any = true;
          break;
        case 'PX':
          if (d.length >= 32) {
            rr.any = true;
            rr.mode = both32(d, 0);
            rr.nlink = both32(d, 8);
            rr.uid = both32(d, 16);
            rr.gid = both32(d, 24);
            if (d.length >= 40) rr.ino = both32(d, 32);
          }
          break;
        case 'PN':
          if (d.length >= 16) {
            rr.any = true;
            rr.devMajor = both32(d, 0);
            rr.devMinor = both32(d, 8);
          }
          break;
        case 'NM':
          if (d.length >= 1 && !this.nmDone) {
            rr.any = true;
            const f = d[0]!;
            if (f & 0x06) {
              rr.nameFlags = f & 0x06;
              this.nmDone = true;
              break;
            }
            this.nm.push(d.subarray(1));
            if (!(f & 0x01)) this.nmDone = true;
          }
          break;
        case 'SL': {
          if (d.length < 1 || this.slDone) break;
          rr.any = true;
          this.slStarted = true;
          const flags = d[0]!;
          let p = 1;
          while (p + 2 <= d.length) {
            const cf = d[p]!;
            const cl = d[p + 1]!;
            if (p + 2 + cl > d.length) break;
            const content = d.subarray(p + 2, p + 2 + cl);
            let text: string;
            if (cf & 0x02) text = '.';
            else if (cf & 0x04) text = '..';
            else if (cf & 0x08) text = '';
            else text = decodeName(content);
            this.slPartial += text;
            if (cf & 0x08) {
              // root: the component list starts over at '/'
              this.sl = [];
              this.slPartial = '';
              this.sl.push('');
            } else if (!(cf & 0x01)) {
              this.sl.push(this.slPartial);
              this.slPartial = '';
            }
            p += 2 + cl;
          }
          if (!(flags & 0x01)) this.slDone = true;
          break;
        }
        case 'TF': {
          if (d.length < 1) break;
          rr.any = true;
          const f = d[0]!;
          const long = (f & 0x80) !== 0;
          const sz = long ? 17 : 7;
          let p = 1;
          const take = (bit: number): Date | undefined => {
            if (!(f & bit)) return undefined;
            if (p + sz > d.length) return undefined;
            const t = tfDate(d, p, long);
            p += sz;
            return t;
          };
          // Only the modification time is used; the others are skipped without decoding.
          if (f & 0x01) p += sz;
          const mt = take(0x02);
          if (mt) rr.mtime = mt;
          break;
        }
        case 'RE':
          rr.any = true;
          rr.relocated = true;
          break;
        case 'CL':
          if (d.length >= 8) {
            rr.any = true;
            rr.childLink = both32(d, 0);
          }
          break;
        case 'PL':
          if (d.length >= 8) rr.parentLink = both32(d, 0);
          break;
        case 'ZF':
          if (d.length >= 12) {
            rr.zf = { algorithm: String.fromCharCode(d[0]!, d[1]!), headerSize: d[2]!, blockLog2: d[3]!, size: both32(d, 4) };
          }
          break;
      }
    }
  }

  finish(): RockRidge {
    if (this.nmName !== undefined) this.rr.name = this.nmName;
    else if (this.nm.length) {
      let n = 0;
      for (const b of this.nm) n += b.length;
      const all = new Uint8Array(n);
      let p = 0;
      for (const b of this.nm) {
        all.set(b, p);
        p += b.length;
      }
      this.rr.name = decodeName(all);
    }
    if (this.slStarted) {
      const parts = this.slPartial ? [...this.sl, this.slPartial] : this.sl;
      if (parts.length === 1 && parts[0] === '') this.rr.target = '/';
      else this.rr.target = parts.join('/');
    }
    return this.rr;
  }
}
