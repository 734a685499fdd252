/**
 * Files in formats diskit does not read are refused by name, never taken for a raw disk: images
 * made by qemu-img (and headers qemu-img itself recognises, for Bochs and cloop), a Nero .nrg and a
 * cdrdao TOC named .cue. `-f raw` still reads their bytes.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';

const cli = resolve(__dirname, '../bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'diskit-foreign-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A Bochs growing redolog header as block/bochs.c reads it: 1 MiB disk, 64 KiB extents. */
function bochs(): Buffer {
  const b = Buffer.alloc(512 + 16 * 4, 0xff);
  b.fill(0, 0, 512);
  b.write('Bochs Virtual HD Image', 0, 'latin1');
  b.write('Redolog', 32, 'latin1');
  b.write('Growing', 48, 'latin1');
  b.writeUInt32LE(0x00020000, 64); // version
  b.writeUInt32LE(512, 68); // header size
  b.writeUInt32LE(16, 72); // catalog entries
  b.writeUInt32LE(512, 76); // bitmap bytes
  b.writeUInt32LE(65536, 80); // extent bytes
  b.writeBigUInt64LE(BigInt(1 << 20), 88); // disk size
  return b;
}

/** A cloop v2 file: the shell preamble, block size and count, the offsets of one block. */
function cloop(): Buffer {
  const b = Buffer.alloc(128 + 8 + 16 + 16);
  b.write('#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n', 0, 'latin1');
  b.writeUInt32BE(65536, 128);
  b.writeUInt32BE(1, 132);
  b.writeBigUInt64BE(152n, 136);
  b.writeBigUInt64BE(168n, 144);
  return b;
}

function expectRefused(file: string, name: RegExp): void {
  for (const cmd of ['info', 'check', 'map']) {
    const r = diskit(cmd, file);
    expect(r.status, `${cmd} ${file}: ${r.stdout}`).toBe(1);
    expect(r.stderr).toMatch(name);
    expect(r.stderr).toMatch(/not supported|not a disk image diskit reads/);
  }
  const out = join(tmp, 'out.img');
  const c = diskit('convert', '-O', 'raw', file, out);
  expect(c.status).toBe(1);
  expect(existsSync(out)).toBe(false);
  // -f raw: the bytes, as asked
  const raw = diskit('info', '--json', '-f', 'raw', file);
  expect(raw.status, raw.stderr).toBe(0);
  expect(JSON.parse(raw.stdout).format).toBe('raw');
}

describeWithTools(['qemu-img'], 'foreign formats are refused by name (qemu-img names them too)', () => {
  const made: [string, string[], string, RegExp][] = [
    ['vmdk', ['-f', 'vmdk'], 'vmdk', /a VMDK \(sparse extent\) image/],
    ['stream.vmdk', ['-f', 'vmdk', '-o', 'subformat=streamOptimized'], 'vmdk', /a VMDK \(sparse extent\) image/],
    ['flat.vmdk', ['-f', 'vmdk', '-o', 'subformat=monolithicFlat'], 'vmdk', /a VMDK \(descriptor\) image/],
    ['qcow2', ['-f', 'qcow2'], 'qcow2', /a qcow2 image/],
    ['qcow', ['-f', 'qcow'], 'qcow', /a qcow image/],
    ['vdi', ['-f', 'vdi'], 'vdi', /a VDI \(VirtualBox\) image/],
    ['parallels', ['-f', 'parallels'], 'parallels', /a Parallels image/],
    ['qed', ['-f', 'qed'], 'qed', /a QED image/],
  ];
  for (const [file, args, qemuName, name] of made) {
    it(`${file} (qemu-img create ${args.join(' ')})`, () => {
      const p = join(tmp, `x.${file}`);
      run('qemu-img', ['create', '-q', ...args, p, '4M']);
      expect(JSON.parse(run('qemu-img', ['info', '--output=json', p])).format).toBe(qemuName);
      expectRefused(p, name);
    });
  }

  it('Bochs and cloop headers that qemu-img reads', () => {
    for (const [file, bytes, qemuName, name] of [['x.bochs', bochs(), 'bochs', /a Bochs image/], ['x.cloop', cloop(), 'cloop', /a cloop image/]] as const) {
      const p = join(tmp, file);
      writeFileSync(p, bytes);
      expect(JSON.parse(run('qemu-img', ['info', '--output=json', p])).format).toBe(qemuName);
      expectRefused(p, name);
    }
  });
});

describe('foreign formats qemu-img does not read', () => {
  it('a Nero .nrg (NER5 and NERO footers)', () => {
    for (const [tag, footer] of [['v2', Buffer.concat([Buffer.from('NER5'), Buffer.alloc(8)])], ['v1', Buffer.concat([Buffer.from('NERO'), Buffer.alloc(4)])]] as const) {
      const p = join(tmp, `disc-${tag}.nrg`);
      const body = Buffer.alloc(64 << 10);
      body.writeUInt32BE(300 * 2048, 0);
      footer.writeUInt32BE(body.length, footer.length - 4);
      writeFileSync(p, Buffer.concat([body, Buffer.from('CUEX'), Buffer.alloc(28), Buffer.from('END!'), Buffer.alloc(4), footer]));
      expectRefused(p, /a Nero NRG image/);
    }
  });

  it('a cdrdao TOC named .cue', () => {
    const p = join(tmp, 'disc.cue');
    writeFileSync(p, 'CD_ROM\n\n// Track 1\nTRACK MODE1\nNO COPY\nDATAFILE "disc.bin" 00:10:00 // length in bytes: 1505280\n');
    writeFileSync(join(tmp, 'disc.bin'), Buffer.alloc(1505280));
    expectRefused(p, /a cdrdao TOC image/);
    // without the session line, with a comment after the mode
    const q = join(tmp, 'audio.cue');
    writeFileSync(q, '// made by cdrdao\nTRACK AUDIO // track 1\nFILE "audio.wav" 0\n');
    expectRefused(q, /a cdrdao TOC image/);
  });
});

describeWithTools(['gzip', 'xz', 'bzip2', '7z'], 'compressed and archived disk images are refused with what to do', () => {
  it('.img.gz, .img.xz, .img.bz2, .zip and .7z of a raw disk', () => {
    const img = join(tmp, 'disk.img');
    const b = Buffer.alloc(1 << 20);
    b.writeUInt16LE(0xaa55, 510);
    writeFileSync(img, b);
    const cases: [string, () => void, RegExp][] = [
      ['disk.img.gz', () => run('gzip', ['-k', '-f', img]), /a gzip-compressed file: .*gunzip/],
      ['disk.img.xz', () => run('xz', ['-k', '-f', img]), /an xz-compressed file: .*unxz/],
      ['disk.img.bz2', () => run('bzip2', ['-k', '-f', img]), /a bzip2-compressed file: .*bunzip2/],
      ['disk.zip', () => run('7z', ['a', '-tzip', '-bd', join(tmp, 'disk.zip'), img]), /a zip archive file: .*unzip/],
      ['disk.7z', () => run('7z', ['a', '-t7z', '-bd', join(tmp, 'disk.7z'), img]), /a 7z archive file: .*7z x/],
    ];
    for (const [name, make, message] of cases) {
      make();
      expectRefused(join(tmp, name), message);
    }
  });
});
