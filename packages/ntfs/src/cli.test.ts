import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';
import { manifest, tempDir, unpackFull, mountFile, cleanup } from './test/fixture.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });

let dir: string;
let img: string;

interface JsonEntry { path: string; type: string; size: number; target?: string; mtime?: string }

function lsJson(image: string, ...extra: string[]): JsonEntry[] {
  const r = diskit('ls', '-R', '--json', image, ...extra);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as JsonEntry[];
}

/** The manifest as `ls --json` should show it (the 10,000 files of /many are checked by rule). */
function expected() {
  return manifest().filter((m) => m.kind !== 's').map((m) => ({ path: m.path, type: { f: 'file', d: 'directory', l: 'symlink' }[m.kind as 'f'], size: m.kind === 'f' ? m.size : 0, target: m.kind === 'l' ? m.hash : undefined }));
}
const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

function checkListing(entries: JsonEntry[]): void {
  const many = entries.filter((e) => e.path.startsWith('/many/'));
  expect(many.length).toBe(10000);
  const rest = entries.filter((e) => !e.path.startsWith('/many/')).map((e) => ({ path: e.path, type: e.type, size: e.size, target: e.target }));
  expect(rest.sort(byPath)).toEqual(expected().sort(byPath));
}

/** `7z l -slt` records: path, folder flag, size, attributes, mtime. */
function sevenZip(image: string) {
  const out = run('7z', ['l', '-slt', '-sns', image]);
  const body = out.slice(out.indexOf('----------\n') + 11);
  return body.split('\n\n').map((block) => Object.fromEntries(block.split('\n').filter((l) => l.includes(' = ')).map((l) => [l.slice(0, l.indexOf(' = ')), l.slice(l.indexOf(' = ') + 3)])))
    .filter((r) => r.Path !== undefined && !r.Path.startsWith('[SYSTEM]'));
}

