import { beforeAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { MemoryDevice } from '@diskit/core';
import { dmgDriver, ChunkType, type DmgImage } from '@diskit/dmg';
import { describeNeeding, hasTool, sharedImagesDir } from '../../../test/tools.js';
import { existsSync } from 'node:fs';
import { buildHfs, type BuildFile } from './test/build-hfs.js';
import { CHUNK, chunksOf, decmpfsXattr, lzfseOfLzvn, lzvnEncode, sampleText, tableResourceFork, zlibResourceFork } from './test/compress.js';
import { diskit, diskitList, hashTree, sevenZipHashes, sevenZipList, volumeHashes } from './test/judge.js';
import { HfsVolume } from './hfs-volume.js';

const tmp = mkdtempSync(join(tmpdir(), 'diskit-decmpfs-'));
const lzfseDmg = join(sharedImagesDir(), 'dmg/compression-lzfse.dmg');
const fixture = join(__dirname, '../../../test-images/hfsplus/compressed.hfs.gz');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Real Apple streams: the LZFSE chunks hdiutil wrote into a ULFO image (one holds a bare LZVN block). */
interface AppleStream { src: Uint8Array; size: number; start: number }
async function appleStreams(): Promise<{ lzfse: AppleStream; lzvn: AppleStream }> {
  const b = new Uint8Array(readFileSync(lzfseDmg));
  const img = (await dmgDriver.open(new MemoryDevice(b))) as DmgImage;
  const chunks = img.chunks.filter((c) => c.type === ChunkType.LZFSE).map((c) => ({ src: b.slice(c.fileOffset, c.fileOffset + c.fileLength), size: c.length, start: c.start }));
  const isVn = (c: { src: Uint8Array }) => c.src[3] === 0x6e;
  const vn = chunks.find(isVn)!;
  const n = new DataView(vn.src.buffer).getUint32(8, true);
  return { lzfse: chunks.find((c) => !isVn(c))!, lzvn: { src: vn.src.slice(12, 12 + n), size: vn.size, start: vn.start } };
}

/** What those chunks decode to, by 7-Zip's reading of the DMG (its items in order are the disk). */
function sevenZipDisk(): Uint8Array {
  return new Uint8Array(execFileSync('7z', ['x', '-so', '-tdmg', lzfseDmg], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }));
}

const missing = [...(hasTool('7z') ? [] : ['7z']), ...(existsSync(lzfseDmg) ? [] : [lzfseDmg])];

