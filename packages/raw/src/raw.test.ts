import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { MemoryDevice, CorruptImageError, crc32 } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { readPartitionTable, parseMbr, encodeMbr, parseGptHeader, encodeGptHeader, parseGptEntry, encodeGptEntry, readMbr, rawDriver } from './index.js';

const tmp = mkdtempSync(join(tmpdir(), 'diskit-raw-'));
const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => execFileSync('node', [cli, ...args], { encoding: 'utf8' });

interface SfdiskPart { start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean; node: string }
function sfdiskJson(path: string): { label: string; sectorsize: number; partitions: SfdiskPart[] } {
  return JSON.parse(run('sfdisk', ['--json', path])).partitiontable;
}

describeWithTools(['sfdisk'], 'MBR against sfdisk', () => {
  const img = join(tmp, 'mbr.img');
  beforeAll(() => {
    execFileSync('truncate', ['-s', '64M', img]);
    run('sfdisk', ['-q', img], { input: 'label: dos\n,8M,83\n,8M,c,*\n,,5\n,4M,83\n,4M,7\n,2M,82\n' });
  });

  it('lists the same primary, extended and logical partitions', async () => {
    const ref = sfdiskJson(img);
    const dev = await FileDevice.open(img);
    const t = await readPartitionTable(dev);
    await dev.close();
    expect(t.scheme).toBe('mbr');
    expect(t.partitions.map((p) => ({ n: p.index, start: p.start / 512, size: p.size / 512, type: parseInt(p.type, 16).toString(16), boot: p.bootable === true })))
      .toEqual(ref.partitions.map((p) => ({ n: Number(p.node.replace(/.*img/, '')), start: p.start, size: p.size, type: p.type, boot: p.bootable === true })));
  });

  it('decodes and re-encodes every MBR and EBR sector byte for byte', async () => {
    const bytes = readFileSync(img);
    const dev = new MemoryDevice(new Uint8Array(bytes));
    const { structures } = await readMbr(dev);
    expect(structures.length).toBeGreaterThan(3);
    for (const s of structures) {
      const sector = bytes.subarray(s.offset, s.offset + 512);
      expect(Buffer.from(encodeMbr(parseMbr(sector))).equals(sector)).toBe(true);
    }
  });

  it('refuses an EBR chain that loops', async () => {
    const bytes = new Uint8Array(readFileSync(img));
    const dev = new MemoryDevice(bytes);
    const { structures } = await readMbr(dev);
    const firstEbr = structures.find((s) => s.name.startsWith('EBR'))!;
    // Point the first EBR's "next" entry back at itself (relative to the extended partition start).
    const ext = parseMbr(bytes.subarray(0, 512)).entries.find((e) => e.type === 5)!;
    const view = new DataView(bytes.buffer);
    view.setUint32(firstEbr.offset + 446 + 16 + 8, firstEbr.offset / 512 - ext.lbaStart, true);
    view.setUint8(firstEbr.offset + 446 + 16 + 4, 5);
    view.setUint32(firstEbr.offset + 446 + 16 + 12, 100, true);
    await expect(readMbr(dev)).rejects.toBeInstanceOf(CorruptImageError);
  });
});

