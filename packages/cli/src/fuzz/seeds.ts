/**
 * Fuzz seeds: small real images made by real tools (sfdisk, sgdisk, qemu-img, xorriso,
 * genisoimage) and Apple's hdiutil (the shared DMGs). Made once into a cache folder.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, symlinkSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { createCipheriv, createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryDevice } from '@diskit/core';
import { readPartitionTable } from '@diskit/raw';
import type { FuzzSeed } from './run.js';
import { apfsSeeds } from './apfs-seeds.js';

export const FORMATS = ['raw', 'vhd', 'vhdx', 'dmg', 'iso', 'sparseimage', 'sparsebundle', 'udf', 'fat', 'ext', 'apfs', 'hfsplus', 'ntfs'] as const;
export type FuzzFormat = (typeof FORMATS)[number];

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
/** The shared hdiutil images: beside the repository, or where DISKIT_SHARED_IMAGES says, or /work/shared. */
export const sharedDmgDir = join(
  [process.env.DISKIT_SHARED_IMAGES, resolve(repoRoot, '../shared/test-images'), '/work/shared/test-images'].find((c): c is string => !!c && existsSync(c)) ?? resolve(repoRoot, '../shared/test-images'),
  'dmg',
);
export const regressionDir = join(repoRoot, 'test-images/fuzz-regressions');
/** The shared Apple images (ULMO, encrypted, APFS/HFS+): beside the DMG folder. */
export const sharedAppleDir = join(dirname(sharedDmgDir), 'apple');
/** The password of the shared encrypted image (its README), given to every image the fuzzer opens. */
export const FUZZ_PASSWORD = 'test123';

/**
 * An encrcdsa image with its passphrase key re-wrapped under `rounds` PBKDF2 rounds (node:crypto:
 * PBKDF2-HMAC-SHA1 and 3DES-EDE-CBC, independent of diskit's code).
 */
function fewerRounds(path: string, password: string, rounds: number): Uint8Array {
  const b = new Uint8Array(readFileSync(path));
  const dv = new DataView(b.buffer);
  const at = Number(dv.getBigUint64(80)); // the first key pointer's offset
  const salt = b.subarray(at + 16, at + 16 + dv.getUint32(at + 12));
  const iv = b.subarray(at + 52, at + 60);
  const blob = b.subarray(at + 104, at + 104 + dv.getUint32(at + 100));
  const unwrap = createDecipheriv('des-ede3-cbc', pbkdf2Sync(password, salt, dv.getUint32(at + 8), 24, 'sha1'), iv).setAutoPadding(false);
  const plain = Buffer.concat([unwrap.update(blob), unwrap.final()]);
  const wrap = createCipheriv('des-ede3-cbc', pbkdf2Sync(password, salt, rounds, 24, 'sha1'), iv).setAutoPadding(false);
  b.set(Buffer.concat([wrap.update(plain), wrap.final()]), at + 104);
  dv.setUint32(at + 8, rounds);
  return b;
}
const diskitCli = join(repoRoot, 'packages/cli/bin/diskit.js');

