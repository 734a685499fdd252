import { beforeAll, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWithTools, run, sharedImagesDir } from '../../../test/tools.js';
import { diskit, diskitList, diskitListTimes, hashTree, sevenZipHashes, sevenZipList, type Item } from './test/judge.js';

const tmp = mkdtempSync(join(tmpdir(), 'diskit-hfsplus-'));
const shared = sharedImagesDir();

/** The hdiutil images holding HFS+: bare (whole disk), inside GPT, inside an Apple Partition Map. */
const IMAGES = [
  'dmg/raw.dmg', 'dmg/gpt.dmg', 'dmg/zlib-compressed.dmg', 'dmg/encrypted.dmg',
  'apple/hdi-mac--test-disk-image-hfsp.dmg', 'apple/dmgwiz--input_non_null_data_offset.dmg',
];

/** 7-Zip's mode string without set-id and sticky bits (diskit's long listing does not show them). */
const plainMode = (m: string) => m.slice(0, 10).replace(/[st]/g, 'x').replace(/[ST]/g, '-');

function expectSameListing(ours: Item[], ref: Item[]): void {
  expect(ours.map((i) => ({ path: i.path, type: i.type, size: i.size }))).toEqual(ref.map((i) => ({ path: i.path, type: i.type, size: i.size })));
}

describeWithTools(['7z', 'qemu-img'], 'HFS+ in hdiutil images against 7-Zip', () => {
  for (const name of IMAGES) {
    const image = join(shared, name);
    it(`${name}: ls -R --json lists what 7z l -slt lists; extract gives 7z x's bytes`, () => {
      expect(existsSync(image)).toBe(true);
      const ref = sevenZipList(image);
      expect(ref.length).toBeGreaterThan(2);
      expectSameListing(diskitList(image), ref);
      // Modification times (HFS+ keeps seconds since 1904, UTC).
      const times = new Map(diskitListTimes(image).map((i) => [i.path, i.mtime]));
      for (const r of ref) if (r.mtime) expect([r.path, times.get(r.path)]).toEqual([r.path, r.mtime]);
      // Modes, as ls -l shows them.
      const long = diskit('ls', '-R', '-l', image).trim().split('\n');
      const ours = new Map(long.map((l) => [l.slice(l.indexOf(' /') + 1).replace(/ -> .*$/, ''), l.slice(0, 10)]));
      for (const r of ref) if (r.mode) expect([r.path, ours.get(r.path)]).toEqual([r.path, plainMode(r.mode)]);
      // diskit check: the catalog's counts, threads, order and forks agree (hdiutil made them).
      expect(diskit('check', image)).toBe('No errors were found on the image.\n');
      const out = join(tmp, name.replace(/\W/g, '_'));
      diskit('extract', image, '/', out);
      expect(hashTree(out)).toEqual(sevenZipHashes(image));
    });

    it(`${name}: the same listing through convert -O raw and a VHD made from it`, () => {
      const img = join(tmp, name.replace(/\W/g, '_') + '.img');
      const vhd = img.replace(/\.img$/, '.vhd');
      diskit('convert', '-O', 'raw', image, img);
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', img, vhd]);
      const want = diskitList(image);
      expect(diskitList(img)).toEqual(want);
      expect(diskitList(vhd)).toEqual(want);
    });
  }

  it('info names the partition map and the volume', () => {
    const apm = JSON.parse(diskit('info', '--json', join(shared, 'apple/dmgwiz--input_non_null_data_offset.dmg')));
    expect(apm.partitionScheme).toBe('apm');
    expect(apm.partitions.map((p: { type: string }) => p.type)).toEqual(['Apple_partition_map', 'Apple_HFS', 'Apple_Free']);
    expect(apm.filesystem).toMatchObject({ type: 'hfsplus', volumeName: 'SquidMan 1.5', blockSize: 4096, signature: 'H+' });
    const gpt = JSON.parse(diskit('info', '--json', join(shared, 'apple/hdi-mac--test-disk-image-hfsp.dmg')));
    expect(gpt.partitionScheme).toBe('gpt');
    expect(gpt.filesystem).toMatchObject({ type: 'hfsplus', volumeName: 'test-disk-image-hfsp', fileCount: 3 });
    const journaled = JSON.parse(diskit('info', '--json', join(shared, 'dmg/raw.dmg')));
    expect(journaled.filesystem).toMatchObject({ volumeName: 'CD DVD', journaled: true, journal: { empty: true } });
  });
});

describeWithTools(['qemu-img'], 'the journal', () => {
  it('info tells an empty journal from one with transactions waiting (which is never replayed)', async () => {
    const img = join(tmp, 'journal.img');
    diskit('convert', '-O', 'raw', join(shared, 'dmg/raw.dmg'), img);
    const before = JSON.parse(diskit('info', '--json', img)).filesystem;
    expect(before.journal).toMatchObject({ empty: true, size: 524288 });
    // Move the journal's end past its start, as a crash between commit and checkpoint leaves it.
    const bytes = new Uint8Array(readFileSync(img));
    const v = new DataView(bytes.buffer);
    const jh = before.journal.offset as number;
    const le = v.getUint32(jh, true) === 0x4a4e4c78;
    const start = le ? v.getUint32(jh + 8, true) : v.getUint32(jh + 12);
    if (le) v.setUint32(jh + 16, start + 4096, true);
    else v.setUint32(jh + 20, start + 4096);
    writeFileSync(img, bytes);
    expect(JSON.parse(diskit('info', '--json', img)).filesystem.journal).toMatchObject({ empty: false });
    // Read as it is on disk: the listing is unchanged.
    expect(diskitList(img)).toEqual(diskitList(join(shared, 'dmg/raw.dmg')));
  });
});

