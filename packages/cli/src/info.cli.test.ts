/**
 * `diskit info` for people: no JSON in the human form, aligned key: value lines, human sizes with
 * bytes, tables as columns, every partition with the filesystem found on it. Images: a GPT disk made
 * by sgdisk with an xorriso ISO in partition 2, the same disk as a DMG and as a VHDX (qemu-img),
 * and a hybrid ISO (xorriso with an appended EFI partition and El Torito entries).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';

const cli = resolve(__dirname, '../bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });
let tmp: string, gpt: string, hybrid: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'diskit-info-'));
  const src = join(tmp, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'hello.txt'), 'hello\n');
  writeFileSync(join(src, 'boot.bin'), Buffer.alloc(2048, 0x90));
  const iso = join(tmp, 'data.iso');
  run('xorriso', ['-as', 'mkisofs', '-R', '-V', 'DATAVOL', '-o', iso, src]);
  gpt = join(tmp, 'gpt.img');
  run('truncate', ['-s', '16M', gpt]);
  run('sgdisk', ['-n', '1:2048:+2M', '-t', '1:ef00', '-c', '1:EFI', '-n', '2:0:+8M', '-c', '2:payload', gpt]);
  const fd = openSync(gpt, 'r+');
  writeSync(fd, readFileSync(iso), 0, undefined, 6144 * 512); // partition 2 starts at sector 6144
  closeSync(fd);
  const efi = join(tmp, 'efi.img');
  run('truncate', ['-s', '1M', efi]);
  hybrid = join(tmp, 'hybrid.iso');
  run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-V', 'HYBRID', '-o', hybrid, '-b', 'boot.bin', '-no-emul-boot', '-boot-load-size', '4',
    '-append_partition', '2', '0xef', efi, '-partition_offset', '16', src]);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** info (and dump) in human form: never JSON. */
function humanInfo(img: string): string {
  const d = diskit('dump', img);
  expect(d.status, d.stderr).toBe(0);
  expect(d.stdout).not.toMatch(/[{}]|\[\{|"\w+":/);
  const r = diskit('info', img);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).not.toMatch(/[{}]|\[\{|"\w+":/);
  return r.stdout;
}

describeWithTools(['sgdisk', 'xorriso', 'qemu-img'], 'diskit info in human form', () => {
  it('a GPT raw disk: the partition table with the filesystem and label on each partition', () => {
    const s = humanInfo(gpt);
    expect(s).toMatch(/^virtual size: +16\.0 MiB \(16777216 bytes\)$/m);
    expect(s).toMatch(/^partition table: gpt$/m);
    expect(s).toMatch(/^ +# +start +size +type +name +filesystem +label$/m);
    expect(s).toMatch(/^ +1 +1048576 +2\.00 MiB +EFI System +EFI$/m);
    expect(s).toMatch(/^ +2 +3145728 +8\.00 MiB +Linux filesystem +payload +iso9660 +DATAVOL$/m);
    expect(s).toMatch(/^filesystem: iso9660 \(partition 2\)$/m);
    // the JSON form keeps the facts and gains each partition's filesystem
    const j = JSON.parse(diskit('info', '--json', gpt).stdout);
    expect(j.partitions[1].filesystem).toEqual({ type: 'iso9660', label: 'DATAVOL' });
    expect(j.filesystem.volumeId).toBe('DATAVOL');
  });

  it('the same disk as a DMG: the blkx table as columns, checksums as "crc32 …"', () => {
    const dmg = join(tmp, 'gpt.dmg');
    expect(diskit('convert', '-O', 'dmg', gpt, dmg).status).toBe(0);
    const s = humanInfo(dmg);
    expect(s).toMatch(/^blkx:\n +# +id +name +start +size +compression/m);
    expect(s).toMatch(/^data checksum: +crc32 [0-9a-f]{8}$/m);
    expect(s).toMatch(/^ +2 +3145728 +8\.00 MiB +Linux filesystem +payload +iso9660 +DATAVOL$/m);
  });

  it('the same disk as a VHDX made by qemu-img', () => {
    const vhdx = join(tmp, 'gpt.vhdx');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', gpt, vhdx]);
    const s = humanInfo(vhdx);
    expect(s).toMatch(/^format: +vhdx \(dynamic\)$/m);
    expect(s).toMatch(/^block size: +\d.* MiB \(\d+ bytes\)$/m);
    expect(s).toMatch(/^ +2 +3145728 +8\.00 MiB +Linux filesystem +payload +iso9660 +DATAVOL$/m);
  });

  it('a hybrid ISO: El Torito entries and partitions as columns', () => {
    const s = humanInfo(hybrid);
    expect(s).toMatch(/^partition table: mbr \(isohybrid\)$/m);
    expect(s).toMatch(/^boot entries:\n +platform +media +bootable +load rba +sector count\n +x86 +no-emulation +yes +\d+ +4$/m);
    expect(s).toMatch(/^ +1 +32768 .* iso9660 +HYBRID$/m);
    expect(s).toMatch(/^volume id: +HYBRID$/m);
  });
});
