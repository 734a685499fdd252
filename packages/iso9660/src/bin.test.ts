import { rmSync } from 'node:fs';
import { it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { MemoryDevice, readBytes } from '@diskit/core';
import { AtomicOutput, FileDevice } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { buildIso } from './node.js';
import { binFormat, isoFormat } from './formats.js';
import { cueSheet, encodeMode1, edc, RAW_SECTOR } from './cdsector.js';
import { IsoVolume } from './reader/index.js';
import { tempDir } from './test/helpers.js';

let dir: string;
let iso: Uint8Array;

beforeAll(async () => {
  dir = tempDir('bin');
  const src = join(dir, 'src');
  mkdirSync(src);
  const data = new Uint8Array(200_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  writeFileSync(join(src, 'data.bin'), data);
  writeFileSync(join(src, 'hello.txt'), 'hello\n');
  const sink = new MemoryDevice(0, { growable: true });
  await buildIso(src, sink, { sourceDateEpoch: 1_600_000_000 });
  iso = sink.bytes.slice();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function writeBin(path: string): Promise<void> {
  const out = await AtomicOutput.create(path, { force: true });
  await binFormat.create!(new MemoryDevice(iso, { readOnly: true }), out);
  await out.commit();
}

describeWithTools(['bchunk'], 'BIN/CUE (2352-byte sectors)', () => {
  it('bchunk turns our .bin + cueSheet() back into the same ISO', async () => {
    const bin = join(dir, 'disc.bin');
    await writeBin(bin);
    expect(readFileSync(bin).length).toBe((iso.length / 2048) * RAW_SECTOR);
    writeFileSync(join(dir, 'disc.cue'), cueSheet('disc.bin'));
    run('bchunk', ['disc.bin', 'disc.cue', 'track'], { cwd: dir });
    const back = readFileSync(join(dir, 'track01.iso'));
    expect(back.length).toBe(iso.length);
    expect(Buffer.compare(back, Buffer.from(iso))).toBe(0);
  });
});

it('sectors carry sync, BCD MSF header, EDC and ECC; open() gives the 2048-byte user data; check() verifies EDC', async () => {
  const bin = join(dir, 'disc2.bin');
  await writeBin(bin);
  const raw = readFileSync(bin);
  expect([...raw.subarray(0, 12)]).toEqual([0, ...new Array(10).fill(0xff), 0]);
  expect([...raw.subarray(12, 16)]).toEqual([0x00, 0x02, 0x00, 0x01]); // 00:02:00, mode 1
  const s75 = raw.subarray(75 * RAW_SECTOR);
  expect([...s75.subarray(12, 16)]).toEqual([0x00, 0x03, 0x00, 0x01]);
  expect(binFormat.probe({ head: raw.subarray(0, 65536), tail: raw.subarray(raw.length - 512), size: raw.length })).toBeGreaterThan(50);
  expect(isoFormat.probe({ head: raw.subarray(0, 65536), tail: raw.subarray(raw.length - 512), size: raw.length })).toBe(0);
  // EDC is CRC32/0xD8018001 over bytes 0..0x80F; a known-answer check on a zero sector's ECC
  const z = new Uint8Array(RAW_SECTOR);
  encodeMode1(new Uint8Array(2048), 0, z);
  expect(edc(z, 0, 0x810)).toBe(new DataView(z.buffer).getUint32(0x810, true));
  const f = await FileDevice.open(bin);
  const img = await binFormat.open(f);
  expect(img.variant).toBe('mode1/2352');
  expect(img.size).toBe(iso.length);
  expect(Buffer.compare(Buffer.from(await readBytes(img, 0, img.size)), Buffer.from(iso))).toBe(0);
  expect(Buffer.compare(Buffer.from(await readBytes(img, 2000, 5000)), Buffer.from(iso.subarray(2000, 7000)))).toBe(0);
  expect((await img.check!()).problems).toEqual([]);
  // the filesystem inside mounts through the BIN image
  const vol = await IsoVolume.mount(img);
  expect((await vol.readdir('/')).map((e) => e.name)).toEqual(['data.bin', 'hello.txt']);
  await f.close();
  raw[5 * RAW_SECTOR + 100] ^= 1;
  const img2 = await binFormat.open(new MemoryDevice(new Uint8Array(raw), { readOnly: true }));
  const rep = await img2.check!();
  expect(rep.problems.map((p) => p.message)).toEqual(['sector 5 EDC mismatch']);
});

it('reads MODE2/2352 form 1 sectors (user data at 24)', async () => {
  const n = iso.length / 2048;
  const raw = new Uint8Array(n * RAW_SECTOR);
  for (let s = 0; s < n; s++) {
    const o = s * RAW_SECTOR;
    encodeMode1(iso.subarray(s * 2048, (s + 1) * 2048), s, raw.subarray(o, o + RAW_SECTOR));
    raw[o + 15] = 2;
    raw.copyWithin(o + 24, o + 16, o + 16 + 2048);
    raw.fill(0, o + 16, o + 24);
  }
  const img = await binFormat.open(new MemoryDevice(raw, { readOnly: true }));
  expect(img.variant).toBe('mode2/2352');
  expect(Buffer.compare(Buffer.from(await readBytes(img, 0, img.size)), Buffer.from(iso))).toBe(0);
});

/**
 * An independent check of the P and Q parity: ECMA-130 Annex A defines them by their syndromes,
 * which must be zero. Each of the two byte planes of bytes 12..2351 holds 1170 16-bit-word
 * positions; P covers 43 columns of 26 words, Q 26 diagonals of 45 words, over GF(2^8) with
 * x^8+x^4+x^3+x^2+1.
 */
function syndromesZero(s: Uint8Array): boolean {
  const exp = new Uint8Array(512), log = new Uint8Array(256);
  let x = 1;
  for (let i = 0; i < 255; i++) {
    exp[i] = x;
    log[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) exp[i] = exp[i - 255]!;
  const mul = (a: number, b: number) => (a && b ? exp[log[a]! + log[b]!]! : 0);
  const alphaPow = (n: number) => exp[n % 255]!;
  const word = (plane: number, w: number) => s[12 + 2 * w + plane]!;
  for (let plane = 0; plane < 2; plane++) {
    for (let np = 0; np < 43; np++) {
      let s0 = 0, s1 = 0;
      for (let mp = 0; mp < 26; mp++) {
        const v = word(plane, 43 * mp + np);
        s0 ^= v;
        s1 ^= mul(alphaPow(25 - mp), v);
      }
      if (s0 || s1) return false;
    }
    for (let nq = 0; nq < 26; nq++) {
      let s0 = 0, s1 = 0;
      for (let mq = 0; mq < 45; mq++) {
        const w = mq < 43 ? (44 * mq + 43 * nq) % 1118 : mq === 43 ? 1118 + nq : 1144 + nq;
        const v = word(plane, w);
        s0 ^= v;
        s1 ^= mul(alphaPow(44 - mq), v);
      }
      if (s0 || s1) return false;
    }
  }
  return true;
}

it('P and Q parity satisfy the ECMA-130 syndrome equations (independent of the encoder)', () => {
  const out = new Uint8Array(RAW_SECTOR);
  for (const [lba, fill] of [[0, 0], [16, 0x5a], [123456, -1]] as const) {
    const user = new Uint8Array(2048);
    for (let i = 0; i < user.length; i++) user[i] = fill >= 0 ? fill : (i * 131 + 7) & 0xff;
    encodeMode1(user, lba, out);
    expect(syndromesZero(out), `lba ${lba}`).toBe(true);
    out[500] ^= 1;
    expect(syndromesZero(out)).toBe(false);
  }
});

it('a CUE sheet opens the BIN it names (probe, parse, close)', async () => {
  const { cueFormat, parseCue } = await import('./cue.js');
  const { relativeOpener } = await import('@diskit/core/node');
  expect(parseCue('REM x\nFILE "a b.bin" BINARY\n  TRACK 01 MODE1/2352\n    INDEX 01 00:00:00\n  TRACK 02 AUDIO\n')).toEqual([
    { file: 'a b.bin', fileLine: 2, fileOffset: 6, number: 1, mode: 'MODE1/2352' },
    { file: 'a b.bin', fileLine: 2, fileOffset: 6, number: 2, mode: 'AUDIO' },
  ]);
  const bin = join(dir, 'cue.bin');
  await writeBin(bin);
  const cuePath = join(dir, 'cue.cue');
  writeFileSync(cuePath, cueSheet('cue.bin'));
  const text = readFileSync(cuePath);
  expect(cueFormat.probe({ head: text, tail: text, size: text.length })).toBeGreaterThan(50);
  expect(cueFormat.probe({ head: new Uint8Array(iso.subarray(0, 65536)), tail: new Uint8Array(512), size: iso.length })).toBe(0);
  const f = await FileDevice.open(cuePath);
  const img = await cueFormat.open(f, { name: cuePath, openRelative: relativeOpener(cuePath) });
  expect(img.variant).toBe('mode1/2352');
  expect(Buffer.compare(Buffer.from(await readBytes(img, 0, img.size)), Buffer.from(iso))).toBe(0);
  await img.close();
  await f.close();
});
