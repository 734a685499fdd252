/**
 * `diskit serve` against real NBD clients (qemu-img, nbdinfo, nbdcopy, qemu-io) over unix sockets,
 * on every container diskit reads. Needs the built CLI (`pnpm build`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeWithTools, run, sharedImagesDir } from '../../../test/tools.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => execFileSync('node', [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** `diskit serve IMG --run CMD`: the command's stdout. */
const served = (img: string, cmd: string, ...opts: string[]) => diskit('serve', img, ...opts, '--run', cmd);
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

let dir: string;
const images: { name: string; path: string; qemuFormat?: string }[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nbd-clients-'));
  const raw = join(dir, 'disk.raw');
  writeFileSync(raw, Buffer.alloc(0));
  const fd = openSync(raw, 'w');
  writeSync(fd, randomBytes(3 << 20), 0, 3 << 20, 5 << 20);
  writeSync(fd, Buffer.alloc(1 << 20, 0x41), 0, 1 << 20, 12 << 20);
  writeSync(fd, randomBytes(4096), 0, 4096, (24 << 20) - 4096);
  closeSync(fd);
  images.push({ name: 'raw', path: raw, qemuFormat: 'raw' });
  const q = (args: string[]) => run('qemu-img', args);
  q(['convert', '-O', 'vpc', '-o', 'subformat=fixed', raw, join(dir, 'fixed.vhd')]);
  images.push({ name: 'vhd fixed', path: join(dir, 'fixed.vhd'), qemuFormat: 'vpc' });
  q(['convert', '-O', 'vpc', raw, join(dir, 'dynamic.vhd')]);
  images.push({ name: 'vhd dynamic', path: join(dir, 'dynamic.vhd'), qemuFormat: 'vpc' });
  q(['convert', '-O', 'vhdx', raw, join(dir, 'disk.vhdx')]);
  images.push({ name: 'vhdx', path: join(dir, 'disk.vhdx'), qemuFormat: 'vhdx' });
  // Differencing children (qemu cannot make them): written through `serve --writable`, in place.
  for (const [ext, parent] of [['vhd', 'dynamic.vhd'], ['vhdx', 'disk.vhdx']] as const) {
    const child = join(dir, `child.${ext}`);
    diskit('create', ext, '--parent', join(dir, parent), child);
    served(child, `qemu-io -f raw -c "write -P 0x77 1M 512k" "$uri"`, '--writable');
    images.push({ name: `${ext} differencing`, path: child });
  }
  diskit('convert', '-O', 'dmg', raw, join(dir, 'disk.dmg'));
  images.push({ name: 'dmg (UDZO)', path: join(dir, 'disk.dmg'), qemuFormat: 'dmg' });
  for (const codec of ['adc', 'bz2', 'lzfse']) {
    const p = join(sharedImagesDir(), 'dmg', `compression-${codec}.dmg`);
    if (existsSync(p)) images.push({ name: `dmg (${codec}, hdiutil)`, path: p });
  }
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  writeFileSync(join(tree, 'sub', 'a.bin'), randomBytes(300_000));
  run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', join(dir, 'disc.iso'), tree]);
  images.push({ name: 'iso', path: join(dir, 'disc.iso'), qemuFormat: 'raw' });
  diskit('convert', '-O', 'bin', join(dir, 'disc.iso'), join(dir, 'disc.bin'));
  images.push({ name: 'bin (2352)', path: join(dir, 'disc.bin') });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithTools(['qemu-img', 'qemu-io', 'qemu-nbd', 'nbdinfo', 'nbdcopy', 'xorriso', 'mkfs.fat'], 'diskit serve with real NBD clients', () => {
  it('every container: qemu-img compare, info and nbdcopy agree with diskit convert -O raw', () => {
    expect(images.length).toBeGreaterThanOrEqual(9);
    for (const img of images) {
      const ref = join(dir, 'ref.raw');
      diskit('convert', '-O', 'raw', '--force', img.path, ref);
      expect(served(img.path, `qemu-img compare -f raw -F raw "$uri" ${ref}`), img.name).toMatch(/identical/);
      if (img.qemuFormat) expect(served(img.path, `qemu-img compare -f raw -F ${img.qemuFormat} "$uri" ${img.path}`), img.name).toMatch(/identical/);
      const info = JSON.parse(served(img.path, 'qemu-img info --output=json "$uri"'));
      expect(info['virtual-size'], img.name).toBe(statSync(ref).size);
      const out = join(dir, 'copy.raw');
      rmSync(out, { force: true });
      served(img.path, `nbdcopy "$uri" ${out}`);
      expect(sha(out), img.name).toBe(sha(ref));
    }
  });

  it('the extent map over NBD equals qemu-nbd serving the same image (nbdinfo --map, qemu-img map)', () => {
    // qemu's VHDX and DMG drivers report everything as data, so only raw and VHD can be compared.
    for (const img of images.filter((i) => i.qemuFormat === 'raw' || i.qemuFormat === 'vpc')) {
      const ours = JSON.parse(served(img.path, 'nbdinfo --map --json "$uri"'));
      const theirs = JSON.parse(run('nbdinfo', ['--map', '--json', '--', '[', 'qemu-nbd', '-r', '-f', img.qemuFormat!, img.path, ']']));
      // qemu calls the sparse parts inside a fixed VHD "zero" without "hole" (allocated at its vpc
      // layer); diskit says hole,zero as for raw. Where reads are zero and where data is agree exactly.
      const zeroBit = (m: { offset: number; length: number; type: number }[]) => m.map((e) => ({ ...e, type: e.type & 2, description: undefined }));
      if (img.name === 'vhd fixed') expect(zeroBit(ours), img.name).toEqual(zeroBit(theirs));
      else expect(ours, img.name).toEqual(theirs);
      const sock = join(dir, 'q.sock');
      const qemu = spawn('qemu-nbd', ['-r', '-f', img.qemuFormat!, '-k', sock, img.path], { stdio: 'ignore' });
      try {
        for (let i = 0; i < 100 && !existsSync(sock); i++) execFileSync('sleep', ['0.05']);
        const theirMap = run('qemu-img', ['map', '--output=json', `nbd+unix:///?socket=${sock}`]);
        const pick = (m: { start: number; length: number; zero: boolean; data: boolean }[]) =>
          m.map((e) => (img.name === 'vhd fixed' ? { start: e.start, length: e.length, zero: e.zero } : e));
        expect(pick(JSON.parse(served(img.path, 'qemu-img map --output=json "$uri"'))), img.name).toEqual(pick(JSON.parse(theirMap)));
      } finally {
        qemu.kill();
      }
    }
  });

  it('nbdinfo --list and --content, and socket activation', () => {
    const vhd = images.find((i) => i.name === 'vhd dynamic')!.path;
    expect(served(vhd, 'nbdinfo --list "$uri"', '--export', 'mydisk')).toMatch(/export="mydisk"/);
    const fat = join(dir, 'fat.img');
    run('mkfs.fat', ['-C', fat, '1440']);
    expect(served(fat, 'nbdinfo --content "$uri"')).toMatch(/content: DOS\/MBR boot sector/);
    const activated = run('nbdinfo', ['--json', '--', '[', 'node', cli, 'serve', vhd, ']']);
    const qemuSize = JSON.parse(run('qemu-img', ['info', '--output=json', '-f', 'vpc', vhd]))['virtual-size'];
    expect(JSON.parse(activated).exports[0]['export-size']).toBe(qemuSize);
  });

  it('--writable --overlay: qemu-io writes change what is read, the image stays byte-identical, the overlay converts', () => {
    for (const name of ['vhd dynamic', 'dmg (UDZO)']) {
      const img = images.find((i) => i.name === name)!.path;
      const before = sha(img);
      const mtime = statSync(img).mtimeMs;
      const overlay = join(dir, `ov-${name.replace(/\W/g, '')}`);
      rmSync(overlay, { force: true });
      served(img, `qemu-io -f raw -c "write -P 0x5a 1000 70000" -c "write -z 8M 64k" "$uri"`, '--writable', '--overlay', overlay);
      expect(served(img, `qemu-io -f raw -c "read -P 0x5a 1000 70000" -c "read -P 0 8M 64k" "$uri"`, '--writable', '--overlay', overlay)).not.toMatch(/fail|mismatch/i);
      expect(sha(img)).toBe(before);
      expect(statSync(img).mtimeMs).toBe(mtime);
      const merged = join(dir, 'merged.raw');
      diskit('convert', '-O', 'raw', '--force', overlay, merged);
      const ref = join(dir, 'ref.raw');
      diskit('convert', '-O', 'raw', '--force', img, ref);
      const want = readFileSync(ref);
      want.fill(0x5a, 1000, 71000);
      want.fill(0, 8 << 20, (8 << 20) + 65536);
      expect(sha(merged)).toBe(createHash('sha256').update(want).digest('hex'));
    }
  });

  it('--writable on a raw image writes in place; without it writes are refused', () => {
    const raw = join(dir, 'rw.raw');
    writeFileSync(raw, Buffer.alloc(1 << 20));
    expect(() => served(raw, `qemu-io -f raw -c "write -P 0x11 0 4096" "$uri"`)).toThrow();
    served(raw, `qemu-io -f raw -c "write -P 0x11 0 4096" "$uri"`, '--writable');
    expect(readFileSync(raw).subarray(0, 4096).every((b) => b === 0x11)).toBe(true);
  });

  it('listens on loopback TCP by default and stops cleanly on SIGTERM', async () => {
    const child = spawn('node', [cli, 'serve', images[0]!.path, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const uri = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (b) => {
        err += b;
        const m = /(nbd:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(err)));
    });
    expect(uri).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\//);
    expect(run('nbdinfo', ['--size', uri]).trim()).toBe(String(statSync(images[0]!.path).size));
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
  });
});
