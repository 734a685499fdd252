import { rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { it, expect, beforeAll, afterAll } from 'vitest';
import { describeWithTools, describeNeeding, run, sharedImagesDir } from '../../../test/tools.js';
import { diskit, diskitList, sevenZipList, tempDir, treeHashes } from './test/helpers.js';
import { apfsFilesystem, type ApfsVolume } from './index.js';

const apple = join(sharedImagesDir(), 'apple');
const hdiApfs = join(apple, 'hdi-mac--test-disk-image-apfs.dmg');
let dir: string;
beforeAll(() => {
  dir = tempDir('cli');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeNeeding(existsSync(hdiApfs) ? [] : [hdiApfs], 'the real hdiutil APFS image', () => {
  describeWithTools(['7z'], 'against 7-Zip', () => {
    it('diskit ls -R --json lists the paths, types and sizes 7z l -slt lists; extract matches 7z x byte for byte', () => {
      const ours = diskitList(hdiApfs);
      expect(ours.length).toBe(3);
      expect(ours).toEqual(sevenZipList(hdiApfs));
      const a = join(dir, 'ours'), b = join(dir, 'theirs');
      const r = diskit('extract', hdiApfs, '/', a);
      expect(r.status, r.stderr).toBe(0);
      run('7z', ['x', '-y', `-o${b}`, hdiApfs]);
      const theirs = treeHashes(b);
      expect(theirs.size).toBe(3);
      expect(treeHashes(a)).toEqual(theirs);
    });

    it('the same listing from the raw disk `convert -O raw` makes and from a VHD made from that', () => {
      const raw = join(dir, 'disk.img'), vhd = join(dir, 'disk.vhd');
      expect(diskit('convert', '-O', 'raw', hdiApfs, raw).status).toBe(0);
      expect(diskit('convert', '-f', 'raw', '-O', 'vhd', raw, vhd).status).toBe(0);
      const expected = sevenZipList(hdiApfs);
      expect(diskitList(raw)).toEqual(expected);
      expect(diskitList(vhd)).toEqual(expected);
      expect(diskitList(vhd, '--partition', '1', '--volume', 'test-disk-image-apfs')).toEqual(expected);
      const out = join(dir, 'fromvhd');
      expect(diskit('extract', vhd, '/', out).status).toBe(0);
      expect(treeHashes(out)).toEqual(treeHashes(join(dir, 'ours')));
    });
  });

  it('info lists the volume: name, role, case sensitivity, used size', () => {
    const r = diskit('info', '--json', hdiApfs);
    expect(r.status, r.stderr).toBe(0);
    const fs = JSON.parse(r.stdout).filesystem;
    expect(fs).toMatchObject({
      type: 'apfs', volumeName: 'test-disk-image-apfs', caseSensitive: false, blockSize: 4096, checkpointXid: 4,
      volumes: [{ number: 1, name: 'test-disk-image-apfs', role: 'none', caseSensitive: false, usedSize: 8 * 4096, files: 3, encrypted: false, snapshots: [] }],
    });
  });

  it('--volume and --snapshot that do not exist are usage errors naming what there is', () => {
    let r = diskit('ls', hdiApfs, '--volume', 'Nope');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('1 test-disk-image-apfs');
    r = diskit('ls', hdiApfs, '--snapshot', 'Nope');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("no snapshot 'Nope'");
  });

  it('lookups on the real case-insensitive volume find names by their key hashes', async () => {
    const { FileDevice } = await import('@diskit/core/node');
    const { SliceDevice } = await import('@diskit/core');
    const { dmgDriver } = await import('@diskit/dmg');
    const file = await FileDevice.open(hdiApfs);
    try {
      const img = await dmgDriver.open(file);
      // The GPT's one partition (sfdisk: start 40, 20,504 sectors), as the README's blkx table says.
      const vol = (await apfsFilesystem.mount(new SliceDevice(img, 40 * 512, 20504 * 512))) as ApfsVolume;
      for (const n of ['file-a.txt', 'FILE-B.TXT', 'File-C.Txt']) expect((await vol.stat('/' + n)).size).toBe(7);
      expect(vol.lookupScans).toBe(0);
    } finally {
      await file.close();
    }
  });

  it('lookups on a case-insensitive volume ignore case', () => {
    const r = diskit('ls', '-l', '--json', hdiApfs, '/FILE-A.TXT');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ type: 'file', size: 7 });
  });
});

describeNeeding(existsSync(apple) ? [] : [apple], 'the dmgwiz images (an empty APFS volume in each codec)', () => {
  it.each(['zlib', 'bzip2', 'adc', 'lzfse', 'ro'])('%s: mounts, lists nothing, names its volume', (codec) => {
    const img = join(apple, `dmgwiz--input_${codec}.dmg`);
    expect(diskitList(img)).toEqual([]);
    const fs = JSON.parse(diskit('info', '--json', img).stdout).filesystem;
    expect(fs.type).toBe('apfs');
    expect(fs.volumes.length).toBe(1);
  });
});
