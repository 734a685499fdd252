/** SUSP and Rock Ridge entries for the builder: SP, CE, PX, PN, TF, ER, NM, SL (the reader is ../susp.ts). */
import { ByteWriter } from '@diskit/core';

export function suspEntry(sig: string, data: Uint8Array, version = 1): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  out[0] = sig.charCodeAt(0);
  out[1] = sig.charCodeAt(1);
  out[2] = out.length;
  out[3] = version;
  out.set(data, 4);
  return out;
}

export function encodeSP(skip = 0): Uint8Array {
  return suspEntry('SP', Uint8Array.of(0xbe, 0xef, skip));
}

export function encodeCE(block: number, offset: number, length: number): Uint8Array {
  const w = new ByteWriter(24);
  w.u32both(0, block).u32both(8, offset).u32both(16, length);
  return suspEntry('CE', w.bytes);
}

export function encodePX(mode: number, nlink: number, uid: number, gid: number): Uint8Array {
  const w = new ByteWriter(32);
  w.u32both(0, mode).u32both(8, nlink).u32both(16, uid).u32both(24, gid);
  return suspEntry('PX', w.bytes);
}

export function encodePN(major: number, minor: number): Uint8Array {
  const w = new ByteWriter(16);
  w.u32both(0, major).u32both(8, minor);
  return suspEntry('PN', w.bytes);
}

/** TF with modify, access and attribute-change times (7-byte form). */
export function encodeTF(mtime: Uint8Array, atime: Uint8Array, ctime: Uint8Array): Uint8Array {
  const d = new Uint8Array(1 + 21);
  d[0] = 0x02 | 0x04 | 0x08;
  d.set(mtime, 1);
  d.set(atime, 8);
  d.set(ctime, 15);
  return suspEntry('TF', d);
}

export function encodeER(id: string, descriptor: string, source: string, version = 1): Uint8Array {
  const enc = new TextEncoder();
  const i = enc.encode(id), de = enc.encode(descriptor), s = enc.encode(source);
  const d = new Uint8Array(4 + i.length + de.length + s.length);
  d[0] = i.length;
  d[1] = de.length;
  d[2] = s.length;
  d[3] = version;
  d.set(i, 4);
  d.set(de, 4 + i.length);
  d.set(s, 4 + i.length + de.length);
  return suspEntry('ER', d);
}

/** NM entries for a name of any length (split with the CONTINUE flag). */
export function encodeNM(name: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const max = 250;
  for (let p = 0; p < name.length || out.length === 0; p += max) {
    const part = name.subarray(p, p + max);
    const more = p + max < name.length;
    const d = new Uint8Array(1 + part.length);
    d[0] = more ? 1 : 0;
    d.set(part, 1);
    out.push(suspEntry('NM', d));
  }
  return out;
}

/** SL entries for a symlink target (split into several with the CONTINUE flag when long). */
export function encodeSL(target: string): Uint8Array[] {
  const enc = new TextEncoder();
  // Components: flags + bytes. Long components are split with the component CONTINUE flag.
  const comps: { flags: number; bytes: Uint8Array }[] = [];
  let parts = target.split('/');
  if (target.startsWith('/')) {
    comps.push({ flags: 0x08, bytes: new Uint8Array(0) });
    parts = parts.slice(1);
  }
  parts.forEach((p, i) => {
    if (p === '' && i === parts.length - 1 && i > 0) return; // trailing slash
    if (p === '.') comps.push({ flags: 0x02, bytes: new Uint8Array(0) });
    else if (p === '..') comps.push({ flags: 0x04, bytes: new Uint8Array(0) });
    else {
      const b = enc.encode(p);
      if (b.length === 0) {
        comps.push({ flags: 0, bytes: b });
        return;
      }
      for (let q = 0; q < b.length; q += 248) {
        comps.push({ flags: q + 248 < b.length ? 0x01 : 0, bytes: b.subarray(q, q + 248) });
      }
    }
  });
  const out: Uint8Array[] = [];
  let cur: Uint8Array[] = [];
  let curLen = 0;
  const max = 250 - 1; // data bytes after the SL flags byte
  const flush = (more: boolean) => {
    const d = new Uint8Array(1 + curLen);
    d[0] = more ? 1 : 0;
    let p = 1;
    for (const c of cur) {
      d.set(c, p);
      p += c.length;
    }
    out.push(suspEntry('SL', d));
    cur = [];
    curLen = 0;
  };
  for (const c of comps) {
    const rec = new Uint8Array(2 + c.bytes.length);
    rec[0] = c.flags;
    rec[1] = c.bytes.length;
    rec.set(c.bytes, 2);
    if (curLen + rec.length > max) flush(true);
    cur.push(rec);
    curLen += rec.length;
  }
  flush(false);
  return out;
}
