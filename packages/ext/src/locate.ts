/** Finding a usable superblock: the primary at byte 1024, else the first backup group's copy. */
import { CorruptImageError, type BlockDevice } from '@diskit/core';
import { SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, looksLikeSuperblock, parseSuperblock, type Superblock } from './superblock.js';

/**
 * Where group 1's backup would be for each block size (1 KiB blocks: group 1 starts at block 8193;
 * larger ones at block 8 × block size), as e2fsck -b guesses.
 */
export function backupOffsets(deviceSize: number): number[] {
  const out: number[] = [];
  for (let log = 0; log <= 6; log++) {
    const bs = 1024 << log;
    const off = ((log === 0 ? 1 : 0) + 8 * bs) * bs;
    if (off + SUPERBLOCK_SIZE <= deviceSize) out.push(off);
  }
  return out;
}

async function readAt(dev: BlockDevice, offset: number): Promise<Uint8Array | undefined> {
  if (offset + SUPERBLOCK_SIZE > dev.size) return undefined;
  const b = new Uint8Array(SUPERBLOCK_SIZE);
  await dev.read(b, offset);
  return b;
}

/** 0 … 100: a primary superblock is near-certain; a backup alone still claims the device. */
export async function probeExt(dev: BlockDevice): Promise<number> {
  const primary = await readAt(dev, SUPERBLOCK_OFFSET);
  if (primary && looksLikeSuperblock(primary)) return 90;
  for (const off of backupOffsets(dev.size)) {
    const b = await readAt(dev, off);
    if (b && looksLikeSuperblock(b) && new DataView(b.buffer).getUint16(0x5a, true) === 1) return 60;
  }
  return 0;
}

export interface Located {
  sb: Superblock;
  /** Why the primary was not used, when a backup was. */
  primaryProblem?: string;
}

/** The primary superblock, or — when it is damaged — the first sound backup, saying why. */
export async function locateSuperblock(dev: BlockDevice): Promise<Located> {
  const primary = await readAt(dev, SUPERBLOCK_OFFSET);
  if (!primary) throw new CorruptImageError('ext superblock', SUPERBLOCK_OFFSET, `${SUPERBLOCK_SIZE} bytes`, `device of ${dev.size} bytes`);
  let problem: CorruptImageError;
  try {
    return { sb: parseSuperblock(primary, SUPERBLOCK_OFFSET, dev.size) };
  } catch (e) {
    if (!(e instanceof CorruptImageError)) throw e;
    problem = e;
  }
  for (const off of backupOffsets(dev.size)) {
    const b = await readAt(dev, off);
    if (!b || !looksLikeSuperblock(b)) continue;
    try {
      const sb = parseSuperblock(b, off, dev.size);
      // A backup copy is only where its own geometry puts group `nr`.
      if (sb.blockGroupNr >= 1 && (sb.firstDataBlock + sb.blockGroupNr * sb.blocksPerGroup) * sb.blockSize === off) {
        return { sb, primaryProblem: problem.message };
      }
    } catch {
      // try the next guess
    }
  }
  throw problem;
}