describeWithTools(['sgdisk', 'sfdisk'], 'GPT against sgdisk and sfdisk', () => {
  const img = join(tmp, 'gpt.img');
  beforeAll(() => {
    execFileSync('truncate', ['-s', '48M', img]);
    run('sgdisk', ['-n1:2048:+8M', '-t1:ef00', '-c1:EFI system', '-n2:0:+16M', '-t2:8300', '-c2:Linux root', '-n3:0:0', '-t3:0700', '-c3:data', img]);
  });

  it('lists the same partitions, types, GUIDs and names', async () => {
    const ref = sfdiskJson(img);
    const dev = await FileDevice.open(img);
    const t = await readPartitionTable(dev);
    await dev.close();
    expect(t.scheme).toBe('gpt');
    expect(t.problems).toEqual([]);
    expect(t.partitions.map((p) => ({ start: p.start / 512, size: p.size / 512, type: p.type, uuid: p.uuid, name: p.name })))
      .toEqual(ref.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type, uuid: p.uuid, name: p.name })));
    // sgdisk -p prints the same names.
    const printed = run('sgdisk', ['-p', img]);
    for (const p of t.partitions) expect(printed).toContain(p.name!);
  });

  it('decodes and re-encodes headers and entries byte for byte', () => {
    const bytes = readFileSync(img);
    for (const off of [512, bytes.length - 512]) {
      const h = parseGptHeader(bytes.subarray(off, off + 512), off);
      expect(Buffer.from(encodeGptHeader(h)).equals(bytes.subarray(off, off + h.headerSize))).toBe(true);
    }
    for (let i = 0; i < 4; i++) {
      const raw = bytes.subarray(1024 + i * 128, 1024 + (i + 1) * 128);
      expect(Buffer.from(encodeGptEntry(parseGptEntry(raw))).equals(raw)).toBe(true);
    }
  });

  it('falls back to the backup header when the primary is damaged, and reports it', async () => {
    const bytes = new Uint8Array(readFileSync(img));
    bytes[512 + 60] ^= 0xff; // inside the disk GUID: header CRC no longer matches
    const t = await readPartitionTable(new MemoryDevice(bytes));
    expect(t.partitions).toHaveLength(3);
    expect(t.problems.some((p) => p.structure === 'GPT primary header' && /CRC32/.test(p.message))).toBe(true);
  });

  it('reports a damaged entry array CRC', async () => {
    const bytes = new Uint8Array(readFileSync(img));
    bytes[1024 + 128 * 2 + 60] ^= 1; // a name byte of entry 3, primary copy only
    const t = await readPartitionTable(new MemoryDevice(bytes));
    expect(t.problems.some((p) => /entry array CRC32/.test(p.message))).toBe(true);
    expect(t.partitions[2]!.name).toBe('data'); // taken from the intact backup
  });

  it('refuses an entry count the disk cannot hold without allocating it', async () => {
    const bytes = new Uint8Array(readFileSync(img));
    for (const off of [512, bytes.length - 512]) {
      const v = new DataView(bytes.buffer, off);
      v.setUint32(80, 0xffffffff, true);
      v.setUint32(16, 0, true);
      const sector = bytes.slice(off, off + 92);
      sector.fill(0, 16, 20);
      v.setUint32(16, crc32(sector), true);
    }
    await expect(readPartitionTable(new MemoryDevice(bytes))).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('diskit info --json lists the partitions', () => {
    const info = JSON.parse(diskit('info', '--json', img));
    expect(info.format).toBe('raw');
    expect(info.partitions.map((p: { name: string }) => p.name)).toEqual(['EFI system', 'Linux root', 'data']);
  });

  it('checksum policy: a GPT copy with a bad CRC32 is a warning on stderr naming it (sgdisk -v agrees it is damaged), an error for check', () => {
    const bytes = new Uint8Array(readFileSync(img));
    bytes[512 + 60] ^= 0xff; // inside the disk GUID: the primary header's CRC no longer matches
    const bad = join(tmp, 'gpt-bad-primary.img');
    writeFileSync(bad, bytes);
    const v = spawnSync('sgdisk', ['-v', bad], { encoding: 'utf8' });
    expect(v.stdout + v.stderr).toMatch(/Main header: ERROR[\s\S]*Backup header: OK/);
    const r = spawnSync('node', [cli, 'info', '--json', bad], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^diskit: warning: GPT primary header at offset 528: CRC32 0x[0-9a-f]+ does not match computed 0x[0-9a-f]+; using the backup copy$/m);
    expect(JSON.parse(r.stdout).partitions.map((p: { name: string }) => p.name)).toEqual(['EFI system', 'Linux root', 'data']);
    const chk = spawnSync('node', [cli, 'check', bad], { encoding: 'utf8' });
    expect(chk.status).toBe(1);
    expect(chk.stdout).toMatch(/^error: GPT primary header: CRC32 .*\(offset 528\)$/m);
    expect(chk.stderr).not.toMatch(/warning/);
    expect(spawnSync('node', [cli, 'info', img], { encoding: 'utf8' }).stderr).toBe('');
  });
});

describeWithTools(['xorriso'], 'isohybrid images', () => {
  it('are recognised as hybrid ISOs, not broken disks', async () => {
    const dir = join(tmp, 'hy');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'a.txt'), 'hello');
    const iso = join(tmp, 'hybrid.iso');
    run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-partition_offset', '16', '-append_partition', '2', '0xef', join(dir, 'a.txt'), dir]);
    const dev = await FileDevice.open(iso);
    const t = await readPartitionTable(dev);
    await dev.close();
    expect(t.hybridIso).toBe(true);
    expect(t.partitions.length).toBeGreaterThan(0);
    expect(t.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

describe('raw conversion', () => {
  it('copies a sparse 1 GiB image byte-identical and keeps it sparse', async () => {
    const src = join(tmp, 'sparse.img');
    const out = join(tmp, 'sparse.out.img');
    execFileSync('truncate', ['-s', '1G', src]);
    const fd = await FileDevice.open(src, { writable: true });
    const block = new Uint8Array(1 << 20).fill(0xab);
    for (const mib of [0, 3, 511, 1023]) await fd.write(block, mib << 20);
    await fd.close();
    diskit('convert', '-O', 'raw', src, out);
    expect(statSync(out).size).toBe(1 << 30);
    execFileSync('cmp', [src, out]); // throws on difference
    const used = statSync(out).blocks * 512;
    expect(used).toBeLessThan(8 << 20);
    expect(existsSync(out + '.tmp')).toBe(false);
  });

  it('refuses to overwrite an existing output without --force (exit code 2)', () => {
    const a = join(tmp, 'a.img');
    writeFileSync(a, new Uint8Array(4096));
    writeFileSync(join(tmp, 'b.img'), 'keep');
    let code = 0;
    try {
      diskit('convert', '-O', 'raw', a, join(tmp, 'b.img'));
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
    expect(readFileSync(join(tmp, 'b.img'), 'utf8')).toBe('keep');
  });

  it('raw driver refuses unknown -o options', async () => {
    await expect(rawDriver.create!(new MemoryDevice(512), new MemoryDevice(0, { growable: true }), { options: { bogus: '1' } })).rejects.toThrow(/bogus/);
  });
});
