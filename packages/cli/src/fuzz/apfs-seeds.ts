/**
 * APFS fuzz seeds: the containers inside Apple's hdiutil images (the APFS partitions of the
 * shared DMGs, as 7-Zip extracts them), cut down to the blocks they use, with the block count and checksums patched to match.
 * Each object block is a mutation target; half the cases reseal the checksums after mutating so
 * the parsers behind the Fletcher-64 check are reached too.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { checksumOk, sealObject } from '@diskit/apfs';
import type { FuzzSeed } from './run.js';

const BS = 4096;
const IMAGES = ['hdi-mac--test-disk-image-apfs.dmg', 'dmgwiz--input_zlib.dmg'];

function containerOf(dmgPath: string): Uint8Array {
  return new Uint8Array(execFileSync('7z', ['e', '-so', '-tdmg', dmgPath, '*.apfs'], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }));
}

/** The container cut after its last non-zero block; every superblock copy says the new size. */
function shrink(c: Uint8Array): Uint8Array {
  let last = 0;
  for (let b = 0; b < c.length / BS; b++) if (c.subarray(b * BS, (b + 1) * BS).some((x) => x !== 0)) last = b;
  const out = c.slice(0, (last + 1) * BS);
  for (let b = 0; b <= last; b++) {
    const blk = out.subarray(b * BS, (b + 1) * BS);
    const v = new DataView(blk.buffer, blk.byteOffset, BS);
    if ((v.getUint32(24, true) & 0xffff) === 1 && v.getUint32(32, true) === 0x4253584e && checksumOk(blk)) {
      v.setBigUint64(40, BigInt(last + 1), true);
      sealObject(blk);
    }
  }
  return out;
}

export function apfsSeeds(appleDir: string): FuzzSeed[] {
  const seeds: FuzzSeed[] = [];
  for (const name of IMAGES) {
    const bytes = shrink(containerOf(join(appleDir, name)));
    const sealed: number[] = [];
    for (let b = 0; b < bytes.length / BS; b++) if (checksumOk(bytes.subarray(b * BS, (b + 1) * BS))) sealed.push(b);
    seeds.push({ name: `${name}.apfs`, bytes, targets: sealed.map((b) => ({ offset: b * BS, size: BS })), sealedBlocks: sealed });
  }
  return seeds;
}

/** Recompute the checksum of every block that had a valid one in the seed (after a mutation). */
export function resealBlocks(bytes: Uint8Array, blocks: number[]): void {
  for (const b of blocks) if ((b + 1) * BS <= bytes.length) sealObject(bytes.subarray(b * BS, (b + 1) * BS));
}
