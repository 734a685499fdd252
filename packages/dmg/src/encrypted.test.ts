/**
 * Encrypted DMGs (encrcdsa v2): the shared hdiutil AES-256 image reads to the README's bytes;
 * images diskit writes (AES-128, AES-256) decrypt identically with an independent decryption
 * (Python: hashlib PBKDF2 + python3-cryptography 3DES/AES) and their inner UDIF reads back in 7-Zip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { CorruptImageError, DiskitError, MemoryDevice, UnsupportedFeatureError } from '@diskit/core';
import { describeNeeding, describeWithTools, run, sharedImagesDir } from '../../../test/tools.js';
import { ChunkIvs, EncryptedDevice, EncryptingSink, WrongPasswordError, decryptChunks, dmgDriver, encryptChunks } from './index.js';
import { importAesKey } from './crypto.js';

const AES = join(resolve(sharedImagesDir(), 'apple'), 'dmgwiz--input_aes256.dmg');
const DISK_SHA = '1407509ff44696aab011815d84951ad2c53cb7345a71d9803b73817c2d2d83cf';
const PASSWORD = 'test123';
const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const diskit = (args: string[], env: Record<string, string> = {}) => {
  const { DISKIT_PASSWORD: _, ...rest } = process.env;
  return spawnSync('node', [cli, ...args], { encoding: 'utf8', env: { ...rest, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dmgenc-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the ciphers', () => {
  it('chunk IVs equal node:crypto HMAC-SHA1, and batched AES-CBC equals one openssl call per chunk', async () => {
    for (const keyLen of [20, 1, 64]) {
      const key = randomBytes(keyLen);
      const ivs = new ChunkIvs(key);
      const got = new Uint8Array(16);
      for (const n of [0, 1, 2, 255, 256, 65_537, 2 ** 31, 2 ** 32 - 1]) {
        const be = Buffer.alloc(4);
        be.writeUInt32BE(n);
        ivs.iv(n, got, 0);
        expect(Buffer.from(got).toString('hex'), `${keyLen} ${n}`).toBe(createHmac('sha1', key).update(be).digest().subarray(0, 16).toString('hex'));
      }
    }
    for (const [bits, cs] of [[128, 512], [256, 512], [256, 4096]] as const) {
      const aes = randomBytes(bits / 8), hk = randomBytes(20);
      const plain = randomBytes(cs * 37);
      const ivs = new ChunkIvs(hk);
      const want = Buffer.alloc(plain.length);
      for (let i = 0; i < 37; i++) {
        const iv = createHmac('sha1', hk).update(Buffer.from([0, 0, 0, i + 5])).digest().subarray(0, 16);
        const c = createCipheriv(`aes-${bits}-cbc`, aes, iv).setAutoPadding(false);
        Buffer.concat([c.update(plain.subarray(i * cs, (i + 1) * cs)), c.final()]).copy(want, i * cs);
      }
      const key = await importAesKey(aes);
      expect(Buffer.from(await encryptChunks(key, ivs, plain, 5, cs)).equals(want)).toBe(true);
      expect(Buffer.from(await decryptChunks(key, ivs, want, 5, cs)).equals(plain)).toBe(true);
    }
  });
});

describeNeeding(existsSync(AES) ? [] : [AES], 'the shared hdiutil AES-256 image', () => {
  it('reads to the README bytes with its password; a wrong or missing password is a typed error', async () => {
    const file = () => new MemoryDevice(new Uint8Array(readFileSync(AES)), { readOnly: true });
    const img = await dmgDriver.open(file(), { password: async () => PASSWORD });
    expect(img.variant).toBe('UDZO (encrypted, AES-256)');
    const disk = new Uint8Array(img.size);
    await img.read(disk, 0);
    expect(sha(disk)).toBe(DISK_SHA);
    const info = await img.info!();
    expect(info.encryption).toMatchObject({ cipher: 'AES-256-CBC', chunkSize: 512, dataSize: 13_654 });
    expect(JSON.stringify(info)).not.toContain(PASSWORD);
    expect((await img.check!()).problems).toEqual([]);
    await expect(dmgDriver.open(file(), { password: async () => 'test124' })).rejects.toBeInstanceOf(WrongPasswordError);
    await expect(dmgDriver.open(file())).rejects.toBeInstanceOf(UnsupportedFeatureError);
  });

  it('CLI: info and convert through --password-file and DISKIT_PASSWORD; a wrong password exits 1 with one line', () => {
    const pw = join(dir, 'pw');
    writeFileSync(pw, `${PASSWORD}\n`);
    const out = join(dir, 'aes.raw');
    const r = diskit(['convert', '-O', 'raw', '--password-file', pw, AES, out]);
    expect(r.status, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(DISK_SHA);
    const info = diskit(['info', '--json', AES], { DISKIT_PASSWORD: PASSWORD });
    expect(info.status, info.stderr).toBe(0);
    const j = JSON.parse(info.stdout);
    expect(j.partitionScheme).toBe('gpt');
    expect(j.encryption.cipher).toBe('AES-256-CBC');
    const wrong = diskit(['convert', '-O', 'raw', AES, join(dir, 'wrong.raw')], { DISKIT_PASSWORD: 'hunter2' });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toBe('diskit: WrongPasswordError: wrong password for the encrypted DMG\n');
    expect(wrong.stderr + wrong.stdout).not.toContain('hunter2');
    expect(existsSync(join(dir, 'wrong.raw'))).toBe(false);
    // No terminal, no file, no variable: a usage error naming the ways to give it.
    const none = diskit(['info', AES]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/--password-file FILE or DISKIT_PASSWORD/);
    // The passphrase is never taken from argv.
    expect(diskit(['info', '--password', PASSWORD, AES]).status).toBe(2);
  });
});

describeWithTools(['python3'], 'the password prompt on a terminal', () => {
  it('asks on the terminal with echo off; a wrong answer exits 1', () => {
    if (!existsSync(AES)) return;
    const ask = (pw: string) => spawnSync('python3', [join(__dirname, 'test/tty-password.py'), pw, cli, 'info', AES], { encoding: 'utf8' });
    const ok = ask(PASSWORD);
    expect(ok.status, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/^Password for .*dmgwiz--input_aes256\.dmg: /);
    expect(ok.stdout).toMatch(/format:\s+dmg \(UDZO \(encrypted, AES-256\)\)/);
    expect(ok.stdout).not.toContain(PASSWORD);
    const bad = ask('not-it');
    expect(bad.status).toBe(1);
    expect(bad.stdout).not.toContain('not-it');
    expect(bad.stdout).toMatch(/wrong password/);
  });
});

describeWithTools(['python3', '7z'], 'encrypted DMGs diskit writes', () => {
  it('AES-128 and AES-256: the independent decryption gives a UDIF that 7-Zip reads as the source; diskit reads them back', () => {
    const src = join(dir, 'src.img');
    const fd = openSync(src, 'w');
    const mbr = Buffer.alloc(512);
    mbr.writeUInt8(0x0c, 446 + 4);
    mbr.writeUInt32LE(2048, 446 + 8);
    mbr.writeUInt32LE(8192, 446 + 12);
    mbr.writeUInt16LE(0xaa55, 510);
    writeSync(fd, mbr, 0, 512, 0);
    writeSync(fd, randomBytes(700_000), 0, 700_000, 1 << 20);
    writeSync(fd, Buffer.from('encrypted text '.repeat(30_000)), 0, undefined, 3 << 20);
    writeSync(fd, randomBytes(512), 0, 512, (5 << 20) - 512);
    closeSync(fd);
    const want = readFileSync(src);
    const pw = join(dir, 'pw2');
    writeFileSync(pw, 'correct horse battery staple\n');
    for (const enc of ['aes-128', 'aes-256']) {
      const dmg = join(dir, `${enc}.dmg`);
      const w = diskit(['convert', '-O', 'dmg', '-o', `encryption=${enc},iterations=1000`, '--password-file', pw, src, dmg]);
      expect(w.status, w.stderr).toBe(0);
      const b = readFileSync(dmg);
      expect(b.subarray(0, 8).toString('latin1')).toBe('encrcdsa');
      expect(b.includes(Buffer.from('koly'))).toBe(false); // nothing in the clear
      const inner = join(dir, `${enc}.inner.dmg`);
      run('python3', [join(__dirname, 'test/decrypt.py'), dmg, pw, inner]);
      const seven = mkdtempSync(join(dir, '7z-'));
      run('7z', ['x', '-tdmg', `-o${seven}`, inner]);
      const parts = readdirSync(seven).sort((x, y) => parseInt(x, 10) - parseInt(y, 10));
      expect(Buffer.compare(Buffer.concat(parts.map((f) => readFileSync(join(seven, f)))), want), enc).toBe(0);
      const back = join(dir, `${enc}.raw`);
      expect(diskit(['convert', '-O', 'raw', '--password-file', pw, dmg, back]).status).toBe(0);
      expect(Buffer.compare(readFileSync(back), want), enc).toBe(0);
      expect(diskit(['check', dmg], { DISKIT_PASSWORD: 'correct horse battery staple' }).status).toBe(0);
      // A wrong password: the independent decryption refuses it too.
      writeFileSync(join(dir, 'bad'), 'Correct horse battery staple\n');
      expect(spawnSync('python3', [join(__dirname, 'test/decrypt.py'), dmg, join(dir, 'bad'), inner]).status).toBe(3);
      expect(diskit(['info', '--password-file', join(dir, 'bad'), dmg]).status).toBe(1);
    }
    const bad = diskit(['convert', '-O', 'dmg', '-o', 'encryption=des', '--password-file', pw, src, join(dir, 'x.dmg')]);
    expect(bad.status).toBe(2);
  });
});

describe('the decrypting device', () => {
  it('reads any range (unaligned, across runs, larger than its in-flight window) like the plaintext', async () => {
    const plain = randomBytes((9 << 20) + 1234);
    const out = new MemoryDevice(0, { growable: true });
    const enc = await EncryptingSink.create(out, 256, 'ranges', 1000);
    for (let at = 0; at < plain.length; at += 777_777) await enc.write(plain.subarray(at, at + 777_777), at);
    await enc.truncate(plain.length);
    const dev = await EncryptedDevice.open(new MemoryDevice(out.bytes.slice(), { readOnly: true }), 'ranges');
    expect(dev.size).toBe(plain.length);
    const whole = new Uint8Array(dev.size);
    await dev.read(whole, 0);
    expect(Buffer.from(whole).equals(plain)).toBe(true);
    for (const [off, len] of [[1, 1], [511, 2], [1000, 5 << 20], [(9 << 20) - 3, 1237], [4096 * 300 + 17, 70_000]]) {
      const b = new Uint8Array(len);
      await dev.read(b, off);
      expect(Buffer.from(b).equals(plain.subarray(off, off + len)), `${off}+${len}`).toBe(true);
    }
  });
});

describe('layers compose', () => {
  it('an encrypted sparse image (encrcdsa around sprs, as hdiutil makes them) opens as the sparse image inside', async () => {
    const src = join(dir, 'sp.img');
    const disk = new Uint8Array(3 << 20);
    disk.set(randomBytes(100_000), 1 << 20);
    writeFileSync(src, disk);
    const sparse = join(dir, 'sp.sparseimage');
    expect(spawnSync('node', [cli, 'convert', '-f', 'raw', '-O', 'sparseimage', src, sparse]).status).toBe(0);
    const plain = new Uint8Array(readFileSync(sparse));
    const out = new MemoryDevice(0, { growable: true });
    const enc = await EncryptingSink.create(out, 128, 'layers', 1000);
    await enc.write(plain, 0);
    await enc.truncate(plain.length);
    const img = await dmgDriver.open(new MemoryDevice(out.bytes.slice(), { readOnly: true }), { password: async () => 'layers' });
    expect(img.variant).toMatch(/encrypted, AES-128/);
    expect(img.size).toBe(disk.length);
    const back = new Uint8Array(img.size);
    await img.read(back, 0);
    expect(Buffer.from(back).equals(Buffer.from(disk))).toBe(true);
  });
});

describeNeeding(existsSync(AES) ? [] : [AES], 'hostile encrcdsa headers', () => {
  it('byte flips in the header and key blob give typed errors (or a wrong password), never a crash or a hang', async () => {
    const good = new Uint8Array(readFileSync(AES));
    let typed = 0;
    for (let i = 0; i < 120; i++) {
      const b = good.slice();
      const at = i < 60 ? 8 + (i * 7) % 88 : 96 + ((i - 60) * 11) % 168;
      b[at]! ^= 1 << (i % 8);
      // Rounds are part of what is flipped: keep them small so a flip there does not cost seconds.
      if (at < 104 || at >= 108) new DataView(b.buffer).setUint32(104, 1000);
      const e = await EncryptedDevice.open(new MemoryDevice(b, { readOnly: true }), PASSWORD).then(() => undefined, (x) => x);
      if (e === undefined) continue; // a flip in a field that does not matter (UUID, PRNG)
      expect(e, `flip at ${at}`).toBeInstanceOf(DiskitError);
      typed++;
    }
    expect(typed).toBeGreaterThan(60);
    const v1 = new Uint8Array(8192);
    v1.set(new TextEncoder().encode('cdsaencr'), v1.length - 8);
    await expect(dmgDriver.open(new MemoryDevice(v1))).rejects.toThrow(/v1 encrypted DMG/);
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(96 + 8, 0xffffffff);
    await expect(EncryptedDevice.open(new MemoryDevice(huge), PASSWORD)).rejects.toBeInstanceOf(CorruptImageError);
    await expect(EncryptedDevice.open(new MemoryDevice(good.slice(0, 130_000)), PASSWORD)).rejects.toBeInstanceOf(CorruptImageError);
  });
});