describeNeeding(missing, 'decmpfs (types 1, 3, 4, 7, 8, 11, 12), forks, attributes, hard links against 7-Zip', () => {
  const files: BuildFile[] = [];
  /** What each file must read as. */
  const expected = new Map<string, string>();
  let image = '';

  beforeAll(async () => {
    const apple = await appleStreams();
    const add = (name: string, content: Uint8Array, f: Omit<BuildFile, 'name'>) => {
      files.push({ name, ...f });
      expected.set('/' + name, sha(content));
    };
    const text = (n: number, seed: number) => sampleText(n, seed);
    const t1 = new TextEncoder().encode('stored inline, type 1\n');
    add('t01-inline-stored.txt', t1, { compressed: true, xattrs: { 'com.apple.decmpfs': decmpfsXattr(1, t1.length, t1) } });
    const t3 = text(20_000, 3);
    add('t03-zlib-inline.txt', t3, { compressed: true, xattrs: { 'com.apple.decmpfs': decmpfsXattr(3, t3.length, new Uint8Array(deflateSync(t3))) } });
    const t3s = Uint8Array.from({ length: 900 }, (_, i) => (i * 73) & 255);
    add('t03-zlib-inline-marked-stored.bin', t3s, { compressed: true, xattrs: { 'com.apple.decmpfs': decmpfsXattr(3, t3s.length, Uint8Array.from([0xff, ...t3s])) } });
    const t4 = text(5 * CHUNK + 1234, 4);
    add('t04-zlib-rsrc.txt', t4, { compressed: true, rsrc: zlibResourceFork(t4), xattrs: { 'com.apple.decmpfs': decmpfsXattr(4, t4.length) } });
    const disk = sevenZipDisk();
    const vnOut = disk.subarray(apple.lzvn.start, apple.lzvn.start + apple.lzvn.size);
    add('t07-lzvn-inline-apple.bin', vnOut, { compressed: true, xattrs: { 'com.apple.decmpfs': decmpfsXattr(7, apple.lzvn.size, apple.lzvn.src) } });
    const t7 = text(3000, 7);
    add('t07-lzvn-inline.txt', t7, { compressed: true, xattrs: { 'com.apple.decmpfs': decmpfsXattr(7, t7.length, lzvnEncode(t7)) } });
    const t8 = text(3 * CHUNK + 77, 8);
    const t8blocks = chunksOf(t8).map((c, i) => (i === 1 ? Uint8Array.from([0x06, ...c]) : lzvnEncode(c))); // block 1 stored
    add('t08-lzvn-rsrc.txt', t8, { compressed: true, rsrc: tableResourceFork(t8blocks), xattrs: { 'com.apple.decmpfs': decmpfsXattr(8, t8.length) } });
    const fseOut = disk.subarray(apple.lzfse.start, apple.lzfse.start + apple.lzfse.size);
    add('t11-lzfse-inline-apple.bin', fseOut, { compressed: true, xattrs: { 'com.apple.decmpfs': decmpfsXattr(11, apple.lzfse.size, apple.lzfse.src) } });
    add('t12-lzfse-rsrc-apple.bin', fseOut, { compressed: true, rsrc: tableResourceFork([apple.lzfse.src]), xattrs: { 'com.apple.decmpfs': decmpfsXattr(12, apple.lzfse.size) } });
    const t12 = text(2 * CHUNK + 5000, 12);
    add('t12-lzfse-rsrc.txt', t12, { compressed: true, rsrc: tableResourceFork(chunksOf(t12).map(lzfseOfLzvn)), xattrs: { 'com.apple.decmpfs': decmpfsXattr(12, t12.length) } });
    // Not compressed: forks in many pieces (extents overflow), a resource fork and attributes, hard links.
    const frag = text(40 * 4096 + 10, 40);
    add('fragmented.txt', frag, { data: frag, fragments: 20 });
    const plain = text(5000, 5);
    add('with-forks.txt', plain, { data: plain, rsrc: text(3000, 6), xattrs: { 'com.apple.FinderInfo': new Uint8Array(32).fill(1), 'org.example.note': new TextEncoder().encode('a note') } });
    const shared = new TextEncoder().encode('one file, two names\n');
    add('hardlink-a', shared, { hardLinkTo: 77 });
    add('hardlink-b', shared, { hardLinkTo: 77 });
    image = join(tmp, 'decmpfs.hfs');
    const bytes = buildHfs('Compressed', files, { iNodes: { 77: { name: 'iNode77', data: shared } } });
    writeFileSync(image, bytes);
    // The fuzz harness's HFS+ seed is this volume: test-images/make-hfsplus.sh refreshes it.
    if (process.env.DISKIT_WRITE_FIXTURES === '1') writeFileSync(fixture, gzipSync(bytes, { level: 9 }));
  });

  it('decmpfs files read decompressed through the Volume API, at their uncompressed size', async () => {
    const vol = await HfsVolume.mount(new MemoryDevice(new Uint8Array(readFileSync(image))));
    expect(await volumeHashes(vol)).toEqual(expected);
    const t4 = await vol.stat('/t04-zlib-rsrc.txt');
    expect(t4).toMatchObject({ type: 'file', size: 5 * CHUNK + 1234, attributes: ['compressed'] });
    // Compressed files hide their decmpfs attribute and resource fork, as macOS does.
    expect(await vol.streams('/t04-zlib-rsrc.txt')).toEqual([]);
    expect(await vol.streams('/with-forks.txt')).toEqual([
      { name: 'rsrc', size: 3000, kind: 'resource-fork' },
      { name: 'com.apple.FinderInfo', size: 32, kind: 'xattr' },
      { name: 'org.example.note', size: 6, kind: 'xattr' },
    ]);
    const note = await vol.openStream('/with-forks.txt', 'org.example.note');
    const b = new Uint8Array(note.size);
    await note.read(b, 0);
    expect(new TextDecoder().decode(b)).toBe('a note');
    const a = await vol.stat('/hardlink-a');
    const bb = await vol.stat('/hardlink-b');
    expect(a.inode).toBe(bb.inode);
    expect(a.nlink).toBe(2);
  });

    it('7z l and diskit ls list the same sizes; 7z x and diskit extract give the same bytes', async () => {
      // 7-Zip does not follow HFS+ file hard links: it lists and extracts the empty link files,
      // where macOS (and diskit) show the iNode's data. Everything else must agree.
      const links = new Set(['/hardlink-a', '/hardlink-b']);
      const ref = sevenZipList(image, 'hfs');
      expect(ref.map((r) => r.path).sort()).toEqual([...expected.keys()].sort());
      expect(ref.filter((r) => links.has(r.path)).map((r) => r.size)).toEqual([0, 0]);
      const ours = diskitList(image);
      expect(ours.filter((r) => links.has(r.path)).map((r) => r.size)).toEqual([20, 20]);
      const drop = <T extends { path: string }>(l: T[]) => l.filter((r) => !links.has(r.path));
      expect(drop(ours)).toEqual(drop(ref).map((r) => ({ path: r.path, type: r.type, size: r.size })));
      const out = join(tmp, 'x');
      diskit('extract', image, '/', out);
      expect(hashTree(out)).toEqual(expected);
      // 7-Zip lists types 1, 11 and 12 at the right size but cannot decode them: it writes empty
      // files (and the raw resource fork beside). Their truth is the text put in, or 7-Zip's own
      // reading of the DMG the Apple LZFSE stream came from.
      const undecoded = new Set(['/t01-inline-stored.txt', '/t11-lzfse-inline-apple.bin', '/t12-lzfse-rsrc-apple.bin', '/t12-lzfse-rsrc.txt']);
      const theirs = sevenZipHashes(image, 'hfs');
      for (const l of [...links, ...undecoded]) expect([l, theirs.get(l)]).toEqual([l, sha(new Uint8Array(0))]);
      const files = (m: Map<string, string>) => new Map([...m].filter(([k]) => !links.has(k) && !undecoded.has(k) && !k.includes(':')));
      expect(files(theirs)).toEqual(files(expected));
      expect(files(theirs).size).toBe(8);
      // 7-Zip writes the resource fork and each attribute as "name:stream": diskit's streams match.
      const vol = await HfsVolume.mount(new MemoryDevice(new Uint8Array(readFileSync(image))));
      for (const st of await vol.streams('/with-forks.txt')) {
        const dev = await vol.openStream('/with-forks.txt', st.name);
        const b = new Uint8Array(dev.size);
        await dev.read(b, 0);
        expect([st.name, sha(b)]).toEqual([st.name, theirs.get(`/with-forks.txt:${st.name}`)]);
      }
    });

  it('the committed fuzz seed (test-images/hfsplus/compressed.hfs.gz) holds the same files', async () => {
    const vol = await HfsVolume.mount(new MemoryDevice(new Uint8Array(gunzipSync(readFileSync(fixture)))));
    expect(await volumeHashes(vol)).toEqual(expected);
  });
});
