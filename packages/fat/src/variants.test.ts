/** mkfs.fat and mkfs.exfat option variants: each volume mounts, lists like 7-Zip / mdir, reads back, and checks clean. */
import { afterAll, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryDevice } from '@diskit/core';
import { describeWithTools } from '../../../test/tools.js';
import { FatVolume, ExfatVolume, fatFilesystem, exfatFilesystem } from './index.js';
import { tempDir, sh, sevenZipList, volumeList, readAll, sha256, bytes, openDevice } from './test/helpers.js';

const dir = tempDir('variants');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithTools(['mkfs.fat', 'mcopy', 'mmd', '7z'], 'mkfs.fat variants', () => {
  const variants: [string, number, string[]][] = [
    ['one FAT copy', 4096, ['-F', '16', '-s', '1', '-f', '1']],
    ['512 root entries, no alignment', 4096, ['-F', '16', '-s', '1', '-r', '512', '-a']],
    ['FAT12 with 4 KiB clusters', 8192, ['-F', '12', '-s', '8']],
    ['2048-byte sectors', 65536, ['-F', '16', '-S', '2048']],
    ['FAT32, 32 KiB clusters, 8 reserved sectors', 2200 << 10, ['-F', '32', '-s', '64', '-R', '8']],
    ['volume label and serial', 1440, ['-F', '12', '-n', 'MY LABEL', '-i', '12345678']],
  ];
  for (const [name, kib, args] of variants) {
    it(name, async () => {
      const img = join(dir, `${name.replace(/\W+/g, '-')}.img`);
      sh('mkfs.fat', ['-C', ...args, img, String(kib)]);
      const data = bytes(10_000, kib);
      writeFileSync(join(dir, 'data.bin'), data);
      sh('mcopy', ['-i', img, join(dir, 'data.bin'), '::/Data File.bin']);
      sh('mmd', ['-i', img, '::/sub dir']);
      sh('mcopy', ['-i', img, join(dir, 'data.bin'), '::/sub dir/copy.bin']);
      const dev = await openDevice(img);
      try {
        expect(await fatFilesystem.probe(dev)).toBeGreaterThan(50);
        const vol = await FatVolume.mount(dev);
        expect(await volumeList(vol)).toEqual(sevenZipList(img));
        expect(sha256(await readAll(await vol.openFile('/sub dir/copy.bin')))).toBe(sha256(data));
        expect((await vol.check()).problems).toEqual([]);
        if (name === 'volume label and serial') expect(await vol.info()).toMatchObject({ label: 'MY LABEL', serial: '1234-5678' });
      } finally {
        await dev.close();
      }
    });
  }
});

describeWithTools(['mkfs.exfat', 'fsck.exfat'], 'mkfs.exfat variants (empty volumes: no mount needed)', () => {
  const variants: [string, number, string[]][] = [
    ['512-byte clusters', 8, ['-c', '512']],
    ['1 MiB clusters', 64, ['-c', '1M']],
    ['bitmap packed into the FAT segment', 16, ['--pack-bitmap']],
    ['1 MiB boundary alignment, label', 32, ['-b', '1M', '-L', 'ALIGNED']],
  ];
  for (const [name, mib, args] of variants) {
    it(name, async () => {
      const img = join(dir, `${name.replace(/\W+/g, '-')}.exfat`);
      sh('truncate', ['-s', `${mib}M`, img]);
      sh('mkfs.exfat', [...args, img]);
      expect(sh('fsck.exfat', ['-n', img])).toMatch(/clean/);
      const dev = new MemoryDevice(new Uint8Array(readFileSync(img)), { readOnly: true });
      expect(await exfatFilesystem.probe(dev)).toBeGreaterThan(50);
      const vol = await ExfatVolume.mount(dev);
      expect(await vol.readdir('/')).toEqual([]);
      expect((await vol.check()).problems).toEqual([]);
      const info = await vol.info();
      if (args.includes('-L')) expect(info.label).toBe('ALIGNED');
      if (args[0] === '-c') expect(info.clusterSize).toBe(args[1] === '512' ? 512 : 1 << 20);
      expect(info.usedSize).toBeGreaterThan(0);
    });
  }
});
