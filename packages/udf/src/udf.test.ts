/**
 * UDF against real tools: genisoimage -udf bridge discs (populated, UDF 1.02) listed and extracted like
 * 7-Zip; mkudffs volumes of every revision and media type (VAT, sparable) read like udfinfo says.
 * (No kernel UDF driver or UDF FUSE filesystem here, so mkudffs volumes cannot be populated.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MemoryDevice, walk } from '@diskit/core';
import { describeWithTools, run } from '../../../test/tools.js';
import { UdfVolume } from './volume.js';
import { udfFilesystem } from './index.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => execFileSync('node', [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
let tree: string;
let bridge: string;
const files = new Map<string, Buffer>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'udf-'));
  tree = join(dir, 'tree');
  const add = (p: string, data: Buffer) => {
    mkdirSync(join(tree, p, '..'), { recursive: true });
    writeFileSync(join(tree, p), data);
    files.set('/' + p, data);
  };
  add('README.TXT', Buffer.from('read me\n'));
  add('empty', Buffer.alloc(0));
  add('sources/install.wim', randomBytes(1_500_000));
  add('sources/deep/er/still/deeper/leaf.txt', Buffer.from('leaf\n'));
  add('Ünïcødé ñame with spaces.txt', Buffer.from('unicode\n'));
  add('a-rather-long-file-name-that-goes-past-sixty-four-characters-for-sure-yes.txt', Buffer.from('long\n'));
  for (let i = 0; i < 300; i++) add(`many/file-${String(i).padStart(3, '0')}.dat`, Buffer.from(`${i}\n`.repeat(i)));
  symlinkSync('README.TXT', join(tree, 'link'));
  bridge = join(dir, 'bridge.iso');
  run('genisoimage', ['-quiet', '-udf', '-R', '-J', '-joliet-long', '-o', bridge, tree]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Cut the ISO9660 and Joliet root directories after the entry named `keep`: a stub tree, UDF left whole. */
function stubIso9660(img: Uint8Array, keep: string): void {
  const v = new DataView(img.buffer, img.byteOffset);
  for (let s = 16; s < 64; s++) {
    const d = s * 2048;
    const type = img[d]!;
    if (type === 255) break;
    if (type !== 1 && type !== 2) continue;
    const joliet = type === 2;
    const extent = v.getUint32(d + 156 + 2, true) * 2048;
    const length = v.getUint32(d + 156 + 10, true);
    const kept: Uint8Array[] = [];
    for (let at = extent, i = 0; at < extent + length && img[at]! > 0; at += img[at]!, i++) {
      const nameLen = img[at + 32]!;
      const raw = img.subarray(at + 33, at + 33 + nameLen);
      const name = joliet ? String.fromCharCode(...Array.from({ length: nameLen / 2 }, (_, k) => (raw[2 * k]! << 8) | raw[2 * k + 1]!)) : String.fromCharCode(...raw);
      // '.' and '..' stay, and the one entry kept; the root's other records are cut out.
      if (i < 2 || name.split(';')[0] === keep) kept.push(img.slice(at, at + img[at]!));
    }
    img.fill(0, extent, extent + length);
    let at = extent;
    for (const r of kept) {
      img.set(r, at);
      at += r.length;
    }
  }
}

/** `7z l -slt` as path → size (files) or -1 (folders). */
function sevenZip(path: string, type?: string): Map<string, number> {
  const out = run('7z', ['l', '-slt', ...(type ? [`-t${type}`] : []), path]);
  const m = new Map<string, number>();
  for (const block of out.split('\n\n')) {
    const p = /^Path = (.*)$/m.exec(block)?.[1];
    if (!p || p === path) continue;
    const folder = /^Folder = \+$/m.test(block);
    m.set('/' + p, folder ? -1 : Number(/^Size = (\d+)$/m.exec(block)?.[1] ?? 0));
  }
  return m;
}

