import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { MemoryDevice } from '@diskit/core';
import { ExfatVolume } from './index.js';
import { gunzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { describeNeeding, describeWithTools, sharedImagesDir, hasTool } from '../../../test/tools.js';
import { tempDir, makeTree, makeFat, hostList, sevenZipList, hostHashes, sorted, sh, type Listed } from './test/helpers.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });

function lsJson(img: string, ...extra: string[]): Listed[] {
  const r = diskit('ls', '-R', '--json', ...extra, img);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return sorted((JSON.parse(r.stdout) as Listed[]).map((e) => ({ path: e.path, type: e.type, size: e.type === 'directory' ? 0 : e.size })));
}

function extracted(img: string, out: string, ...extra: string[]): Map<string, string> {
  const r = diskit('extract', ...extra, img, '/', out);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return hostHashes(out);
}

let dir: string;
let src: string;
let part: string;
const PART_START = 1 << 20;
const PART_KIB = 40 << 10;

describeWithTools(['mkfs.fat', 'mcopy', 'minfo', '7z', 'sfdisk', 'sgdisk', 'qemu-img', 'fsck.exfat'], 'diskit ls / extract / info on FAT through partition tables and containers', () => {
  beforeAll(() => {
    dir = tempDir('cli');
    src = join(dir, 'src');
    makeTree(src, 2048);
    part = join(dir, 'part.img');
    makeFat(part, PART_KIB, 16, src, ['-s', '4']);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A disk with the FAT image at 1 MiB (2 MiB in a logical partition), in a partition of `type` made by `table`. */
  function disk(name: string, table: 'mbr' | 'gpt' | 'logical', type: string): string {
    const img = join(dir, name);
    sh('truncate', ['-s', `${PART_KIB + 4096}K`, img]);
    if (table === 'mbr') sh('sfdisk', ['-q', img], `label: dos\nstart=2048, size=${PART_KIB * 2}, type=${type}\n`);
    else if (table === 'logical') sh('sfdisk', ['-q', img], `label: dos\nstart=2048, size=${PART_KIB * 2 + 4096}, type=5\nstart=4096, size=${PART_KIB * 2}, type=${type}\n`);
    else sh('sgdisk', ['-n', `1:2048:+${PART_KIB * 2 - 1}`, '-t', `1:${type}`, img]);
    sh('dd', [`if=${part}`, `of=${img}`, 'bs=1M', `seek=${table === 'logical' ? 2 : 1}`, 'conv=notrunc', 'status=none']);
    return img;
  }

  it('a superfloppy (no partition table): ls -R --json equals the tree and 7z l; extract is byte-identical; info names FAT16', () => {
    expect(lsJson(part)).toEqual(hostList(src));
    expect(lsJson(part)).toEqual(sevenZipList(part));
    expect(extracted(part, join(dir, 'x-super'))).toEqual(hostHashes(src));
    const info = JSON.parse(diskit('info', '--json', part).stdout);
    expect(info.filesystem).toMatchObject({ type: 'fat', fatType: 'FAT16', clusterSize: 2048 });
    // ls -l --json adds the DOS attributes and the creation and access times
    const long = JSON.parse(diskit('ls', '-l', '--json', part).stdout) as { path: string; attributes: string[]; birthtime: string; atime: string; mtime: string }[];
    const hello = long.find((e) => e.path === '/hello.txt')!;
    expect(hello.attributes).toEqual(['archive']);
    expect(hello.atime.slice(0, 10)).toBe(hello.mtime.slice(0, 10));
    expect(Math.abs(Date.parse(hello.birthtime) - Date.parse(hello.mtime))).toBeLessThan(5000);
    // dump: the BPB as mkfs.fat wrote it (minfo reads the same fields)
    const dump = JSON.parse(diskit('dump', '--json', part).stdout);
    expect(dump.filesystem.structures.map((s: { name: string }) => s.name)).toEqual(['boot sector (BPB)', 'FAT 1', 'FAT 2', 'root directory', 'FAT summary']);
    const bpb = dump.filesystem.structures[0].fields;
    const minfo = sh('minfo', ['-i', part, '::']);
    expect(minfo).toContain(`sector size: ${bpb.bytesPerSector} bytes`);
    expect(minfo).toContain(`cluster size: ${bpb.sectorsPerCluster} sectors`);
    expect(minfo).toContain(`reserved (boot) sectors: ${bpb.reservedSectors}`);
    expect(minfo).toContain(`sectors per fat: ${bpb.fatSize16}`);
    expect(minfo).toContain(`max available root directory slots: ${bpb.rootEntries}`);
    expect(minfo).toContain(`serial number: ${info.filesystem.serial.replace("-", "")}`);
  });

  for (const [name, table, type] of [
    ['mbr-01.img', 'mbr', '1'], ['mbr-04.img', 'mbr', '4'], ['logical-0e.img', 'logical', 'e'], ['mbr-06.img', 'mbr', '6'], ['mbr-0e.img', 'mbr', 'e'], ['mbr-0b.img', 'mbr', 'b'], ['mbr-0c.img', 'mbr', 'c'], ['mbr-ef.img', 'mbr', 'ef'],
    ['gpt-basic.img', 'gpt', '0700'], ['gpt-esp.img', 'gpt', 'ef00'],
  ] as const) {
    it(`inside ${table === 'logical' ? 'an MBR logical partition' : table.toUpperCase()} (type ${type}): ls -R --json equals the tree; extract is byte-identical`, () => {
      const img = disk(name, table, type);
      expect(lsJson(img)).toEqual(hostList(src));
      expect(lsJson(img, '--partition', table === 'logical' ? '5' : '1')).toEqual(hostList(src));
      if (name === 'mbr-0e.img') expect(extracted(img, join(dir, `x-${name}`))).toEqual(hostHashes(src));
    });
  }

  it('in a VHD made by qemu-img convert -O vpc (dynamic) and a VHDX: ls and extract equal the tree', () => {
    const raw = disk('for-vhd.img', 'mbr', 'c');
    const vhd = join(dir, 'disk.vhd');
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', raw, vhd]);
    expect(lsJson(vhd)).toEqual(hostList(src));
    expect(extracted(vhd, join(dir, 'x-vhd'))).toEqual(hostHashes(src));
    const vhdx = join(dir, 'disk.vhdx');
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, vhdx]);
    expect(lsJson(vhdx)).toEqual(hostList(src));
  });

  it('check: clean on the image (exit 0); a planted cross-link is an error (exit 1)', () => {
    let r = diskit('check', part);
    expect(r.stdout).toMatch(/No errors/);
    expect(r.status).toBe(0);
    const bad = join(dir, 'crosslinked.img');
    const b = readFileSync(part);
    // the root directory of this FAT16: point the second file's first cluster at the first one's
    const rootAt = (b.readUInt16LE(14) + b[16]! * b.readUInt16LE(22)) * 512;
    const files: number[] = [];
    for (let at = rootAt; files.length < 2; at += 32) if (b[at]! > 0x20 && b[at]! !== 0xe5 && (b[at + 11]! & 0x18) === 0 && b.readUInt32LE(at + 28) > 0) files.push(at);
    b.writeUInt16LE(b.readUInt16LE(files[0]! + 26), files[1]! + 26);
    writeFileSync(bad, b);
    r = diskit('check', bad);
    expect(r.stdout).toMatch(/error: (cluster chain: )?fat: cross-link/);
    expect(r.status).toBe(1);
  });

  it('exFAT inside MBR (type 07): ls -R --json equals the source tree of the fixture; info says exfat', () => {
    const img = join(dir, 'exfat-mbr.img');
    writeFileSync(join(dir, 'exfat.img'), gunzipSync(readFileSync(resolve(__dirname, '../../../test-images/exfat/small.img.gz'))));
    sh('truncate', ['-s', '10M', img]);
    sh('sfdisk', ['-q', img], 'label: dos\nstart=2048, size=16384, type=7\n');
    sh('dd', [`if=${join(dir, 'exfat.img')}`, `of=${img}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
    const manifest = JSON.parse(readFileSync(resolve(__dirname, '../../../test-images/exfat/small.json'), 'utf8')) as Listed[];
    expect(lsJson(img)).toEqual(sorted(manifest.map((m) => ({ path: m.path, type: m.type, size: m.size }))));
    const info = JSON.parse(diskit('info', '--json', img).stdout);
    expect(info.filesystem).toMatchObject({ type: 'exfat', label: 'DISKIT-EXF' });
    expect(diskit('check', img).status).toBe(0);
    // extract: every file's sha256 equals the source's
    const out = join(dir, 'x-exfat');
    const hashes = extracted(img, out);
    expect(hashes).toEqual(new Map(manifest.filter((m) => m.type === 'file').map((m) => [m.path, (m as Listed & { sha256: string }).sha256])));
  });

  it('exFAT: a file whose valid data length is below its size extracts with a hole (zero extent not written)', async () => {
    const img = join(dir, 'exfat-vdl.img');
    const b = gunzipSync(readFileSync(resolve(__dirname, '../../../test-images/exfat/small.img.gz')));
    // find sparse-tail.bin's stream extension (name entry after it) and set ValidDataLength = 4096
    const name = Buffer.from('sparse-tail.bin', 'utf16le');
    const at = b.indexOf(name) - 2 - 32 * 2; // name entry at +64 from the file entry, chars at +2
    expect(b[at]).toBe(0x85);
    b.writeBigUInt64LE(4096n, at + 32 + 8);
    let sum = 0;
    for (let i = 0; i < (b[at + 1]! + 1) * 32; i++) if (i !== 2 && i !== 3) sum = ((((sum & 1) << 15) | (sum >>> 1)) + b[at + i]!) & 0xffff;
    b.writeUInt16LE(sum, at + 2);
    writeFileSync(img, b);
    expect(sh('fsck.exfat', ['-n', img])).toMatch(/clean/);
    const out = join(dir, 'x-vdl');
    const r = diskit('extract', img, '/sparse-tail.bin', out);
    expect(r.status, r.stderr).toBe(0);
    const got = readFileSync(join(out, 'sparse-tail.bin'));
    expect(got.length).toBe(300000);
    expect(got.subarray(4096).every((x) => x === 0)).toBe(true);
    // the head is the file's first 4096 bytes as they were
    const orig = await ExfatVolume.mount(new MemoryDevice(new Uint8Array(gunzipSync(readFileSync(resolve(__dirname, '../../../test-images/exfat/small.img.gz'))))));
    const head = new Uint8Array(4096);
    await (await orig.openFile('/sparse-tail.bin')).read(head, 0);
    expect(Buffer.from(head).equals(got.subarray(0, 4096))).toBe(true);
    expect(statSync(join(out, 'sparse-tail.bin')).blocks * 512).toBeLessThan(300000);
  });

  it('in a DMG written by diskit (UDZO): ls equals the tree', () => {
    const raw = disk('for-dmg.img', 'mbr', 'c');
    const dmg = join(dir, 'disk.dmg');
    const r = diskit('convert', '-O', 'dmg', raw, dmg);
    expect(r.status, r.stderr).toBe(0);
    expect(lsJson(dmg)).toEqual(hostList(src));
  });
});

const dmgDir = join(sharedImagesDir(), 'dmg');
const compression = hasTool('7z') ? readdirSafe(dmgDir).filter((f) => /^compression-.*\.dmg$/.test(f)) : [];
function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

describeNeeding([...(hasTool('7z') ? [] : ['7z']), ...(compression.length ? [] : [dmgDir])], 'the real FAT partitions in hdiutil DMGs list as 7-Zip lists them', () => {
  let out: string;
  beforeAll(() => {
    out = tempDir('dmg');
    sh('7z', ['x', '-tdmg', `-o${out}`, join(dmgDir, 'compression-zlib.dmg')]);
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('each partition of every compression-*.dmg equals 7z l of the partition 7z x -tdmg took out', () => {
    const parts = readdirSync(out).filter((f) => /Windows_FAT/.test(f)).sort();
    expect(parts.length).toBe(2);
    for (const f of compression) {
      parts.forEach((p, i) => {
        const theirs = sevenZipList(join(out, p));
        expect(theirs.length).toBeGreaterThan(2);
        expect(lsJson(join(dmgDir, f), '--partition', String(i + 1)), `${f} partition ${i + 1}`).toEqual(theirs);
      });
    }
    // and the bytes: README.txt of the second partition as 7-Zip extracts it
    const x = tempDir('dmgx');
    sh('7z', ['x', `-o${x}`, join(out, parts[1]!)]);
    const ours = join(x, 'ours');
    const r = diskit('extract', '--partition', '2', join(dmgDir, 'compression-lzfse.dmg'), '/', ours);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(ours, 'README.txt')).equals(readFileSync(join(x, 'README.txt')))).toBe(true);
    rmSync(x, { recursive: true, force: true });
  });

  it('info reports FAT12 by cluster count although hdiutil named the partitions FAT_16', () => {
    const info = JSON.parse(diskit('info', '--json', join(dmgDir, 'compression-zlib.dmg')).stdout);
    expect(info.filesystem).toMatchObject({ type: 'fat', fatType: 'FAT12', label: 'NEW VOLUME', clusterSize: 512 });
  });
});
