import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CorruptImageError, MemoryDevice, collectExtents, UnsupportedFeatureError, walk, type WalkProblem } from '@diskit/core';
import { describeWithTools } from '../../../test/tools.js';
import { tempDir, unpackFull, mountFile, cleanup } from './test/fixture.js';
import { NtfsVolume } from './volume.js';
import { parseMftRecord } from './mft-record.js';
import { decodeRunlist, joinRuns } from './runlist.js';
import { applyFixups } from './fixup.js';
import { lznt1Decompress } from './lznt1.js';
import { AT } from './attribute.js';
import { walkIndex } from './index-btree.js';
import { parseReparsePoint } from './reparse.js';

let dir: string;
let image: Uint8Array;
let vol: NtfsVolume;

/** A copy of the fixture with `patch` applied, mounted from memory. */
async function patched(patch: (b: Uint8Array, dv: DataView) => void | Promise<void>): Promise<NtfsVolume> {
  const b = image.slice();
  await patch(b, new DataView(b.buffer));
  return NtfsVolume.mount(new MemoryDevice(b, { readOnly: true }));
}

/** Byte offset of an attribute's resident value in the image, for record `offset`. */
function residentValue(b: Uint8Array, offset: number, type: number, n: number): number {
  const rec = parseMftRecord(b.slice(offset, offset + 1024), n, offset);
  const a = rec.attributes.find((x) => x.type === type)!;
  return a.value!.byteOffset + offset;
}