describeWithTools(['xz', '7z', 'ntfsls', 'ntfscat', 'sfdisk', 'sgdisk', 'qemu-img'], 'diskit CLI on NTFS (ntfs-3g fixture)', () => {
  beforeAll(() => {
    dir = tempDir('cli');
    img = unpackFull(dir);
  });
  afterAll(() => cleanup(dir));

  it('ls -R --json equals the source tree', () => {
    checkListing(lsJson(img));
  });

  it('7z l -slt agrees: paths, types, sizes, mtimes, streams', () => {
    const theirs = sevenZip(img);
    const ours = new Map(lsJson(img).map((e) => [e.path, e]));
    const streams = manifest().filter((m) => m.kind === 's');
    const files = theirs.filter((r) => !r.Path!.includes(':'));
    expect(files.map((r) => '/' + r.Path).sort()).toEqual([...ours.keys()].sort());
    for (const r of files) {
      const e = ours.get('/' + r.Path)!;
      // 7-Zip lists reparse points (attribute L) as what they are underneath; ntfs-3g's Interix links are system files.
      if (e.type === 'symlink') expect(/L/.test(r.Attributes!) || /S/.test(r.Attributes!), r.Path).toBe(true);
      else expect(r.Folder === '+' ? 'directory' : 'file', r.Path).toBe(e.type);
      if (e.type === 'file') expect(Number(r.Size), r.Path).toBe(e.size);
      if (e.mtime) expect(r.Modified!.slice(0, 19).replace(' ', 'T'), r.Path).toBe(e.mtime.slice(0, 19));
    }
    expect(theirs.filter((r) => r.Path!.includes(':')).map((r) => [`/${r.Path}`, Number(r.Size)]).sort()).toEqual(streams.map((s) => [s.path, s.size]).sort());
  });

  it('dump: boot sector, $MFT with its runs, the system files\' records', () => {
    const r = diskit('dump', '--json', img);
    expect(r.status, r.stderr).toBe(0);
    const fs = JSON.parse(r.stdout).filesystem.structures as { name: string; offset: number; fields: Record<string, unknown>; children?: { name: string; fields: { attributes?: string[] } }[] }[];
    expect(fs.map((s) => s.name)).toEqual(['boot sector', 'backup boot sector', '$MFT', '$MFTMirr', 'system files']);
    expect(fs[0]!.fields).toMatchObject({ clusterSize: 4096, mftRecordSize: 1024 });
    expect((fs[2]!.fields.runs as unknown[]).length).toBeGreaterThanOrEqual(2);
    const sys = fs[4]!.children!;
    expect(sys[3]!.name).toBe('record 3 $Volume');
    expect(sys[3]!.fields.attributes).toContain('$VOLUME_NAME');
  });

  it('ls --streams lists each file\'s streams as path:name with their sizes', () => {
    const streams = lsJson(img, '--streams').filter((e) => e.type === 'stream').map((e) => [e.path, e.size]);
    expect(streams.sort()).toEqual(manifest().filter((m) => m.kind === 's').map((m) => [m.path, m.size]).sort());
    // And extracted by name: `file:stream`.
    const out = join(dir, 'streams-out');
    for (const m of manifest().filter((x) => x.kind === 's')) {
      const r = diskit('extract', img, m.path, out);
      expect(r.status, r.stderr).toBe(0);
      const name = m.path.slice(m.path.lastIndexOf('/') + 1);
      expect(createHash('sha256').update(readFileSync(join(out, name))).digest('hex'), m.path).toBe(m.hash);
    }
  });

  it('extract: every file has the source sha256, links their targets', () => {
    const out = join(dir, 'out');
    const r = diskit('extract', img, '/', out);
    expect(r.status, r.stderr).toBe(0);
    for (const m of manifest()) {
      const p = join(out, m.path);
      if (m.kind === 'l') expect(readlinkSync(p), m.path).toBe(m.hash);
      if (m.kind !== 'f') continue;
      if (m.path === '/big.bin') {
        // Holes stay holes: 5 GiB apparent, a few blocks on disk.
        expect(statSync(p).size).toBe(m.size);
        expect(statSync(p).blocks * 512).toBeLessThan(1 << 20);
        continue;
      }
      expect(createHash('sha256').update(readFileSync(p)).digest('hex'), m.path).toBe(m.hash);
    }
  });

  it('ntfsls and ntfscat agree (names of every directory, bytes of files and streams)', async () => {
    const { vol } = await mountFile(img);
    for (const d of ['/', '/dir', '/Case', '/packed', '/many', '/fill']) {
      const theirs = run('ntfsls', ['-a', '-p', d, img]).split('\n').filter((n) => n && n !== '.' && n !== '..' && !n.startsWith('$'));
      const ours = (await vol.readdir(d)).map((e) => e.name);
      expect(ours.sort(), d).toEqual(theirs.sort());
    }
    const bytes = async (dev: { size: number; read(b: Uint8Array, o: number): Promise<void> }) => {
      const b = new Uint8Array(dev.size);
      await dev.read(b, 0);
      return Buffer.from(b);
    };
    for (const p of ['/fragmented.txt', '/packed/numbers.txt', '/packed/zeros.bin', '/sparse.bin', '/ünïcödé 日本語 ✓.txt', '/Case/README']) {
      const theirs = spawnSync('ntfscat', [img, p], { maxBuffer: 1 << 28 }).stdout;
      expect((await bytes(await vol.openFile(p))).equals(theirs), p).toBe(true);
    }
    const theirs = spawnSync('ntfscat', ['-a', '0x80', '-n', 'beta', img, '/streams.txt'], { maxBuffer: 1 << 28 }).stdout;
    expect((await bytes(await vol.openStream('/streams.txt', 'beta'))).equals(theirs)).toBe(true);
  });

  it('inside MBR and GPT disks, and VHD and VHDX containers', () => {
    const fs = readFileSync(img);
    const disk = (name: string, label: (p: string) => void) => {
      const p = join(dir, name);
      writeFileSync(p, '');
      spawnSync('truncate', ['-s', `${fs.length + (2 << 20)}`, p]);
      label(p);
      const fd = openSync(p, 'r+');
      writeSync(fd, fs, 0, fs.length, 1 << 20);
      closeSync(fd);
      return p;
    };
    const mbr = disk('mbr.img', (p) => run('sfdisk', ['-q', p], { input: 'label: dos\n2048,,7\n' }));
    const gpt = disk('gpt.img', (p) => run('sgdisk', ['-n1:2048:+' + (fs.length >> 10) + 'K', '-t1:0700', p]));
    const vhd = join(dir, 'disk.vhd');
    const vhdx = join(dir, 'disk.vhdx');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', mbr, vhd]);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', gpt, vhdx]);
    for (const image of [mbr, gpt, vhd, vhdx]) checkListing(lsJson(image));
    const r = diskit('info', '--json', vhdx);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('"label": "diskit ntfs"');
  });
});