describeWithTools(['7z', 'xorriso'], 'HFS+ made by xorriso -hfsplus (APM hybrid ISOs) against 7-Zip', () => {
  const tree = join(tmp, 'tree');
  const isos: Record<string, string> = {};
  beforeAll(() => {
    mkdirSync(tree);
    writeFileSync(join(tree, 'hello.txt'), 'hello, world\n');
    writeFileSync(join(tree, 'empty'), '');
    let deep = tree;
    for (let i = 0; i < 40; i++) deep = join(deep, `level ${i}`);
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'bottom.txt'), 'deep\n'.repeat(1000));
    const long = 'ünïcödé — 日本語のファイル名 — Ελληνικά — ' + 'long '.repeat(30);
    writeFileSync(join(tree, long.slice(0, 240) + '.txt'), 'x'.repeat(300_000));
    mkdirSync(join(tree, 'Ça et là'));
    writeFileSync(join(tree, 'Ça et là', 'Résumé.TXT'), 'résumé');
    writeFileSync(join(tree, 'Ça et là', 'résumé.txt'), 'other résumé');
    writeFileSync(join(tree, 'Zebra'), 'z');
    writeFileSync(join(tree, 'apple'), 'a');
    symlinkSync('hello.txt', join(tree, 'link'));
    symlinkSync('level 0/level 1/../../Ça et là', join(tree, 'dirlink'));
    symlinkSync('/nowhere/at/all', join(tree, 'dangling'));
    const big = new Uint8Array(3 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = i >> 12;
    writeFileSync(join(tree, 'big.bin'), big);
    for (const bs of ['512', '2048']) {
      isos[bs] = join(tmp, `hfs-${bs}.iso`);
      run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-hfsplus', '-apm-block-size', bs, '-o', isos[bs]!, tree]);
    }
  });

  for (const bs of ['512', '2048']) {
    it(`lists and extracts what 7-Zip does (APM blocks of ${bs})`, () => {
      const info = JSON.parse(diskit('info', '--json', isos[bs]!));
      expect(info.partitionScheme).toBe('apm');
      const hfs = info.partitions.find((p: { type: string }) => p.type === 'Apple_HFS');
      const ref = sevenZipList(isos[bs]!, 'hfs');
      expect(ref.length).toBeGreaterThan(40);
      const ours = diskitList(isos[bs]!, '--partition', String(hfs.index));
      expect(diskit('check', isos[bs]!)).toBe('No errors were found on the image.\n');
      expectSameListing(ours, ref);
      expect(ours.some((i) => i.path.includes('日本語'))).toBe(true);
      const out = join(tmp, `x-${bs}`);
      diskit('extract', '--partition', String(hfs.index), isos[bs]!, '/', out);
      const theirs = sevenZipHashes(isos[bs]!, 'hfs');
      expect(hashTree(out)).toEqual(theirs);
      // And the tree's own bytes. Names differ where xorriso changed them: the second of two names
      // equal without case gets a '_' (HFS+ is case-insensitive), its own decomposition of Greek.
      expect([...theirs.values()].sort()).toEqual([...hashTree(tree).values()].sort());
      expect(theirs.has('/Ça et là/résumé.txt_'.normalize('NFD'))).toBe(true);
    });
  }

  it('looks names up by the volume rules: case-insensitive, composed or decomposed', () => {
    const hfs = JSON.parse(diskit('info', '--json', isos['512']!)).partitions.find((p: { type: string }) => p.type === 'Apple_HFS').index;
    const cat = (p: string) => diskit('ls', '-l', '--partition', String(hfs), isos['512']!, p);
    expect(cat('/HELLO.txt')).toMatch(/13 .* hello\.txt/);
    // Typed composed (as a keyboard gives it), stored decomposed, in another case.
    expect(cat('/ça ET LÀ/RÉSUMÉ.txt'.normalize('NFC'))).toMatch(new RegExp(/ 8 .*Résumé\.TXT/.source.normalize('NFD')));
    expect(cat('/Ça et là/résumé.TXT_')).toMatch(new RegExp(/ 14 .*résumé\.txt_/.source.normalize('NFD')));
    expect(cat('/dirlink')).toMatch(/-> level 0\/level 1\/\.\.\/\.\.\/Ça et là/);
    // tree draws the same folders; extract takes a composed path to one file.
    const tree = diskit('tree', '--partition', String(hfs), isos['512']!);
    expect(tree).toContain('├── link -> hello.txt');
    expect(tree).toContain('└── bottom.txt');
    const one = join(tmp, 'one');
    diskit('extract', '--partition', String(hfs), isos['512']!, '/Ça et là/Résumé.TXT'.normalize('NFC'), one);
    expect(hashTree(one).size).toBe(1);
  });
});
