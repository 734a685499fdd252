import { afterAll, beforeAll, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeWithTools } from '../../../test/tools.js';
import { FatVolume, fatFilesystem } from './index.js';
import {
  tempDir, makeTree, makeFat, fragment, hostList, sevenZipList, volumeList, hostHashes, volumeHashes, openDevice, readAll, sha256, sh,
} from './test/helpers.js';

/** `mdir`'s lines as name|long name|size|date|time. */
function mdirList(img: string, dir: string): string[] {
  const out: string[] = [];
  for (const line of sh('mdir', ['-i', img, `::${dir}`]).split('\n')) {
    const m = /^(.{8}) (.{3}) +(<DIR>|\d+) +(\d{4}-\d\d-\d\d) +(\d+:\d\d)(?:  (.*)| ?)$/.exec(line);
    if (!m || m[1]!.startsWith('.')) continue;
    const base = m[1]!.trimEnd();
    const ext = m[2]!.trimEnd();
    out.push([ext ? `${base}.${ext}` : base, m[6] ?? '', m[3], m[4], m[5]].join('|'));
  }
  return out;
}

const cases = [
  { name: 'FAT12 1.44 MB floppy', bits: 12 as const, kib: 1440, extra: [], cluster: 512 },
  { name: 'FAT16 32 MiB', bits: 16 as const, kib: 32 << 10, extra: ['-s', '4'], cluster: 2048 },
  { name: 'FAT32 64 MiB', bits: 32 as const, kib: 64 << 10, extra: ['-s', '1'], cluster: 512 },
  { name: 'FAT12 2.88 MB floppy', bits: 12 as const, kib: 2880, extra: [], cluster: 1024 },
  { name: 'FAT32 with 4 KiB sectors, 300 MiB', bits: 32 as const, kib: 300 << 10, extra: ['-S', '4096', '-s', '1'], cluster: 4096 },
];

describeWithTools(['mkfs.fat', 'mcopy', 'mdel', 'mdir', '7z'], 'FAT volumes made by mkfs.fat + mcopy', () => {
  const dir = tempDir('read');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of cases) {
    it(`${c.name}: listing equals the source tree and 7z l; every file's sha256 equals the source's`, async () => {
      const src = join(dir, `src${c.bits}-${c.kib}`);
      makeTree(src, c.cluster);
      const img = join(dir, `fat${c.bits}-${c.kib}.img`);
      makeFat(img, c.kib, c.bits, src, c.extra);
      const frag = fragment(img, src, c.cluster);
      const dev = await openDevice(img);
      try {
        expect(await fatFilesystem.probe(dev)).toBeGreaterThan(50);
        const vol = await FatVolume.mount(dev, { codepage: 850 }); // mtools writes 8.3 names in code page 850
        expect(vol.layout.type).toBe(`FAT${c.bits}`);
        expect(vol.layout.clusterSize).toBe(c.cluster);
        const ours = await volumeList(vol);
        expect(ours).toEqual(hostList(src));
        expect(ours).toEqual(sevenZipList(img));
        expect(await volumeHashes(vol)).toEqual(hostHashes(src));
        // the fragmented file really is in more than one run, and reads back whole
        const n = (await vol.node(`/${frag.name}`))!;
        const chain = (await vol.fileChain(`/${frag.name}`, n))!;
        expect(chain.runs.length).toBeGreaterThan(1);
        expect(sha256(await readAll(await vol.openFile(`/${frag.name}`)))).toBe(sha256(frag.data));
        // mdir: the 8.3 names (NT case flags applied), long names, sizes and times of the root and a subdirectory
        for (const d of ['/', '/many']) {
          const ours = (await vol.children(d)).list.map(({ node: n }) => {
            const t = n.mtime!.toISOString();
            return [n.name, n.longName ?? '', n.isDirectory ? '<DIR>' : String(n.size), t.slice(0, 10), `${Number(t.slice(11, 13))}:${t.slice(14, 16)}`].join('|');
          });
          expect(ours.sort()).toEqual(mdirList(img, d).sort());
        }
      } finally {
        await dev.close();
      }
    });
  }
});
