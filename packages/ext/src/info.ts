/** What `info` and `dump` show of a volume: its facts and where its metadata sits. */
import type { Structure } from '@diskit/core';
import { featureNames, COMPAT, INCOMPAT } from './superblock.js';
import { descriptorOffset } from './group-descriptor.js';
import { ROOT_INO } from './inode.js';
import type { ExtVolume } from './volume.js';

/**
 * Where the metadata sits (byte offsets in the filesystem's device): the superblock, every group
 * descriptor, each group's used inode table, the root directory's blocks — for dumps and the fuzzer.
 */
export async function volumeStructures(vol: ExtVolume, maxGroups: number): Promise<Structure[]> {
  const { sb } = vol;
  const out: Structure[] = [{ name: 'superblock', offset: sb.offset, size: 1024, fields: { blocks: sb.blocksCount, inodes: sb.inodesCount, blockSize: sb.blockSize, features: featureNames(sb) } }];
  for (let g = 0; g < Math.min(sb.groupCount, maxGroups); g++) {
    const d = await vol.group(g);
    out.push({ name: `group descriptor ${g}`, offset: descriptorOffset(sb, g, vol.firstGroupBlock), size: sb.descSize, fields: { ...d } });
    const used = sb.inodesPerGroup - (d.itableUnused || 0);
    if (used > 0) out.push({ name: `inode table ${g}`, offset: d.inodeTable * sb.blockSize, size: Math.min(used, 256) * sb.inodeSize, fields: { usedInodes: used } });
  }
  const root = await vol.inode(ROOT_INO);
  for (const r of (await vol.runs(root)).slice(0, 16)) {
    if (r.kind === 'data') out.push({ name: 'root directory blocks', offset: r.physical * sb.blockSize, size: r.count * sb.blockSize, fields: { logical: r.logical } });
  }
  return out;
}

export async function volumeInfo(vol: ExtVolume): Promise<Record<string, unknown>> {
  const { sb } = vol;
  const hex = Array.from(sb.uuid, (x) => x.toString(16).padStart(2, '0')).join('');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const journal = !(sb.compat & COMPAT.has_journal) ? 'none'
    : sb.incompat & INCOMPAT.needs_recovery ? 'needs recovery (not replayed: reading the on-disk state, as debugfs does)' : 'clean';
  return {
    variant: sb.incompat & (INCOMPAT.extent | INCOMPAT.flex_bg | INCOMPAT['64bit']) ? 'ext4' : sb.compat & COMPAT.has_journal ? 'ext3' : 'ext2',
    label: sb.label, uuid, revision: `${sb.revLevel}.${sb.minorRevLevel}`,
    blockSize: sb.blockSize, ...(sb.clusterSize !== sb.blockSize ? { clusterSize: sb.clusterSize } : {}),
    blocks: sb.blocksCount, freeBlocks: sb.freeBlocks,
    size: sb.blocksCount * sb.blockSize, usedBytes: (sb.blocksCount - sb.freeBlocks) * sb.blockSize, freeBytes: sb.freeBlocks * sb.blockSize,
    inodes: sb.inodesCount, freeInodes: sb.freeInodes, inodeSize: sb.inodeSize, groups: sb.groupCount,
    features: featureNames(sb), journal,
    state: sb.state & 2 ? 'errors' : sb.state & 1 ? 'clean' : 'not clean',
    created: sb.mkfsTime ? new Date(sb.mkfsTime * 1000).toISOString() : undefined,
    lastWritten: sb.wtime ? new Date(sb.wtime * 1000).toISOString() : undefined,
    ...(sb.lastMounted ? { lastMountedOn: sb.lastMounted } : {}),
    ...(vol.primaryProblem ? { superblock: `backup at byte ${sb.offset} (primary: ${vol.primaryProblem})` } : {}),
  };
}
