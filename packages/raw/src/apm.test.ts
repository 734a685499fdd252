import { expect, it, beforeAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MemoryDevice, CorruptImageError } from '@diskit/core';
import { describeWithTools, run, sharedImagesDir } from '../../../test/tools.js';
import { readPartitionTable, readApm, parseApmEntry, encodeApmEntry, parseDriverDescriptor, encodeDriverDescriptor } from './index.js';

const tmp = mkdtempSync(join(tmpdir(), 'diskit-apm-'));

/** 7-Zip's APM handler: one item per map entry with its byte offset and size. */
function sevenZipApm(path: string): { offset: number; size: number; name: string }[] {
  // 7-Zip exits 2 on hybrid ISOs ("data after the end of the archive") but lists every entry.
  const out = spawnSync('7z', ['l', '-slt', '-tapm', path], { encoding: 'utf8' }).stdout;
  const items = out.split('\n\n').filter((b) => /^Offset = /m.test(b));
  return items.map((b) => ({
    offset: Number(/^Offset = (\d+)/m.exec(b)![1]),
    size: Number(/^Size = (\d+)/m.exec(b)![1]),
    name: /^Path = (.*)$/m.exec(b)![1]!,
  }));
}

const sharedApm = join(sharedImagesDir(), 'apple/dmgwiz--output_non_null_data_offset.bin.gz');

describeWithTools(['7z', 'xorriso'], 'Apple Partition Map against 7-Zip', () => {
  const images: Record<string, string> = {};
  beforeAll(() => {
    const tree = join(tmp, 'tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'hello');
    for (const bs of ['512', '2048']) {
      images[`xorriso-${bs}`] = join(tmp, `hfs-${bs}.iso`);
      run('xorriso', ['-as', 'mkisofs', '-quiet', '-hfsplus', '-apm-block-size', bs, '-o', images[`xorriso-${bs}`]!, tree]);
    }
    if (existsSync(sharedApm)) {
      images.hdiutil = join(tmp, 'hdiutil-apm.img');
      writeFileSync(images.hdiutil, gunzipSync(readFileSync(sharedApm)));
    }
  });

  it('has the shared hdiutil APM disk', () => expect(existsSync(sharedApm)).toBe(true));

  for (const which of ['xorriso-512', 'xorriso-2048', 'hdiutil']) {
    it(`lists the same entries, offsets and sizes (${which})`, async () => {
      const path = images[which]!;
      const t = await readPartitionTable(new MemoryDevice(new Uint8Array(readFileSync(path))));
      expect(t.scheme).toBe('apm');
      const ref = sevenZipApm(path);
      // 7-Zip names each item "<name>.<type>" (hfs, free, or the type itself).
      expect(t.partitions.map((p) => ({ offset: p.start, size: p.size, name: p.name || String(p.index - 1) })))
        .toEqual(ref.map((r) => ({ offset: r.offset, size: r.size, name: r.name.slice(0, r.name.lastIndexOf('.')) })));
      expect(t.partitions.find((p) => p.type === 'Apple_HFS')).toBeDefined();
      expect(t.sectorSize).toBe(which === 'xorriso-2048' ? 2048 : 512);
      expect(t.problems.filter((p) => p.severity === 'error')).toEqual([]);
    });
  }

  it('decodes and re-encodes every entry byte for byte (hdiutil and xorriso maps)', async () => {
    for (const which of ['xorriso-512', 'xorriso-2048', 'hdiutil']) {
      const bytes = new Uint8Array(readFileSync(images[which]!));
      const t = (await readApm(new MemoryDevice(bytes.slice())))!;
      for (let i = 1; i <= t.entries.length; i++) {
        const raw = bytes.subarray(i * t.blockSize, i * t.blockSize + 512);
        expect([which, i, Buffer.from(encodeApmEntry(parseApmEntry(raw)!)).equals(raw)]).toEqual([which, i, true]);
      }
      // The driver descriptor's fields (xorriso puts boot code after them, hdiutil zeros).
      const ddr = bytes.subarray(0, 512);
      const again = encodeDriverDescriptor(parseDriverDescriptor(ddr)!);
      const used = 18 + 8 * t.ddr.drivers.length;
      expect(Buffer.from(again.subarray(0, used)).equals(ddr.subarray(0, used))).toBe(true);
      if (which === 'hdiutil') expect(Buffer.from(again).equals(ddr)).toBe(true);
    }
  });

  it('refuses a map whose entry count runs off the disk, and a broken entry signature', async () => {
    const bytes = new Uint8Array(readFileSync(images['xorriso-512']!));
    const v = new DataView(bytes.buffer);
    v.setUint32(512 + 4, 100000);
    await expect(readApm(new MemoryDevice(bytes.slice()))).rejects.toBeInstanceOf(CorruptImageError);
    v.setUint32(512 + 4, 4);
    bytes[1536] = 0;
    await expect(readApm(new MemoryDevice(bytes))).rejects.toThrow(/signature 'PM'/);
  });

  it('diskit check passes an intact map and fails a damaged one; --partition opens an entry', () => {
    const cli = resolve(__dirname, '../../cli/bin/diskit.js');
    const diskit = (...a: string[]) => spawnSync('node', [cli, ...a], { encoding: 'utf8' });
    const good = diskit('check', images.hdiutil!);
    expect([good.status, good.stdout]).toEqual([0, 'No errors were found on the image.\n']);
    const bytes = new Uint8Array(readFileSync(images.hdiutil!));
    bytes[1536] = 0x51; // entry 3 loses its 'PM'
    const bad = join(tmp, 'bad-apm.img');
    writeFileSync(bad, bytes);
    const r = diskit('check', bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/APM partition map entry at offset 1536/);
    const info = JSON.parse(diskit('info', '--json', images.hdiutil!).stdout);
    expect(info.partitionScheme).toBe('apm');
    expect(info.partitions[1]).toMatchObject({ index: 2, start: 32768, size: 3833856, type: 'Apple_HFS', name: 'disk image' });
    const ls = diskit('ls', '--partition', '2', images.hdiutil!);
    expect(ls.stdout.split('\n')).toContain('SquidMan.app');
  });
});