/** A sparse bundle's Info.plist: 4 KiB bands, a 20 KiB disk (the bands exercise() supplies fit it). */
const BUNDLE_PLIST = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>CFBundleInfoDictionaryVersion</key>
\t<string>6.0</string>
\t<key>band-size</key>
\t<integer>4096</integer>
\t<key>bundle-backingstore-version</key>
\t<integer>1</integer>
\t<key>diskimage-bundle-type</key>
\t<string>com.apple.diskimage.sparsebundle</string>
\t<key>size</key>
\t<integer>20480</integer>
</dict>
</plist>
`;

const has = (t: string) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
const sh = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'pipe'] });

/** Tools each format's seeds need (the shared DMG folder stands in for a tool for dmg). */
export const SEED_TOOLS: Record<FuzzFormat, string[]> = {
  raw: ['sfdisk', 'sgdisk'],
  vhd: ['qemu-img'],
  vhdx: ['qemu-img'],
  dmg: [],
  iso: ['xorriso', 'genisoimage'],
  sparseimage: ['xorriso'],
  sparsebundle: [],
  udf: ['genisoimage', 'mkudffs'],
  fat: ['mkfs.fat', 'mcopy', 'mdel'],
  ext: ['mke2fs'],
  apfs: ['7z'],
  hfsplus: ['xorriso'],
  ntfs: ['mkntfs', 'ntfscp'],
};

export function missingFor(format: FuzzFormat): string[] {
  const missing = SEED_TOOLS[format].filter((t) => !has(t));
  if ((format === 'dmg' || format === 'sparseimage') && !existsSync(sharedDmgDir)) missing.push(sharedDmgDir);
  if (format === 'apfs' && !existsSync(sharedAppleDir)) missing.push(sharedAppleDir);
  return missing;
}

/** A small raw disk with recognisable data scattered through it. */
function dataDisk(path: string, mib: number): void {
  const b = new Uint8Array(mib << 20);
  for (let off = 4096; off < b.length; off += 256 << 10) for (let i = 0; i < 8192 && off + i < b.length; i++) b[off + i] = (off >>> 12) + i * 7;
  writeFileSync(path, b);
}

/**
 * HFS+ seeds as bare volumes (so the filesystem is what gets mounted): the committed decmpfs test
 * volume and the HFS+ partition of a xorriso -hfsplus hybrid.
 */
export async function hfsplusSeeds(): Promise<FuzzSeed[]> {
  const dir = join(tmpdir(), 'diskit-fuzz-seeds-v1', 'hfsplus');
  mkdirSync(dir, { recursive: true });
  const iso = join(dir, 'hybrid.iso');
  if (!existsSync(iso)) {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'a/b/c/d'), { recursive: true });
    writeFileSync(join(tree, 'hello.txt'), 'hello, world\n');
    writeFileSync(join(tree, 'a/b/c/d/deep file with a rather long name.txt'), 'deep\n'.repeat(100));
    writeFileSync(join(tree, 'ünïcödé.txt'), 'x'.repeat(5000));
    symlinkSync('hello.txt', join(tree, 'link'));
    sh('xorriso', ['-as', 'mkisofs', '-quiet', '-hfsplus', '-o', `${iso}.tmp`, tree]);
    renameSync(`${iso}.tmp`, iso);
  }
  const isoBytes = new Uint8Array(readFileSync(iso));
  const p = (await readPartitionTable(new MemoryDevice(isoBytes))).partitions.find((x) => x.type === 'Apple_HFS')!;
  // Bare volumes: the harness mounts them and aims at what HfsVolume.structures() reports.
  return [
    { name: 'xorriso.hfs', bytes: isoBytes.slice(p.start, p.start + p.size) },
    { name: 'compressed.hfs', bytes: new Uint8Array(gunzipSync(readFileSync(join(repoRoot, 'test-images/hfsplus/compressed.hfs.gz')))) },
  ];
}

/** Every format's seeds (HFS+ seeds are read through the filesystem to aim at its structures). */
export async function seedsFor(format: FuzzFormat): Promise<FuzzSeed[]> {
  return format === 'hfsplus' ? hfsplusSeeds() : makeSeeds(format);
}

export function makeSeeds(format: FuzzFormat): FuzzSeed[] {
  if (format === 'apfs') return apfsSeeds(sharedAppleDir);
  const dir = join(tmpdir(), `diskit-fuzz-seeds-v1`, format);
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const make = (name: string, fn: (p: string) => void) => {
    const p = join(dir, name);
    if (!existsSync(p)) {
      // Made under a temporary name so a failed tool never leaves a half-made seed behind.
      const tmp = `${p}.tmp`;
      rmSync(tmp, { force: true, recursive: true });
      fn(tmp);
      renameSync(tmp, p);
    }
    files.push(p);
  };
  const base = join(dir, 'base.raw');
  if (format === 'vhd' || format === 'vhdx') make('base.raw', (p) => dataDisk(p, 3));
  switch (format) {
    case 'raw':
      make('mbr.img', (p) => {
        sh('truncate', ['-s', '2M', p]);
        sh('sfdisk', ['-q', p], 'label: dos\n,512K,83\n,,5\n,256K,83\n,256K,7\n');
      });
      make('gpt.img', (p) => {
        sh('truncate', ['-s', '2M', p]);
        sh('sgdisk', ['-a', '8', '-n1:40:+256K', '-c1:one', '-n2:0:+256K', '-t2:ef00', '-c2:esp', p]);
      });
      break;
    case 'vhd':
      make('dynamic.vhd', (p) => sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', base, p]));
      make('fixed.vhd', (p) => sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', base, p]));
      break;
    case 'vhdx':
      make('dynamic.vhdx', (p) => sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=dynamic,block_size=1M', base, p]));
      break;
    case 'dmg':
      for (const folder of [sharedDmgDir, sharedAppleDir]) {
        if (!existsSync(folder)) continue;
        for (const f of readdirSync(folder).filter((f) => f.endsWith('.dmg')).sort()) {
          const p = join(folder, f);
          if (readFileSync(p).length <= 256 << 10) files.push(p);
        }
      }
      // The hdiutil AES-256 image re-keyed to 1,000 PBKDF2 rounds: the fuzzer reaches its data cheaply.
      if (existsSync(join(sharedAppleDir, 'dmgwiz--input_aes256.dmg'))) make('aes256-1000-rounds.dmg', (p) => writeFileSync(p, fewerRounds(join(sharedAppleDir, 'dmgwiz--input_aes256.dmg'), FUZZ_PASSWORD, 1000)));
      break;
    case 'fat': {
      // FAT12/16/32 made by mkfs.fat + mcopy (one fragmented file each), a DOS 1.x floppy with
      // its BPB wiped, and the committed exFAT fixture (test-images/make-exfat.sh).
      const tree = join(dir, 'tree');
      if (!existsSync(tree)) {
        mkdirSync(join(tree, 'Deep/a/b/c'), { recursive: true });
        writeFileSync(join(tree, 'hello.txt'), 'hello, world\n');
        writeFileSync(join(tree, 'Deep/a/b/c/A long file name, mixed Case.txt'), 'deep\n'.repeat(300));
        writeFileSync(join(tree, 'empty'), '');
        writeFileSync(join(tree, 'ünïcödé.txt'), 'x'.repeat(5000));
        writeFileSync(join(tree, 'lower.txt'), 'lower\n');
      }
      const mt = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1', LANG: 'C.UTF-8' }, stdio: ['pipe', 'ignore', 'pipe'] as ('pipe' | 'ignore')[] };
      const fatImage = (p: string, kib: number, args: string[]) => {
        sh('mkfs.fat', ['-C', ...args, p, String(kib)]);
        execFileSync('mcopy', ['-s', '-i', p, ...readdirSync(tree).map((n) => join(tree, n)), '::/'], mt);
        writeFileSync(join(dir, 'frag'), new Uint8Array(3000).fill(7));
        execFileSync('mcopy', ['-i', p, join(dir, 'frag'), '::/frag1'], mt);
        execFileSync('mcopy', ['-i', p, join(dir, 'frag'), '::/frag2'], mt);
        execFileSync('mdel', ['-i', p, '::/frag1'], mt);
        writeFileSync(join(dir, 'frag'), new Uint8Array(9000).fill(9));
        execFileSync('mcopy', ['-i', p, join(dir, 'frag'), '::/fragmented'], mt);
      };
      make('fat12-360k.img', (p) => fatImage(p, 360, ['-F', '12']));
      make('fat16-4m.img', (p) => fatImage(p, 4096, ['-F', '16', '-s', '1']));
      make('fat32-33m.img', (p) => fatImage(p, 33 << 10, ['-F', '32', '-s', '1']));
      make('dos1-160k.img', (p) => {
        fatImage(p, 160, ['-F', '12', '-r', '64', '-s', '1', '-f', '2', '-M', '0xfe', '-R', '1', '-g', '1/8']);
        const b = readFileSync(p);
        b.fill(0, 3, 62);
        writeFileSync(p, b);
      });
      make('exfat.img', (p) => writeFileSync(p, gunzipSync(readFileSync(join(repoRoot, 'test-images/exfat/small.img.gz')))));
      break;
    }
    case 'udf': {
      const tree = join(dir, 'tree');
      if (!existsSync(tree)) {
        mkdirSync(join(tree, 'd/e'), { recursive: true });
        writeFileSync(join(tree, 'a.txt'), 'hello\n');
        writeFileSync(join(tree, 'd/e/deep.txt'), 'deep\n'.repeat(700));
        symlinkSync('a.txt', join(tree, 'link'));
      }
      make('bridge.iso', (p) => sh('genisoimage', ['-quiet', '-udf', '-R', '-o', p, tree]));
      // Write-once (VAT) and rewritable (sparable) layouts, as mkudffs lays them out.
      for (const media of ['cdr', 'cdrw']) {
        make(`${media}.udf`, (p) => {
          sh('truncate', ['-s', media === 'cdr' ? '1M' : '4M', p]);
          sh('mkudffs', [`--media-type=${media}`, p]);
        });
      }
      break;
    }
    case 'ntfs': {
      // Small volumes (512-byte and 4 KiB clusters, 4 KiB sectors) with resident, non-resident and
      // indexed files copied in by ntfscp; the ntfs-3g fixture (attribute lists, LZNT1, reparse points,
      // streams, a 10,000-entry index) is too big to mutate quickly, so its structures come from these.
      const data = join(dir, 'data.bin');
      if (!existsSync(data)) writeFileSync(data, new Uint8Array(20000).map((_, i) => (i * 7) & 0xff));
      for (const [name, mk] of [['c512.ntfs', ['-c', '512']], ['c4k.ntfs', ['-c', '4096']], ['s4k.ntfs', ['-s', '4096', '-c', '4096']]] as const) {
        make(name, (p) => {
          sh('truncate', ['-s', '2M', p]);
          sh('mkntfs', ['-F', '-f', '-q', '-L', 'fuzz', ...mk, p]);
          sh('ntfscp', ['-q', p, data, 'data.bin']);
          for (let i = 0; i < 12; i++) sh('ntfscp', ['-q', p, data, `file-${i}.txt`]);
        });
      }
      break;
    }
    case 'sparseimage': {
      // The hand-made image from the shared set, and diskit's own: an ISO inside, and a chained index.
      files.push(join(sharedDmgDir, '../apple/dmg-forensic--synthetic.sparseimage'));
      const tree = join(dir, 'tree');
      mkdirSync(tree, { recursive: true });
      writeFileSync(join(tree, 'hello.txt'), 'hello from a sparse image\n'.repeat(50));
      make('iso.sparseimage', (p) => {
        sh('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', `${p}.iso`, tree]);
        sh('node', [diskitCli, 'convert', '-f', 'raw', '-O', 'sparseimage', '-o', 'band-size=16k', `${p}.iso`, p]);
        rmSync(`${p}.iso`);
      });
      make('chained.sparseimage', (p) => {
        const disk = `${p}.raw`;
        const b = new Uint8Array(1100 * 512);
        for (let i = 0; i < b.length; i += 512) b[i] = 1 + ((i >>> 9) % 251);
        writeFileSync(disk, b);
        sh('node', [diskitCli, 'convert', '-O', 'sparseimage', '-o', 'band-size=512', disk, p]);
        rmSync(disk);
      });
      break;
    }
    case 'sparsebundle':
      // Info.plist as diskit (and hdiutil) writes it; exercise() puts bands beside it.
      make('Info.plist', (p) => writeFileSync(p, BUNDLE_PLIST));
      make('Info-strings.plist', (p) => writeFileSync(p, BUNDLE_PLIST.replace('<integer>4096</integer>', '<string>4096</string>')));
      break;
    case 'iso': {
      const tree = join(dir, 'tree');
      if (!existsSync(tree)) {
        mkdirSync(join(tree, 'a/b/c/d/e/f/g/h/i'), { recursive: true });
        writeFileSync(join(tree, 'hello.txt'), 'hello, world\n');
        writeFileSync(join(tree, 'a/b/c/d/e/f/g/h/i/deep file with a rather long name.txt'), 'deep\n'.repeat(100));
        writeFileSync(join(tree, 'empty'), '');
        writeFileSync(join(tree, 'ünïcödé.txt'), 'x'.repeat(5000));
        symlinkSync('hello.txt', join(tree, 'link'));
      }
      make('rr-joliet.iso', (p) => sh('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', p, tree]));
      make('plain.iso', (p) => sh('genisoimage', ['-quiet', '-o', p, tree]));
      make('rr.iso', (p) => sh('genisoimage', ['-quiet', '-R', '-o', p, tree]));
      break;
    }
    case 'ext': {
      // Small trees through every mapping: block maps to double indirect (ext2), a depth-1 extent
      // tree (16 fragments), inline data, metadata_csum, an htree-sized directory, symlinks, hard links.
      const tree = join(dir, 'tree');
      if (!existsSync(tree)) {
        mkdirSync(join(tree, 'a/b/c'), { recursive: true });
        mkdirSync(join(tree, 'wide'));
        writeFileSync(join(tree, 'hello.txt'), 'hello, ext\n');
        writeFileSync(join(tree, 'a/b/c/mid.bin'), new Uint8Array(300 << 10).map((_, i) => i * 31));
        const frag = new Uint8Array(1 << 20);
        for (let i = 0; i < 16; i++) frag.fill(i + 1, i * 65536, i * 65536 + 1024);
        writeFileSync(join(tree, 'fragments'), frag);
        for (let i = 0; i < 300; i++) writeFileSync(join(tree, 'wide', `entry-${i}`), '');
        symlinkSync('hello.txt', join(tree, 'fast'));
        symlinkSync('a/b/c/' + 'x'.repeat(90), join(tree, 'slow'));
        linkSync(join(tree, 'hello.txt'), join(tree, 'a/hard'));
      }
      const mke2fs = (p: string, args: string[]) => sh('mke2fs', ['-q', '-F', '-N', '400', ...args, '-d', tree, p, '2M']);
      make('ext2.img', (p) => mke2fs(p, ['-t', 'ext2', '-b', '1024']));
      make('ext4-csum.img', (p) => mke2fs(p, ['-t', 'ext4', '-b', '1024', '-O', '^has_journal,metadata_csum,64bit']));
      make('ext4-inline.img', (p) => mke2fs(p, ['-t', 'ext4', '-b', '1024', '-O', '^has_journal,inline_data,^metadata_csum']));
      make('ext4-nocsum.img', (p) => mke2fs(p, ['-t', 'ext4', '-b', '1024', '-O', '^has_journal,^metadata_csum', '-I', '128']));
      break;
    }
  }
  return files.filter((f) => !f.endsWith('base.raw')).map((f) => {
    const bytes = new Uint8Array(readFileSync(f));
    return format === 'fat' ? { name: f, bytes, targets: nonZeroSectors(bytes) } : { name: f, bytes };
  });
}

/** A filesystem image's metadata is where its bytes are: aim mutations at runs of non-zero sectors (≤ 64 KiB each). */
function nonZeroSectors(b: Uint8Array): { offset: number; size: number }[] {
  const out: { offset: number; size: number }[] = [];
  for (let at = 0; at < b.length && out.length < 256; at += 512) {
    if (!b.subarray(at, at + 512).some((x) => x !== 0)) continue;
    const last = out[out.length - 1];
    if (last && last.offset + last.size === at && last.size < 64 << 10) last.size += Math.min(512, b.length - at);
    else out.push({ offset: at, size: Math.min(512, b.length - at) });
  }
  return out;
}

/** Committed regression cases: test-images/fuzz-regressions/<format>/*.bin (or *.bin.gz, for large crafted ones) */
export function regressionCases(format: FuzzFormat): FuzzSeed[] {
  const d = join(regressionDir, format);
  if (!existsSync(d)) return [];
  const read = (f: string) => new Uint8Array(f.endsWith('.gz') ? gunzipSync(readFileSync(join(d, f))) : readFileSync(join(d, f)));
  return readdirSync(d).filter((f) => f.endsWith('.bin') || f.endsWith('.bin.gz')).sort().map((f) => ({ name: join(d, f), bytes: read(f) }));
}
