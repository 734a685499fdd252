/**
 * A read-only consistency pass: every group descriptor, then every directory reachable from the
 * root and every inode it names (checksums, extent trees, block maps, symlinks, xattr blocks). Each damaged
 * structure is one problem; the pass goes on past it.
 */
import { CorruptImageError, isDiskitError, type Problem } from '@diskit/core';
import { extCrc } from './checksum.js';
import { BG_BLOCK_UNINIT, BG_INODE_UNINIT, type GroupDescriptor } from './group-descriptor.js';
import { isDir, isLink, isReg, ROOT_INO, FLAG_INLINE_DATA } from './inode.js';
import { INCOMPAT, hasCsum } from './superblock.js';
import type { ExtVolume } from './volume.js';

const MAX_PROBLEMS = 1000;

/** The block and inode bitmaps' CRC32Cs (metadata_csum), except where the group says they are uninitialised. */
async function checkBitmaps(vol: ExtVolume, g: number, d: GroupDescriptor): Promise<void> {
  const { sb } = vol;
  const wide = sb.descSize >= 64;
  const verify = async (block: number, bytes: number, stored: number, what: string) => {
    const b = await vol.readBlock(block, `ext ${what} of group ${g}`);
    let c = extCrc(sb.csumSeed, b.subarray(0, bytes));
    if (!wide) c &= 0xffff;
    if (c !== stored) throw new CorruptImageError(`ext ${what} checksum (group ${g})`, block * sb.blockSize, `0x${c.toString(16)}`, `0x${stored.toString(16)}`);
  };
  if (!(d.flags & BG_BLOCK_UNINIT)) await verify(d.blockBitmap, sb.clustersPerGroup / 8, d.blockBitmapCsum, 'block bitmap');
  if (!(d.flags & BG_INODE_UNINIT)) await verify(d.inodeBitmap, sb.inodesPerGroup / 8, d.inodeBitmapCsum, 'inode bitmap');
}

export async function checkVolume(vol: ExtVolume): Promise<Problem[]> {
  const problems: Problem[] = [];
  const note = (e: unknown, where: string) => {
    if (!isDiskitError(e)) throw e;
    const x = e as { structure?: string; offset?: number };
    problems.push({ severity: 'error', message: `${where}: ${e.message}`, structure: x.structure, offset: x.offset });
  };
  const { sb } = vol;
  if (vol.primaryProblem) problems.push({ severity: 'error', message: `primary superblock unusable (${vol.primaryProblem}); read through the backup at byte ${sb.offset}`, structure: 'ext superblock', offset: 1024 });
  if (sb.incompat & INCOMPAT.needs_recovery) problems.push({ severity: 'warning', message: 'journal needs recovery (not replayed; the on-disk state was checked)' });
  for (let g = 0; g < sb.groupCount && problems.length < MAX_PROBLEMS; g++) {
    try {
      const d = await vol.group(g);
      if (hasCsum(sb)) await checkBitmaps(vol, g, d);
    } catch (e) {
      note(e, `group ${g}`);
    }
  }
  const seenDirs = new Set<number>([ROOT_INO]);
  const stack: [number, string][] = [[ROOT_INO, '/']];
  while (stack.length && problems.length < MAX_PROBLEMS) {
    const [ino, path] = stack.pop()!;
    try {
      const dir = await vol.inode(ino);
      const damaged: CorruptImageError[] = [];
      const entries = await vol.dirents(dir, damaged);
      for (const e of damaged) note(e, `directory ${path}`);
      for (const d of entries) {
        const p = `${path === '/' ? '' : path}/${d.name}`;
        try {
          const inode = await vol.inode(d.ino);
          if (isDir(inode)) {
            if (!seenDirs.has(d.ino)) {
              seenDirs.add(d.ino);
              stack.push([d.ino, p]);
            } else problems.push({ severity: 'error', message: `ext directory ${p} (inode ${d.ino}) is linked from more than one place (a directory loop)` });
          } else if (isLink(inode)) await vol.symlinkTarget(inode);
          else if (isReg(inode) && !(inode.flags & FLAG_INLINE_DATA)) await vol.runs(inode);
          if (inode.fileAcl) await vol.xattrs(inode);
        } catch (e) {
          note(e, p);
        }
      }
    } catch (e) {
      note(e, `directory ${path}`);
    }
  }
  return problems;
}