describeWithTools(['genisoimage', '7z', 'mkudffs', 'udfinfo'], 'UDF', () => {
  it('a genisoimage -udf bridge disc: the UDF tree equals 7-Zip\'s (-tudf) listing and the source bytes', async () => {
    const vol = await UdfVolume.mount(new MemoryDevice(readFileSync(bridge), { readOnly: true }));
    const ours = new Map<string, number>();
    for await (const e of walk(vol)) ours.set(e.path, e.type === 'directory' ? -1 : e.size);
    expect(ours).toEqual(sevenZip(bridge, 'udf'));
    for (const [p, data] of files) {
      const dev = await vol.openFile(p);
      const b = new Uint8Array(dev.size);
      await dev.read(b, 0);
      expect(sha(b), p).toBe(sha(data));
    }
    expect((await vol.info()).udfRevision).toBe('1.02');
  });

  it('diskit ls/extract through the CLI list UDF first on a bridge disc (as 7-Zip does)', () => {
    const listed = JSON.parse(diskit('ls', '-R', '--json', bridge)) as { path: string; type: string; size: number }[];
    expect(listed.filter((e) => e.type === 'file').length).toBe(files.size + 1);
    const out = join(dir, 'x');
    diskit('extract', bridge, '/sources', out);
    expect(sha(readFileSync(join(out, 'install.wim')))).toBe(sha(files.get('/sources/install.wim')!));
    const info = JSON.parse(diskit('info', '--json', bridge));
    expect(JSON.stringify(info)).toMatch(/"udf"/);
  });

  it('a hybrid whose ISO9660 side holds only a README (as Windows install media) lists the UDF tree by default', () => {
    const img = new Uint8Array(readFileSync(bridge));
    stubIso9660(img, 'README.TXT');
    const stub = join(dir, 'stub.iso');
    writeFileSync(stub, img);
    const paths = (args: string[]) => (JSON.parse(diskit('ls', '-R', '--json', ...args, stub)) as { path: string }[]).map((e) => e.path);
    expect(paths([])).toContain('/sources/install.wim');
    expect(paths(['--fs', 'iso9660'])).toEqual(['/README.TXT']);
    expect(sevenZip(stub).has('/sources/install.wim')).toBe(true); // 7-Zip's choice too
    const info = diskit('info', '--json', stub);
    expect(info).toMatch(/"udf"/);
    expect(info).toMatch(/"iso9660"/);
  });

  it('mkudffs volumes of every revision and media type (VAT, sparable) mount, and agree with udfinfo', async () => {
    const cases: [string, string][] = [['hd', '0x0102'], ['hd', '0x0150'], ['hd', '0x0201'], ['cdrw', '0x0150'], ['cdrw', '0x0201'], ['dvdrw', '0x0201'], ['cdr', '0x0150'], ['cdr', '0x0201'], ['dvdr', '0x0250'], ['bdr', '0x0250'], ['bdr', '0x0260']];
    for (const [media, rev] of cases) {
      const img = join(dir, `mk-${media}-${rev}.img`);
      writeFileSync(img, Buffer.alloc(0));
      execFileSync('truncate', ['-s', '24M', img]);
      run('mkudffs', [`--media-type=${media}`, `--udfrev=${rev}`, '--label=DiskitTest', img]);
      const udfinfo = Object.fromEntries(run('udfinfo', [img]).trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
      const dev = new MemoryDevice(readFileSync(img), { readOnly: true });
      expect(await udfFilesystem.probe(dev), `${media} ${rev}`).toBeGreaterThan(90);
      const vol = await UdfVolume.mount(dev);
      const info = await vol.info();
      expect(info.logicalVolume, `${media} ${rev}`).toBe(udfinfo.lvid);
      expect(info.blockSize, `${media} ${rev}`).toBe(Number(udfinfo.blocksize));
      expect(`0x0${String(info.udfRevision).replace('.', '')}`, `${media} ${rev}`).toBe(rev);
      // Sparable media carry the UDF 1.50 "Non-Allocatable Space" file, as the kernel lists it.
      const names = (await vol.readdir('/')).map((e) => e.name);
      expect(names, `${media} ${rev}`).toEqual(media === 'cdrw' || media === 'dvdrw' ? (rev === '0x0150' ? ['Non-Allocatable Space'] : names) : []);
      if (media === 'cdr' || media === 'dvdr' || media === 'bdr') expect(info.partitionMaps).toContain('virtual');
      if (media === 'cdrw' || media === 'dvdrw') expect(info.partitionMaps).toContain('sparable');
    }
  });

  it('checksum policy: a damaged main descriptor sequence or first anchor is read around (reserve, other anchor) with a warning; check says error', async () => {
    const img = new Uint8Array(readFileSync(bridge));
    const v = new DataView(img.buffer);
    const mainAt = v.getUint32(256 * 2048 + 20, true) * 2048; // the AVDP's main VDS extent
    const listing = (p: string) => spawnSync('node', [cli, 'ls', '-R', '--json', '--fs', 'udf', p], { encoding: 'utf8' });
    const want = JSON.parse(listing(bridge).stdout);
    for (const [what, at, structure, offset] of [
      ['main VDS', mainAt + 100, 'UDF main volume descriptor sequence', mainAt],
      ['first anchor', 256 * 2048 + 40, 'UDF anchor volume descriptor pointer', 256 * 2048],
    ] as const) {
      const bad = img.slice();
      bad[at] ^= 0xff; // inside the descriptor, after its tag: its CRC no longer matches
      const p = join(dir, `bad-${what.replace(' ', '-')}.iso`);
      writeFileSync(p, bad);
      const r = listing(p);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(want);
      expect(r.stderr).toMatch(new RegExp(`^diskit: warning: ${structure} at offset ${offset}: .*CRC`, 'm'));
      const chk = spawnSync('node', [cli, 'check', p], { encoding: 'utf8' });
      expect(chk.status).toBe(1);
      expect(chk.stdout).toMatch(new RegExp(`^error: ${structure}: .*\\(offset ${offset}\\)$`, 'm'));
    }
    expect(listing(bridge).stderr).toBe('');
  });

  it('damage is a typed error naming the structure: a bad descriptor CRC, a file entry out of place', async () => {
    const img = readFileSync(bridge);
    // Flip a byte inside the root directory's file entry (after its tag): its CRC no longer matches.
    const vol = await UdfVolume.mount(new MemoryDevice(new Uint8Array(img), { readOnly: true }));
    const vs = vol.vs;
    const bad = new Uint8Array(img);
    const fsdSector = vs.partitions[0]!.start + vs.lv.fsd.block;
    bad[fsdSector * 2048 + 100] ^= 0xff;
    await expect(UdfVolume.mount(new MemoryDevice(bad, { readOnly: true }))).rejects.toThrow(/UDF file set descriptor at offset \d+: expected descriptor CRC/);
  });
});
