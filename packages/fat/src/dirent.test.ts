import { describe, expect, it } from 'vitest';
import { parseDirectory, lfnChecksum, dosTime, shortName } from './index.js';

const enc = new TextEncoder();

/** One short entry with raw name `n83` (11 bytes), preceded by LFN entries for `long` (VFAT layout). */
function entries(long: string | undefined, n83: string, opts: { badSum?: boolean; order?: number[] } = {}): Uint8Array {
  const raw = enc.encode(n83.padEnd(11, ' '));
  const units = long ? [...Array(long.length).keys()].map((i) => long.charCodeAt(i)) : [];
  const count = Math.ceil(units.length / 13);
  const out = new Uint8Array((count + 2) * 32);
  const offs = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
  const seqs = opts.order ?? [...Array(count).keys()].map((i) => count - i);
  seqs.forEach((seq, i) => {
    const at = i * 32;
    out[at] = seq | (seq === count ? 0x40 : 0);
    out[at + 11] = 0x0f;
    out[at + 13] = lfnChecksum(raw) ^ (opts.badSum ? 1 : 0);
    offs.forEach((o, k) => {
      const idx = (seq - 1) * 13 + k;
      const u = idx < units.length ? units[idx]! : idx === units.length ? 0 : 0xffff;
      out[at + o] = u & 0xff;
      out[at + o + 1] = u >> 8;
    });
  });
  const at = count * 32;
  out.set(raw, at);
  out[at + 11] = 0x20;
  return out;
}

const names = (b: Uint8Array) => parseDirectory(b, [{ fileOffset: 0, devOffset: 0, length: b.length }], false, 'test').nodes.map((n) => n.longName ?? n.name);

describe('FAT directory entries', () => {
  it('long names with characters outside the BMP (UTF-16 surrogate pairs) and over 13 units', () => {
    expect(names(entries('x😀y.txt', 'X_Y     TXT'))).toEqual(['x😀y.txt']);
    const long = 'a name of forty characters, more or less!';
    expect(names(entries(long, 'ANAMEO~1   '))).toEqual([long]);
  });

  it('an LFN run with a wrong checksum or out of order is an orphan: the 8.3 name is used', () => {
    expect(names(entries('x😀y.txt', 'X_Y     TXT', { badSum: true }))).toEqual(['X_Y.TXT']);
    const long = 'a name of forty characters, more or less!';
    const b = entries(long, 'ANAMEO~1   ', { order: [4, 2, 3, 1] });
    expect(names(b)).toEqual(['ANAMEO~1']);
    const p = parseDirectory(b, [{ fileOffset: 0, devOffset: 0, length: b.length }], false, 'test');
    expect(p.orphanLfn).toBeGreaterThan(0);
  });

  it('a deleted short entry orphans its run; 0x05 stands for 0xE5; end marker stops the scan', () => {
    const b = entries('deleted file.txt', 'DELETE~1TXT');
    b[32 * 2] = 0xe5;
    expect(names(b)).toEqual([]);
    const c = new Uint8Array(96);
    c.set(enc.encode('\x05BC     TXT'), 0);
    c[11] = 0x20;
    c.set(enc.encode('NEXT    TXT'), 64); // after the 0x00 end marker at 32: not listed
    expect(names(c)).toEqual(['σBC.TXT']);
  });

  it('DOS dates and times: fields as stored, 2-second resolution, 10 ms creation increments; invalid ones unset', () => {
    const date = ((2024 - 1980) << 9) | (2 << 5) | 29;
    const time = (13 << 11) | (14 << 5) | 7;
    expect(dosTime(date, time)!.toISOString()).toBe('2024-02-29T13:14:14.000Z');
    expect(dosTime(date, time, 150)!.toISOString()).toBe('2024-02-29T13:14:15.500Z');
    expect(dosTime(0, 0)).toBeUndefined();
    expect(dosTime((44 << 9) | (13 << 5) | 1, 0)).toBeUndefined();
  });

  it('8.3 names: padding dropped, NT case flags per part', () => {
    expect(shortName(enc.encode('README     '), 0)).toBe('README');
    expect(shortName(enc.encode('HELLO   TXT'), 0x18)).toBe('hello.txt');
    expect(shortName(enc.encode('HELLO   TXT'), 0x08)).toBe('hello.TXT');
  });
});
