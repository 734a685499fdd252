/** VHDX log replay: a dirty log written here, replayed in memory and by --repair, agreed by qemu-img. */
import { beforeAll, expect, it } from 'vitest';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { FileDevice } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { vhdxDriver, VhdxImage, writeVhdxLog } from './index.js';
import { join, openWith, prng, qemuRaw, readAll, tmp } from '../test/helpers.js';

const MiB = 1 << 20;
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describeWithTools(['qemu-img', 'qemu-io'], 'VHDX log replay', () => {
  let dir: string;
  let clean: string;
  let dirty: string;
  let before: Buffer;
  const newData = prng(99, 4096);
  const newBlock = prng(98, 64 * 1024);

  beforeAll(async () => {
    dir = tmp();
    clean = join(dir, 'clean.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', clean, '8M']);
    run('qemu-io', ['-f', 'vhdx', '-c', 'write -P 0x41 0 1M', '-c', 'write -P 0x42 2M 1M', clean]);
    before = qemuRaw(clean, 'vhdx', dir);

    // What a writer that crashed after logging (but before applying) leaves behind:
    //  entry 1: new bytes in block 0, zeroes in block 2;
    //  entry 2: block 5 allocated at the end of the file (its data and the BAT sector).
    dirty = join(dir, 'dirty.vhdx');
    copyFileSync(clean, dirty);
    const { image, close } = await openWith(vhdxDriver, dirty);
    const v = image as VhdxImage;
    const off = (blk: number) => v.batOffsets[blk]! * MiB;
    const b0 = off(0), b2 = off(2);
    const batSector = new Uint8Array(4096);
    await v.file.read(batSector, v.batOffset);
    const fileEnd = Math.ceil(statSync(dirty).size / MiB) * MiB;
    new DataView(batSector.buffer).setBigUint64(5 * 8, BigInt(fileEnd) | 6n, true);
    await close();

    const f = await FileDevice.open(dirty, { writable: true });
    await writeVhdxLog(f, [
      { ops: [{ fileOffset: b0 + 8192, data: newData }, { fileOffset: b2 + 4096, zeroLength: 8192 }] },
      // (The zero run at the block's end makes the file long enough: qemu does not extend it to LastFileOffset.)
      { ops: [{ fileOffset: fileEnd, data: newBlock }, { fileOffset: fileEnd + MiB - 4096, zeroLength: 4096 }, { fileOffset: v.batOffset, data: batSector }], lastFileOffset: fileEnd + MiB },
    ]);
    await f.close();
  });

  it('a read-only open replays the log in memory and leaves the file untouched; qemu-img agrees after check -r all', async () => {
    const hash = sha(dirty);
    const { image, close } = await openWith(vhdxDriver, dirty);
    const ours = await readAll(image);
    const insp = await image.inspect();
    const log = insp.structures.find((s) => s.name === 'log')!;
    expect(log.fields.activeEntries).toBe(2);
    expect((await image.check!()).problems.map((p) => p.structure)).toContain('VHDX log');
    await close();
    expect(sha(dirty)).toBe(hash);

    // Independent expectation from the clean image.
    const expected = Buffer.from(before);
    expected.set(newData, 8192);
    expected.fill(0, 2 * MiB + 4096, 2 * MiB + 4096 + 8192);
    expected.set(newBlock, 5 * MiB);
    expect(Buffer.compare(ours, expected)).toBe(0);

    // qemu refuses the dirty image read-only; replaying it on a copy gives the same disk.
    expect(() => run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', dirty, join(dir, 'x.raw')])).toThrow(/log|replay/i);
    const q = join(dir, 'qemu-replayed.vhdx');
    copyFileSync(dirty, q);
    run('qemu-img', ['check', '-r', 'all', '-f', 'vhdx', q]);
    expect(Buffer.compare(qemuRaw(q, 'vhdx', dir), ours)).toBe(0);
  });

  it('check({repair: true}) on a writable open applies the log; qemu-img then opens it read-only', async () => {
    const mine = join(dir, 'diskit-replayed.vhdx');
    copyFileSync(dirty, mine);
    const { image, close } = await openWith(vhdxDriver, mine, true);
    const r = await image.check!({ repair: true });
    expect(r.repaired?.[0]).toMatch(/replayed 2 log entries/);
    const after = await readAll(image);
    await close();
    run('qemu-img', ['check', '-f', 'vhdx', mine]);
    expect(Buffer.compare(qemuRaw(mine, 'vhdx', dir), after)).toBe(0);
    const { image: again, close: c2 } = await openWith(vhdxDriver, mine);
    expect((again as VhdxImage).log).toHaveLength(0);
    expect((await again.check!()).problems.map((p) => p.message)).toEqual([]);
    await c2();
  });

  it('a log entry with a bad CRC32C is not replayed, as qemu does', async () => {
    const bad = join(dir, 'bad-crc.vhdx');
    copyFileSync(dirty, bad);
    const { image, close } = await openWith(vhdxDriver, bad);
    const logOffset = (image as VhdxImage).header.logOffset;
    await close();
    // Flip a byte inside the first entry's data sector: entry 1 is invalid, so entry 2 stands alone
    // (sequence 2) — but both tools take the longest valid chain, which is now entry 2 alone.
    const f = await FileDevice.open(bad, { writable: true });
    const b = new Uint8Array(1);
    await f.read(b, logOffset + 4096 + 100);
    b[0] ^= 0xff;
    await f.write(b, logOffset + 4096 + 100);
    await f.close();
    const { image: img, close: c2 } = await openWith(vhdxDriver, bad);
    expect((img as VhdxImage).log.map((e) => e.header.sequenceNumber)).toEqual([2n]);
    const ours = await readAll(img);
    await c2();
    const q = join(dir, 'bad-crc-qemu.vhdx');
    copyFileSync(bad, q);
    run('qemu-img', ['check', '-r', 'all', '-f', 'vhdx', q]);
    expect(Buffer.compare(qemuRaw(q, 'vhdx', dir), ours)).toBe(0);
  });
});