describeWithTools(['xz'], 'NTFS: damaged and hostile structures', () => {
  beforeAll(async () => {
    dir = tempDir('hostile');
    const p = unpackFull(dir);
    image = new Uint8Array(readFileSync(p));
    ({ vol } = await mountFile(p));
  });
  afterAll(() => cleanup(dir));

  it('a torn FILE record is a CorruptImageError naming it; the walk reports it and goes on', async () => {
    const { number, offset } = await vol.recordOf('/hello.txt');
    const v = await patched((b) => {
      b[offset + 510] ^= 0xff;
    });
    await expect(v.readdir('/')).rejects.toThrow(new RegExp(`MFT record ${number} update sequence at offset ${offset + 510}`));
    const problems: WalkProblem[] = [];
    const paths: string[] = [];
    for await (const e of walk(v, '/', { onError: (p) => problems.push(p) })) paths.push(e.path);
    expect(problems.map((p) => p.path)).toContain('/');
    expect(paths).toContain('/dir/sub/deeper/leaf.txt');
    expect(paths).not.toContain('/hello.txt');
  });

  it('a damaged $MFT record 0 is read from $MFTMirr; a damaged boot sector from its backup', async () => {
    const v = await patched((b) => {
      const off = Number(new DataView(b.buffer).getBigUint64(0x30, true)) * 4096;
      b.fill(0, off, off + 4);
    });
    expect(await v.info()).toMatchObject({ mftFromMirror: true, label: 'diskit ntfs' });
    expect((await v.readdir('/')).length).toBe((await vol.readdir('/')).length);
    const w = await patched((b) => b.fill(0, 0, 512));
    expect((await w.info()).bootSectorFromBackup).toBe(image.length - 512);
    await expect(patched((b) => {
      b.fill(0, 0, 512);
      b.fill(0, b.length - 512);
    })).rejects.toThrow(CorruptImageError);
  });

  it('an index buffer with a bad update sequence, and two index entries sharing a child, are errors', async () => {
    // A tree whose only index buffer points back at itself.
    const block = new Uint8Array(4096);
    block.set([0x49, 0x4e, 0x44, 0x58, 0x28, 0, 9, 0]);
    const dv = new DataView(block.buffer);
    dv.setUint16(0x28, 1, true);
    for (let i = 1; i <= 8; i++) dv.setUint16(i * 512 - 2, 1, true);
    dv.setUint32(0x18, 0x28, true);
    dv.setUint32(0x1c, 0x28 + 24, true);
    dv.setUint32(0x20, 4096 - 0x18, true);
    dv.setUint16(0x40 + 8, 24, true);
    dv.setUint16(0x40 + 12, 3, true);
    const root = new Uint8Array(16 + 24);
    const rv = new DataView(root.buffer);
    rv.setUint32(0, 16, true);
    rv.setUint32(4, 40, true);
    rv.setUint32(8, 40, true);
    rv.setUint16(16 + 8, 24, true);
    rv.setUint16(16 + 12, 3, true);
    const src = { root: { blockSize: 4096, node: root }, rootOffset: 1234, allocationSize: 4096, vcnSize: 4096, readBlock: async (_pos: number, into: Uint8Array) => (into.set(block), 8192) };
    await expect((async () => {
      for await (const _ of walkIndex(src)) void _;
    })()).rejects.toThrow(/NTFS directory index at offset 1234: expected each index buffer once/);
    // The first INDX buffer's sequence number torn.
    const runs = await indexRuns();
    const x = await patched((b) => {
      b[runs + 510] ^= 0x55;
    });
    await expect(x.readdir('/many')).rejects.toThrow(/index buffer \(VCN 0\) update sequence/);
  });

  it('EFS-encrypted files are listed, and reading one is an UnsupportedFeatureError', async () => {
    const { number, offset } = await vol.recordOf('/secret.txt');
    const v = await patched((b) => {
      const si = residentValue(b, offset, AT.STANDARD_INFORMATION, number);
      b[si + 0x21] |= 0x40;
    });
    expect((await v.stat('/secret.txt')).attributes).toContain('encrypted');
    await expect(v.openFile('/secret.txt')).rejects.toThrow(UnsupportedFeatureError);
  });

  it('bytes past the initialised size read as zeros and are zero extents', async () => {
    const { number, offset } = await vol.recordOf('/fragmented.txt');
    const v = await patched((b, dv) => {
      const rec = parseMftRecord(b.slice(offset, offset + 1024), number, offset);
      const data = rec.attributes.find((a) => a.type === AT.DATA && a.name === '')!;
      dv.setUint32(data.offset + 0x38, 100_000, true);
    });
    const f = await v.openFile('/fragmented.txt');
    const whole = new Uint8Array(f.size);
    await f.read(whole, 0);
    const orig = await vol.openFile('/fragmented.txt');
    const head = new Uint8Array(100_000);
    await orig.read(head, 0);
    expect(Buffer.from(whole.subarray(0, 100_000)).equals(Buffer.from(head))).toBe(true);
    expect(whole.subarray(100_000).every((x) => x === 0)).toBe(true);
    const ext = await collectExtents(f);
    expect(ext[ext.length - 1]).toEqual({ offset: 100_000, length: f.size - 100_000, kind: 'zero' });
  });

  it('a WOF-compressed file is listed and reading it names the codec; the dirty flag shows in info', async () => {
    const { number, offset } = await vol.recordOf('/winlink');
    const v = await patched((b, dv) => {
      const rp = residentValue(b, offset, AT.REPARSE_POINT, number);
      dv.setUint32(rp, 0x80000017, true);
      dv.setUint32(rp + 12, 2, true);
      dv.setUint32(rp + 20, 1, true);
    });
    expect((await v.stat('/winlink')).type).toBe('file');
    await expect(v.openFile('/winlink')).rejects.toThrow(/winlink: WOF-compressed file \(codec LZX\)/);
    const volRecord = (vol as unknown as { mft: { offsetOf(n: number): number } }).mft.offsetOf(3);
    const d = await patched((b) => {
      b[residentValue(b, volRecord, AT.VOLUME_INFORMATION, 3) + 0x0a] |= 1;
    });
    expect((await d.info()).dirty).toBe(true);
  });

  it('reparse points: WOF names its codec, unknown tags are named by number', () => {
    const wof = new Uint8Array(24);
    const dv = new DataView(wof.buffer);
    dv.setUint32(0, 0x80000017, true);
    dv.setUint16(4, 16, true);
    dv.setUint32(8, 1, true);
    dv.setUint32(12, 2, true);
    dv.setUint32(16, 1, true);
    dv.setUint32(20, 1, true);
    expect(parseReparsePoint(wof, 0)).toMatchObject({ kind: 'wof', codec: 'LZX' });
    dv.setUint32(0, 0x12345678, true);
    expect(parseReparsePoint(wof, 0).kind).toBe('0x12345678');
    expect(() => parseReparsePoint(Uint8Array.of(0x0c, 0, 0, 0xa0, 20, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0), 99)).toThrow(/reparse point at offset 99/);
  });

  it('runlists: out of the volume, overlapping runs, bad headers', () => {
    expect(() => decodeRunlist(Uint8Array.of(0x21, 0x10, 0x00, 0x10, 0), 0, 100, 0)).toThrow(/inside the volume/);
    expect(() => decodeRunlist(Uint8Array.of(0x09, 0x10), 0, 100, 0)).toThrow(/run header/);
    const a = decodeRunlist(Uint8Array.of(0x11, 0x10, 0x20, 0x11, 0x10, 0x08, 0), 0, 100, 0);
    expect(() => joinRuns([a], 'test runlist', 0)).toThrow(/do not overlap/);
    expect(() => joinRuns([decodeRunlist(Uint8Array.of(0x11, 4, 1, 0), 0, 100, 0), decodeRunlist(Uint8Array.of(0x11, 4, 9, 0), 8, 100, 0)], 'test runlist', 0)).toThrow(/VCN 4/);
  });

  it('fixups: a wrong update sequence count; LZNT1: back-references before the chunk', () => {
    const r = new Uint8Array(1024);
    r.set([0x46, 0x49, 0x4c, 0x45, 0x30, 0, 9, 0]);
    expect(() => applyFixups(r, 'MFT record 7', 4096)).toThrow(/MFT record 7 at offset 4096/);
    expect(() => lznt1Decompress(Uint8Array.of(0x02, 0xb0, 0x01, 0x10, 0x00), new Uint8Array(4096), 0)).toThrow(/back-reference/);
  });
});

/** Byte offset of /many's first INDX buffer (VCN 0). */
async function indexRuns(): Promise<number> {
  const v = vol as unknown as { mft: { file(n: number): Promise<{ get(t: number, n: string): { extents: { runlist: Uint8Array; startVcn: number; offset: number }[] } }> } };
  const { number } = await vol.recordOf('/many');
  const f = await v.mft.file(number);
  const a = f.get(AT.INDEX_ALLOCATION, '$I30').extents[0]!;
  return decodeRunlist(a.runlist, 0, 1 << 30, a.offset)[0]!.lcn * 4096;
}
