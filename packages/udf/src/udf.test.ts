/**
 * UDF against real tools: genisoimage -udf bridge discs (populated, UDF 1.02) listed and extracted like
 * 7-Zip; mkudffs volumes of every revision and media type (VAT, sparable) read like udfinfo says.
 * (No kernel UDF driver or UDF FUSE filesystem here, so mkudffs volumes cannot be populated.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
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

  it('diskit ls/extract through the CLI list UDF first on a bridge disc (as 7-Zip does); --fs iso9660 picks the other tree', () => {
    const listed = JSON.parse(diskit('ls', '-R', '--json', bridge)) as { path: string; type: string; size: number }[];
    expect(listed.filter((e) => e.type === 'file').length).toBe(files.size + 1);
    const out = join(dir, 'x');
    diskit('extract', bridge, '/sources', out);
    expect(sha(readFileSync(join(out, 'install.wim')))).toBe(sha(files.get('/sources/install.wim')!));
    const info = JSON.parse(diskit('info', '--json', bridge));
    expect(JSON.stringify(info)).toMatch(/"udf"/);
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
