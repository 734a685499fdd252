import { rmSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync, existsSync, lstatSync } from 'node:fs';
import { describeWithTools, run } from '../../../test/tools.js';
import { makeTree, tempDir, xorrisoList, ourList, compareWithXorriso, mountIso, readAll, hostFiles, hostLinks, listTree, LONG_NAME, sevenZipPaths, isoinfoList } from './test/helpers.js';

let dir: string;
let src: string;

beforeAll(() => {
  dir = tempDir('read');
  src = join(dir, 'src');
  makeTree(src);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectContentsMatchExtraction(iso: string, extracted: string, names?: 'joliet' | 'rockridge' | 'iso'): Promise<number> {
  const { vol, dev } = await mountIso(iso, names);
  let n = 0;
  try {
    for (const [p, want] of hostFiles(extracted)) {
      const got = await readAll(vol, p);
      expect(Buffer.from(got).equals(want), p).toBe(true);
      n++;
    }
  } finally {
    await dev.close();
  }
  return n;
}

describeWithTools(['xorriso', 'osirrox', 'isoinfo', '7z', 'mkfifo'], 'reading ISOs made by xorriso -as mkisofs', () => {
  it('with -R -J: paths, types, sizes, modes and symlink targets match xorriso -find lsdl; contents match osirrox', async () => {
    const iso = join(dir, 'xo-rj.iso');
    run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-joliet-long', '-o', iso, src]);
    const ours = await ourList(iso);
    compareWithXorriso(ours, xorrisoList(iso));
    compareWithXorriso(ours, isoinfoList(iso));
    expect(ours.some((e) => e.path.endsWith('/level11/deep-file.txt'))).toBe(true);
    expect(ours.find((e) => e.name === LONG_NAME)).toBeTruthy();
    // the listing equals the source tree
    expect(ours.map((e) => e.path)).toEqual(listTree(src).map((p) => '/' + p).sort((a, b) => (a < b ? -1 : 1)));
    const links = hostLinks(src);
    for (const e of ours.filter((x) => x.type === 'symlink')) expect(e.target).toBe(links.get(e.path));
    const out = join(dir, 'xo-rj.x');
    run('osirrox', ['-indev', iso, '-extract', '/', out]);
    expect(await expectContentsMatchExtraction(iso, out)).toBeGreaterThan(40);
  });

  it('Rock Ridge 1.12 (-compliance new_rr: IEEE_1282, PX with inode numbers) matches xorriso', async () => {
    const iso = join(dir, 'xo-newrr.iso');
    run('xorriso', ['-compliance', 'new_rr', '-outdev', iso, '-map', src, '/', '-commit']);
    const { vol, dev } = await mountIso(iso);
    expect(vol.rockRidgeExtensions).toContain('IEEE_1282');
    await dev.close();
    compareWithXorriso(await ourList(iso), xorrisoList(iso));
  });

  it('Joliet names (-J -joliet-long, no RR) match 7z l and 7z x extracts the same bytes', async () => {
    const iso = join(dir, 'xo-j.iso');
    run('xorriso', ['-as', 'mkisofs', '-J', '-joliet-long', '-o', iso, src]);
    // xorriso always writes Rock Ridge too: force the Joliet tree
    const ours = await ourList(iso, 'joliet');
    const theirs = sevenZipPaths(iso);
    expect(ours.map((e) => e.path).sort()).toEqual(theirs);
    const out = join(dir, 'xo-j.x');
    run('7z', ['x', '-y', `-o${out}`, iso]);
    expect(await expectContentsMatchExtraction(iso, out, 'joliet')).toBeGreaterThan(40);
  });

  it('names=iso lists ISO names without ;1, like isoinfo -f', async () => {
    const iso = join(dir, 'xo-rj.iso');
    const ours = await ourList(iso, 'iso');
    const theirs = run('isoinfo', ['-f', '-i', iso]).split('\n').filter(Boolean).map((l) => l.replace(/;\d+$/, '').replace(/\.$/, '').replace(/\.\//g, '/')).sort();
    expect(ours.map((e) => e.path).sort()).toEqual(theirs);
  });
});

describeWithTools(['genisoimage', 'isoinfo', 'xorriso', 'osirrox', '7z'], 'reading ISOs made by genisoimage', () => {
  it('-R -J with relocated deep directories (RE/CL/PL): matches xorriso and isoinfo -R', async () => {
    const iso = join(dir, 'gen-rj.iso');
    run('genisoimage', ['-quiet', '-R', '-J', '-joliet-long', '-o', iso, src]);
    const ours = await ourList(iso);
    compareWithXorriso(ours, xorrisoList(iso));
    expect(ours.some((e) => e.path.endsWith('/level11/deep-file.txt'))).toBe(true);
    expect(ours.some((e) => e.path.includes('rr_moved/'))).toBe(false);
    const out = join(dir, 'gen-rj.x');
    run('osirrox', ['-indev', iso, '-extract', '/', out]);
    expect(await expectContentsMatchExtraction(iso, out)).toBeGreaterThan(40);
  });

  it('-J only: Joliet names match 7z l', async () => {
    const iso = join(dir, 'gen-j.iso');
    run('genisoimage', ['-quiet', '-J', '-o', iso, src]);
    const ours = await ourList(iso);
    const theirs = sevenZipPaths(iso);
    expect(ours.map((e) => e.path).sort()).toEqual(theirs);
  });

  it('no extensions: ISO names match isoinfo -f; contents match 7z x', async () => {
    const iso = join(dir, 'gen-plain.iso');
    run('genisoimage', ['-quiet', '-o', iso, src]);
    const { vol, dev } = await mountIso(iso);
    expect(vol.names).toBe('iso');
    await dev.close();
    const ours = await ourList(iso);
    const theirs = run('isoinfo', ['-f', '-i', iso]).split('\n').filter(Boolean).map((l) => l.replace(/;\d+$/, '').replace(/\.$/, '')).sort();
    expect(ours.map((e) => e.path).sort()).toEqual(theirs);
    const out = join(dir, 'gen-plain.x');
    run('7z', ['x', '-y', `-o${out}`, iso]);
    expect(await expectContentsMatchExtraction(iso, out)).toBeGreaterThan(5);
  });
});

describeWithTools(['xorriso', 'genisoimage'], 'path tables', () => {
  it('check() finds the L and M path tables of xorriso and genisoimage ISOs consistent with their trees', async () => {
    const { isoFormat } = await import('./formats.js');
    const { FileDevice } = await import('@diskit/core/node');
    for (const name of ['xo-rj.iso', 'xo-j.iso', 'gen-rj.iso', 'gen-j.iso', 'gen-plain.iso']) {
      const f = await FileDevice.open(join(dir, name));
      const img = await isoFormat.open(f);
      expect((await img.check!()).problems, name).toEqual([]);
      const ins = await img.inspect();
      expect(ins.structures.some((s) => s.children?.some((c) => c.name === 'M path table')), name).toBe(true);
      await f.close();
    }
  });
});

describeWithTools(['xorriso'], 'zisofs (Rock Ridge ZF)', () => {
  it('inflates zisofs-compressed files on read; sizes match xorriso', async () => {
    const { mkdirSync, writeFileSync, truncateSync } = await import('node:fs');
    const zs = join(dir, 'zsrc');
    mkdirSync(zs);
    const text = Buffer.from('compressible line of text\n'.repeat(20000));
    writeFileSync(join(zs, 'text'), text);
    writeFileSync(join(zs, 'zeros'), '');
    truncateSync(join(zs, 'zeros'), 200_000);
    const mixed = Buffer.alloc(150_000);
    for (let i = 0; i < mixed.length; i++) mixed[i] = i % 3 === 0 ? (i * 7) & 0xff : 0;
    writeFileSync(join(zs, 'mixed'), mixed);
    const iso = join(dir, 'z.iso');
    run('xorriso', ['-outdev', iso, '-map', zs, '/', '-set_filter_r', '--zisofs', '/', '--', '-commit']);
    expect(run('xorriso', ['-indev', iso, '-find', '/', '-exec', 'show_stream'])).toMatch(/zisofs-decode:pz/);
    const ours = await ourList(iso);
    compareWithXorriso(ours, xorrisoList(iso));
    const { vol, dev } = await mountIso(iso);
    expect((await vol.fileRuns('/text'))[0]!.length).toBeLessThan(text.length / 4);
    expect(Buffer.from(await readAll(vol, '/text')).equals(text)).toBe(true);
    expect(Buffer.from(await readAll(vol, '/zeros')).equals(Buffer.alloc(200_000))).toBe(true);
    expect(Buffer.from(await readAll(vol, '/mixed')).equals(mixed)).toBe(true);
    const f = await vol.openFile('/text');
    const part = new Uint8Array(1000);
    await f.read(part, 40_000);
    expect(Buffer.from(part).equals(text.subarray(40_000, 41_000))).toBe(true);
    await dev.close();
  });
});

describeWithTools(['genisoimage', 'isoinfo'], 'ISO 9660:1999 and levels', () => {
  it('reads -iso-level 4 (enhanced volume descriptor, long ISO names) and level 1 names like isoinfo -f', async () => {
    for (const level of ['1', '4']) {
      const iso = join(dir, `lvl${level}.iso`);
      run('genisoimage', ['-quiet', '-iso-level', level, '-o', iso, src]);
      const ours = await ourList(iso);
      const theirs = run('isoinfo', ['-f', '-i', iso]).split('\n').filter(Boolean).map((l) => l.replace(/;\d+$/, '').replace(/\.$/, '')).sort();
      expect(ours.map((e) => e.path).sort(), `level ${level}`).toEqual(theirs);
    }
    const { vol, dev } = await mountIso(join(dir, 'lvl4.iso'));
    expect(vol.descriptors.some((d) => d.kind === 'enhanced')).toBe(true);
    await dev.close();
  });
});

describeWithTools(['xorriso', 'genisoimage'], 'decode → encode on captured sectors', () => {
  it('volume descriptors, directory records and path tables of tool-made ISOs re-encode byte for byte', async () => {
    const { parseVolumeDescriptor, encodeVolumeDescriptor, parseDirRecord, encodeDirRecord, parsePathTable, encodePathTable } = await import('./structs.js');
    for (const name of ['xo-rj.iso', 'gen-rj.iso', 'gen-plain.iso']) {
      const b = readFileSync(join(dir, name));
      for (let s = 16; b[s * 2048 + 1] === 0x43 && b[s * 2048] !== 255; s++) {
        const sec = b.subarray(s * 2048, (s + 1) * 2048);
        if (sec[0] !== 1 && sec[0] !== 2) continue;
        const vd = parseVolumeDescriptor(sec);
        expect(Buffer.from(encodeVolumeDescriptor(vd, sec.subarray(883, 1395))).equals(sec), `${name} descriptor ${s}`).toBe(true);
        for (const [lba, be] of [[vd.lPathTable, false], [vd.mPathTable, true]] as const) {
          const t = b.subarray(lba * 2048, lba * 2048 + vd.pathTableSize);
          expect(Buffer.from(encodePathTable(parsePathTable(t, be, 0), be)).equals(t), `${name} path table`).toBe(true);
        }
        const root = parseDirRecord(vd.rootRecord);
        const d = b.subarray(root.extent * 2048, root.extent * 2048 + root.dataLength);
        let pos = 0, n = 0;
        while (pos < d.length) {
          if (d[pos] === 0) {
            pos = (Math.floor(pos / 2048) + 1) * 2048;
            continue;
          }
          const rec = d.subarray(pos, pos + d[pos]!);
          const r = parseDirRecord(rec);
          const su = 33 + r.nameLength + (r.nameLength % 2 === 0 ? 1 : 0);
          expect(Buffer.from(encodeDirRecord(r, rec.subarray(33, 33 + r.nameLength), rec.subarray(su))).equals(rec)).toBe(true);
          pos += rec.length;
          n++;
        }
        expect(n).toBeGreaterThan(5);
      }
    }
  });
});
