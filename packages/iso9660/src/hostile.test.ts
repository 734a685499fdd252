import { describe, it, expect, beforeAll } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { MemoryDevice, CorruptImageError, DiskitError, walk, type FileEntry, type WalkProblem } from '@diskit/core';
import { buildIso } from './node.js';
import { IsoVolume } from './reader/index.js';
import { isoFormat } from './formats.js';
import { tempDir } from './test/helpers.js';

let base: Uint8Array;

function findRecord(b: Uint8Array, name: string, from = 0): number {
  const n = new TextEncoder().encode(name);
  outer: for (let i = from + 33; i + n.length <= b.length; i++) {
    for (let j = 0; j < n.length; j++) if (b[i + j] !== n[j]) continue outer;
    const r = i - 33;
    const v = new DataView(b.buffer, b.byteOffset);
    if (b[r + 32] === n.length && b[r]! >= 33 + n.length && v.getUint32(r + 2, true) === v.getUint32(r + 6, false)) return r;
  }
  throw new Error(`record ${name} not found`);
}

function findBytes(b: Uint8Array, pat: number[], from = 0): number {
  outer: for (let i = from; i + pat.length <= b.length; i++) {
    for (let j = 0; j < pat.length; j++) if (b[i + j] !== pat[j]) continue outer;
    return i;
  }
  throw new Error('pattern not found');
}

function setBoth32(b: Uint8Array, off: number, v: number): void {
  const d = new DataView(b.buffer, b.byteOffset);
  d.setUint32(off, v, true);
  d.setUint32(off + 4, v, false);
}

/** Everything a walk reaches; damaged directories land in `problems` (the walk goes on). */
async function listAll(vol: IsoVolume, problems: WalkProblem[] = []): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  for await (const e of walk(vol, '/', { onError: (p) => problems.push(p) })) out.push(e);
  return out;
}
const messages = (problems: WalkProblem[]) => problems.map((p) => `${p.path}: ${p.error.message}`);

function expectSafeNames(entries: FileEntry[]): void {
  for (const e of entries) {
    expect(e.name).not.toMatch(/[/\0]/);
    expect(['', '.', '..']).not.toContain(e.name);
    expect(e.path.split('/').slice(1)).not.toContain('..');
  }
}

beforeAll(async () => {
  const dir = tempDir('hostile');
  const src = join(dir, 'src');
  mkdirSync(join(src, 'loopdir', 'sub'), { recursive: true });
  writeFileSync(join(src, 'loopdir', 'sub', 'f'), 'x');
  for (let i = 0; i < 60; i++) writeFileSync(join(src, `file${String(i).padStart(3, '0')}`), `${i}`);
  for (const n of ['aaa', 'bbb', 'cc', 'd', 'eee']) writeFileSync(join(src, n), n);
  writeFileSync(join(src, 'L'.repeat(240)), 'long');
  const sink = new MemoryDevice(0, { growable: true });
  await buildIso(src, sink, { sourceDateEpoch: 1_600_000_000 });
  base = sink.bytes.slice();
});

const mount = (b: Uint8Array, names?: 'iso' | 'joliet' | 'rockridge') => IsoVolume.mount(new MemoryDevice(b, { readOnly: true }), { names });

