/** The container superblock (nx_superblock_t) and the checkpoint descriptor area. */
import { CorruptImageError, DiskitError, TruncatedImageError, UnsupportedFeatureError, type BlockDevice } from '@diskit/core';
import { checksumOk, parseObjHeader, readObject, u64, view, T_NX_SUPERBLOCK } from './object.js';

export const NX_MAGIC = 0x4253584e; // 'NXSB'
export const NX_MAX_FILE_SYSTEMS = 100;
const NX_INCOMPAT_FUSION = 0x100;
const MAX_DESC_BLOCKS = 1 << 16;

export interface ContainerSuperblock {
  /** Block address it was read from. */
  paddr: number;
  xid: number;
  blockSize: number;
  blockCount: number;
  features: bigint;
  readonlyCompatibleFeatures: bigint;
  incompatibleFeatures: bigint;
  uuid: string;
  nextXid: number;
  xpDescBlocks: number;
  /** The descriptor area is a B-tree, not a contiguous ring (the top bit of nx_xp_desc_blocks). */
  xpDescIsTree: boolean;
  xpDescBase: number;
  xpDataBlocks: number;
  xpDataBase: number;
  spacemanOid: number;
  omapOid: number;
  reaperOid: number;
  maxFileSystems: number;
  /** Virtual ids of the volume superblocks, zeros left out. */
  fsOids: number[];
  flags: bigint;
  fusionUuid: string;
  keylockerStart: number;
}

export function uuidString(b: Uint8Array): string {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Parse a container superblock block (checksum already verified or not: callers decide). */
export function parseContainerSuperblock(b: Uint8Array, paddr: number): ContainerSuperblock {
  const at = paddr * b.length;
  if (b.length < 1408) throw new TruncatedImageError('container superblock', at, 1408, b.length);
  const dv = view(b);
  const magic = dv.getUint32(32, true);
  if (magic !== NX_MAGIC) throw new CorruptImageError('container superblock', at, "magic 'NXSB'", `0x${magic.toString(16)}`);
  const hdr = parseObjHeader(b, at);
  const blockSize = dv.getUint32(36, true);
  const descBlocks = dv.getUint32(104, true);
  const maxFs = dv.getUint32(180, true);
  const fsOids: number[] = [];
  for (let i = 0; i < Math.min(maxFs, NX_MAX_FILE_SYSTEMS); i++) {
    const oid = u64(dv, 184 + i * 8, 'volume id', at);
    if (oid !== 0) fsOids.push(oid);
  }
  return {
    paddr,
    xid: hdr.xid,
    blockSize,
    blockCount: u64(dv, 40, 'block count', at),
    features: dv.getBigUint64(48, true),
    readonlyCompatibleFeatures: dv.getBigUint64(56, true),
    incompatibleFeatures: dv.getBigUint64(64, true),
    uuid: uuidString(b.subarray(72, 88)),
    nextXid: u64(dv, 96, 'next xid', at),
    xpDescBlocks: descBlocks & 0x7fffffff,
    xpDescIsTree: (descBlocks & 0x80000000) !== 0,
    xpDataBlocks: dv.getUint32(108, true) & 0x7fffffff,
    xpDescBase: u64(dv, 112, 'checkpoint descriptor base', at),
    xpDataBase: u64(dv, 120, 'checkpoint data base', at),
    spacemanOid: u64(dv, 152, 'space manager id', at),
    omapOid: u64(dv, 160, 'object map address', at),
    reaperOid: u64(dv, 168, 'reaper id', at),
    maxFileSystems: maxFs,
    fsOids,
    flags: dv.getBigUint64(1264, true),
    fusionUuid: uuidString(b.subarray(1280, 1296)),
    keylockerStart: u64(dv, 1296, 'keylocker address', at),
  };
}

/** Block size check before anything is read at that size. */
function checkBlockSize(bs: number, at: number): void {
  if (bs < 4096 || bs > 65536 || (bs & (bs - 1)) !== 0) throw new CorruptImageError('container superblock', at, 'a block size that is a power of two from 4096 to 65536', String(bs));
}

/**
 * The newest valid container superblock: block 0 tells where the checkpoint descriptor area is;
 * every superblock there with a good checksum is a candidate, and the highest xid wins.
 */
export async function readContainer(dev: BlockDevice): Promise<{ sb: ContainerSuperblock; block0: ContainerSuperblock; candidates: number }> {
  if (dev.size < 4096) throw new TruncatedImageError('container superblock', 0, 4096, dev.size);
  const head = new Uint8Array(4096);
  await dev.read(head, 0);
  const bs = view(head).getUint32(36, true);
  if (view(head).getUint32(32, true) !== NX_MAGIC) throw new CorruptImageError('container superblock', 32, "magic 'NXSB'", `0x${view(head).getUint32(32, true).toString(16)}`);
  checkBlockSize(bs, 36);
  const { bytes } = await readObject(dev, bs, 0, 'container superblock', { type: T_NX_SUPERBLOCK, blockZero: true });
  const block0 = parseContainerSuperblock(bytes, 0);
  if (block0.blockCount * bs > dev.size) {
    // A container cut short (a partition smaller than the container says) is refused before use.
    throw new TruncatedImageError('container', 0, block0.blockCount * bs, dev.size);
  }
  if (block0.incompatibleFeatures & BigInt(NX_INCOMPAT_FUSION)) throw new UnsupportedFeatureError('APFS Fusion containers (two devices) are not supported');
  if (block0.xpDescIsTree) throw new UnsupportedFeatureError('APFS checkpoint descriptor area kept as a B-tree is not supported');
  const n = block0.xpDescBlocks;
  if (n === 0 || n > MAX_DESC_BLOCKS || block0.xpDescBase + n > block0.blockCount) {
    throw new CorruptImageError('container superblock', 104, `a checkpoint descriptor area inside the container (${block0.blockCount} blocks)`, `${n} blocks at ${block0.xpDescBase}`);
  }
  // The ring is read in runs of up to 16 MiB.
  let best: ContainerSuperblock | undefined;
  let candidates = 0;
  const chunk = Math.max(1, Math.floor((16 << 20) / bs));
  for (let i = 0; i < n; i += chunk) {
    const count = Math.min(chunk, n - i);
    const area = new Uint8Array(count * bs);
    await dev.read(area, (block0.xpDescBase + i) * bs);
    for (let k = 0; k < count; k++) {
      const b = area.subarray(k * bs, (k + 1) * bs);
      const dv = view(b);
      if ((dv.getUint32(24, true) & 0xffff) !== T_NX_SUPERBLOCK || dv.getUint32(32, true) !== NX_MAGIC || !checksumOk(b)) continue;
      let sb: ContainerSuperblock;
      try {
        sb = parseContainerSuperblock(b.slice(), block0.xpDescBase + i + k);
      } catch (e) {
        if (!(e instanceof DiskitError)) throw e;
        continue;
      }
      if (sb.blockSize !== bs) continue;
      candidates++;
      if (!best || sb.xid > best.xid) best = sb;
    }
  }
  // Block 0 is a copy of some checkpoint's superblock; the ring is the truth when it has one.
  const sb = best && best.xid >= block0.xid ? best : block0;
  if (sb.blockCount * bs > dev.size) throw new TruncatedImageError('container (checkpoint superblock)', sb.paddr * bs, sb.blockCount * bs, dev.size);
  return { sb, block0, candidates };
}