describe('hostile ISOs', () => {
  it('the unmodified image lists cleanly', async () => {
    const vol = await mount(base);
    const problems: WalkProblem[] = [];
    const all = await listAll(vol, problems);
    expect(all.length).toBe(2 + 1 + 60 + 5 + 1);
    expect(problems).toEqual([]);
  });

  it('a directory that loops back to an ancestor is listed, not entered, and reported; the walk ends', async () => {
    const b = base.slice();
    const rootExtent = new DataView(b.buffer).getUint32(16 * 2048 + 156 + 2, true);
    const sub = findRecord(b, 'SUB');
    setBoth32(b, sub + 2, rootExtent);
    const vol = await mount(b);
    const problems: WalkProblem[] = [];
    const all = await listAll(vol, problems);
    expect(all.map((e) => e.path)).toContain('/loopdir/sub');
    expect(all.filter((e) => e.path.startsWith('/loopdir/sub/'))).toEqual([]);
    expect(all.length).toBe(2 + 60 + 5 + 1);
    expect(problems.map((p) => [p.path, p.structure, p.offset])).toEqual([['/loopdir/sub', 'directory record', sub]]);
    expect(messages(problems)[0]).toMatch(/not one of its ancestors.*the same as \/$/);
    await expect(vol.readdir('/loopdir/sub/loopdir')).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('a directory listed under several names (a DAG that would make walks explode) is listed once', async () => {
    const b = base.slice();
    const loop = findRecord(b, 'LOOPDIR');
    // every FILE0nn record in the root becomes a directory pointing at /loopdir
    for (let i = 0; i < 10; i++) {
      const r = findRecord(b, `FILE00${i}.;1`);
      b.set(b.subarray(loop + 2, loop + 18), r + 2); // extent and size
      b[r + 25] = 0x02;
    }
    const vol = await mount(b, 'iso');
    const problems: WalkProblem[] = [];
    const all = await listAll(vol, problems);
    const dirsWithSub = all.filter((e) => e.path.endsWith('/SUB'));
    expect(dirsWithSub.length).toBe(1);
    expect(problems.filter((p) => /listed under one name/.test(p.error.message)).length).toBe(10);
  });

  it('a directory record crossing a sector end is a CorruptImageError', async () => {
    const b = base.slice();
    const rootExtent = new DataView(b.buffer).getUint32(16 * 2048 + 156 + 2, true);
    const start = rootExtent * 2048;
    let pos = 0, last = 0;
    while (pos < 2048 && b[start + pos]! > 0) {
      last = pos;
      pos += b[start + pos]!;
    }
    const len = 2048 - last + 2;
    expect(len).toBeLessThan(256);
    b[start + last] = len;
    const vol = await mount(b, 'iso');
    await expect(vol.readdir('/')).rejects.toBeInstanceOf(CorruptImageError);
    await expect(vol.readdir('/')).rejects.toThrow(/crossing/);
  });

  it('a file extent past the end of the volume is a CorruptImageError naming the record', async () => {
    const b = base.slice();
    const r = findRecord(b, 'FILE007.;1');
    setBoth32(b, r + 10, 0x7fff0000);
    const vol = await mount(b, 'iso');
    await expect(vol.readdir('/')).rejects.toThrow(/file data inside the volume/);
    const r2 = findRecord(b, 'LOOPDIR');
    setBoth32(b, r2 + 2, 0x00ffffff);
    setBoth32(b, r + 10, 1);
    const vol2 = await mount(b, 'iso');
    await expect(vol2.readdir('/LOOPDIR')).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('continuation areas that cycle are cut off, not followed forever', async () => {
    const b = base.slice();
    // the root '.' record: SP ... CE → ER area. Make the ER area a CE pointing at itself.
    const rootExtent = new DataView(b.buffer).getUint32(16 * 2048 + 156 + 2, true);
    const ce = findBytes(b, [0x43, 0x45, 28, 1], rootExtent * 2048);
    const v = new DataView(b.buffer);
    const blk = v.getUint32(ce + 4, true), off = v.getUint32(ce + 12, true);
    const at = blk * 2048 + off;
    b.set([0x43, 0x45, 28, 1], at);
    setBoth32(b, at + 4, blk);
    setBoth32(b, at + 12, off);
    setBoth32(b, at + 20, 28);
    // and the long name's CE chain too
    const ce2 = findBytes(b, [0x43, 0x45, 28, 1], ce + 28);
    const blk2 = v.getUint32(ce2 + 4, true), off2 = v.getUint32(ce2 + 12, true);
    const at2 = blk2 * 2048 + off2;
    b.set([0x43, 0x45, 28, 1], at2);
    setBoth32(b, at2 + 4, blk2);
    setBoth32(b, at2 + 12, off2);
    setBoth32(b, at2 + 20, 28);
    const vol = await mount(b);
    const problems: WalkProblem[] = [];
    const all = await listAll(vol, problems);
    // the long-named file is lost (its name is in the looping area), everything else is listed
    expect(all.length).toBe(2 + 1 + 60 + 5);
    expect(problems.map((p) => [p.path, p.structure])).toEqual([['/', 'Rock Ridge continuation area']]);
    expect(messages(problems)[0]).toMatch(/does not loop.*and 1 more damaged record/);
  });

  it("Rock Ridge and Joliet names with '/', NUL, '.' or '..' are never returned", async () => {
    const b = base.slice();
    const nm = (name: string) => findBytes(b, [0x4e, 0x4d, 5 + name.length, 1, 0, ...new TextEncoder().encode(name)]) + 5;
    b.set(new TextEncoder().encode('a/a'), nm('aaa'));
    b.set([0x62, 0, 0x62], nm('bbb'));
    b.set(new TextEncoder().encode('..'), nm('cc'));
    b.set(new TextEncoder().encode('.'), nm('d'));
    const vol = await mount(b);
    const problems: WalkProblem[] = [];
    const all = await listAll(vol, problems);
    expectSafeNames(all);
    expect(all.filter((e) => e.path.split('/').length === 2 && /^(aaa|bbb|cc|d|a\/a)$/.test(e.name))).toEqual([]);
    expect(problems.length).toBe(1);
    expect(messages(problems)[0]).toMatch(/one path component.*and 3 more/);
    // Joliet: "eee;1" in UCS-2 → "e/e;1"
    const j = findBytes(b, [0, 0x65, 0, 0x65, 0, 0x65, 0, 0x3b, 0, 0x31]);
    b[j + 3] = 0x2f;
    const jv = await mount(b, 'joliet');
    const jall = await listAll(jv);
    expectSafeNames(jall);
    expect(jall.some((e) => e.name.startsWith('e'))).toBe(false);
    // ISO names: "FILE001.;1" → "FI/E001.;1" and a NUL
    const r = findRecord(b, 'FILE001.;1');
    b[r + 33 + 2] = 0x2f;
    const r2 = findRecord(b, 'FILE002.;1');
    b[r2 + 33 + 2] = 0;
    const iv = await mount(b, 'iso');
    const iall = await listAll(iv);
    expectSafeNames(iall);
    expect(iall.length).toBe(all.length + 4 - 2);
  });

  it('truncated images and foreign data give typed errors', async () => {
    await expect(mount(base.slice(0, 40000))).rejects.toBeInstanceOf(DiskitError);
    await expect(mount(new Uint8Array(100_000))).rejects.toBeInstanceOf(CorruptImageError);
    const b = base.slice();
    new DataView(b.buffer).setUint32(16 * 2048 + 80, 0x100000, true);
    const img = await isoFormat.open(new MemoryDevice(b, { readOnly: true }));
    const rep = await img.check!();
    expect(rep.problems.some((p) => /volume space size/.test(p.message))).toBe(true);
  });

  it('check() catches a path table that disagrees with the tree', async () => {
    const b = base.slice();
    const img0 = await isoFormat.open(new MemoryDevice(base.slice(), { readOnly: true }));
    expect((await img0.check!()).problems).toEqual([]);
    const lpt = new DataView(b.buffer).getUint32(16 * 2048 + 140, true);
    // second record's extent
    const rec2 = lpt * 2048 + 10;
    new DataView(b.buffer).setUint32(rec2 + 2, 12345, true);
    const img = await isoFormat.open(new MemoryDevice(b, { readOnly: true }));
    const rep = await img.check!();
    expect(rep.problems.some((p) => /L path table/.test(p.structure ?? '') && /does not match/.test(p.message))).toBe(true);
  });
});

describe('mount options', () => {
  it('names= forces a tree; asking for one the image lacks is a UsageError', async () => {
    const { UsageError } = await import('@diskit/core');
    expect((await mount(base)).names).toBe('rockridge');
    expect((await mount(base, 'joliet')).names).toBe('joliet');
    const dir = tempDir('opts');
    writeFileSync(join(dir, 'a.txt'), 'a');
    const sink = new MemoryDevice(0, { growable: true });
    await buildIso(dir, sink, { rockRidge: false, joliet: false });
    const plain = sink.bytes.slice();
    expect((await mount(plain)).names).toBe('iso');
    await expect(mount(plain, 'rockridge')).rejects.toBeInstanceOf(UsageError);
    await expect(mount(plain, 'joliet')).rejects.toBeInstanceOf(UsageError);
    const { iso9660Filesystem } = await import('./reader/index.js');
    await expect(iso9660Filesystem.mount(new MemoryDevice(plain), { names: 'klingon' })).rejects.toBeInstanceOf(UsageError);
    await expect(iso9660Filesystem.mount(new MemoryDevice(plain), { bogus: '1' })).rejects.toBeInstanceOf(UsageError);
    expect(await iso9660Filesystem.probe(new MemoryDevice(plain))).toBeGreaterThan(0);
    expect(await iso9660Filesystem.probe(new MemoryDevice(new Uint8Array(40000)))).toBe(0);
  });
});

describe('interleaved, associated and hidden files', () => {
  it('reads interleaved files unit by unit, skipping gaps; hides associated files, lists hidden ones', async () => {
    const b = base.slice();
    const r = findRecord(b, 'FILE010.;1');
    const v = new DataView(b.buffer);
    const lba = v.getUint32(r + 2, true);
    setBoth32(b, r + 10, 2 * 2048 + 5);
    b[r + 26] = 1; // file unit size
    b[r + 27] = 1; // interleave gap
    const assoc = findRecord(b, 'FILE020.;1');
    b[assoc + 25] |= 0x04;
    const hidden = findRecord(b, 'FILE030.;1');
    b[hidden + 25] |= 0x01;
    const vol = await mount(b, 'iso');
    const names = (await vol.readdir('/')).map((e) => e.name);
    expect(names).not.toContain('FILE020');
    expect(names).toContain('FILE030');
    const f = await vol.openFile('/FILE010');
    expect(f.size).toBe(2 * 2048 + 5);
    const got = new Uint8Array(f.size);
    await f.read(got, 0);
    const want = new Uint8Array(f.size);
    want.set(b.subarray(lba * 2048, lba * 2048 + 2048), 0);
    want.set(b.subarray((lba + 2) * 2048, (lba + 3) * 2048), 2048);
    want.set(b.subarray((lba + 4) * 2048, (lba + 4) * 2048 + 5), 4096);
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    const part = new Uint8Array(10);
    await f.read(part, 2043);
    expect(Buffer.from(part).equals(Buffer.from(want.subarray(2043, 2053)))).toBe(true);
  });
});

describe('encoders and decoders', () => {
  it('the hand-written directory record decoder agrees with the binary-parser one on every record; encode round-trips', async () => {
    const { parseDirRecord, parseDirRecordFast, encodeDirRecord, parseVolumeDescriptor, encodeVolumeDescriptor } = await import('./structs.js');
    const rootExtent = new DataView(base.buffer).getUint32(16 * 2048 + 156 + 2, true);
    let pos = rootExtent * 2048;
    let n = 0;
    while (base[pos]! > 0) {
      const rec = base.subarray(pos, pos + base[pos]!);
      const a = parseDirRecord(rec), b = parseDirRecordFast(rec);
      expect({ ...b, date: [...b.date] }).toEqual({ ...a, date: [...a.date] });
      const nameLen = a.nameLength;
      const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
      const again = encodeDirRecord(a, rec.subarray(33, 33 + nameLen), rec.subarray(suStart));
      expect(Buffer.from(again).equals(Buffer.from(rec))).toBe(true);
      pos += base[pos]!;
      n++;
    }
    expect(n).toBeGreaterThan(10);
    // primary descriptor: decode → encode byte-exact (application use area kept)
    const pvd = base.subarray(16 * 2048, 17 * 2048);
    const enc = encodeVolumeDescriptor(parseVolumeDescriptor(pvd), pvd.subarray(883, 883 + 512));
    expect(Buffer.from(enc).equals(Buffer.from(pvd))).toBe(true);
  });
});

describe('SUSP skip length', () => {
  it('SP len_skp: system use areas start that many bytes in; our reader honours it (and so does xorriso)', async () => {
    const { hasTool, run } = await import('../../../test/tools.js');
    const dir = tempDir('skip');
    const src = join(dir, 'src');
    mkdirSync(join(src, 'd'), { recursive: true });
    writeFileSync(join(src, 'd', 'Mixed Case Name.txt'), 'x');
    writeFileSync(join(src, 'n'.repeat(200)), 'long');
    const sink = new MemoryDevice(0, { growable: true });
    await buildIso(src, sink, { suspSkip: 7, joliet: false });
    const vol = await mount(sink.bytes.slice());
    expect(vol.names).toBe('rockridge');
    const all = (await listAll(vol)).map((e) => e.path);
    expect(all).toEqual(['/d', '/d/Mixed Case Name.txt', '/' + 'n'.repeat(200)]);
    if (hasTool('xorriso')) {
      const iso = join(dir, 'skip.iso');
      writeFileSync(iso, sink.bytes);
      const out = run('xorriso', ['-indev', iso, '-find', '/', '-exec', 'lsdl']);
      expect(out).toContain("'/d/Mixed Case Name.txt'");
    }
  });
});
