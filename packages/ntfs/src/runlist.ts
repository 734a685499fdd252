/**
 * Data runs: a non-resident attribute's VCN → LCN mapping, packed as (length, signed LCN delta)
 * pairs. A run without an offset is sparse (reads as zeros).
 */
import { CorruptImageError } from '@diskit/core';

export interface Run {
  vcn: number;
  /** -1 for a sparse run. */
  lcn: number;
  length: number;
}

/** Decode one attribute extent's runlist starting at `startVcn`; every run must lie in the volume. */
export function decodeRunlist(rl: Uint8Array, startVcn: number, totalClusters: number, offset: number): Run[] {
  const runs: Run[] = [];
  let pos = 0;
  let vcn = startVcn;
  let lcn = 0;
  const bad = (what: string, found: unknown) => new CorruptImageError('NTFS runlist', offset + pos, what, String(found));
  while (pos < rl.length && rl[pos] !== 0) {
    const h = rl[pos]!;
    const lenSize = h & 0xf;
    const offSize = h >> 4;
    if (lenSize === 0 || lenSize > 8 || offSize > 8 || pos + 1 + lenSize + offSize > rl.length) throw bad('a run header with sizes 1..8 inside the attribute', `0x${h.toString(16)}`);
    let length = 0;
    for (let i = lenSize - 1; i >= 0; i--) length = length * 256 + rl[pos + 1 + i]!;
    let delta = 0;
    if (offSize) {
      for (let i = offSize - 1; i >= 0; i--) delta = delta * 256 + rl[pos + 1 + lenSize + i]!;
      if (rl[pos + lenSize + offSize]! & 0x80) delta -= 2 ** (8 * offSize);
    }
    if (length <= 0 || !Number.isSafeInteger(length) || vcn + length > 2 ** 48) throw bad('a run length of at least one cluster', length);
    if (offSize) {
      lcn += delta;
      if (lcn < 0 || lcn + length > totalClusters) throw bad(`a run inside the volume's ${totalClusters} clusters`, `LCN ${lcn}+${length}`);
      runs.push({ vcn, lcn, length });
    } else {
      runs.push({ vcn, lcn: -1, length });
    }
    vcn += length;
    if (runs.length > 1 << 20) throw bad('at most 2^20 runs', runs.length);
    pos += 1 + lenSize + offSize;
  }
  return runs;
}

/**
 * Join extents' runs (sorted by VCN) into one map, checking that they follow each other and
 * that no two runs share a cluster (a loop or cross-link would read the same data twice).
 */
export function joinRuns(parts: Run[][], structure: string, offset: number): Run[] {
  const all = parts.flat().sort((a, b) => a.vcn - b.vcn);
  for (let i = 1; i < all.length; i++) {
    const p = all[i - 1]!;
    if (all[i]!.vcn !== p.vcn + p.length) throw new CorruptImageError(structure, offset, `run at VCN ${p.vcn + p.length}`, `VCN ${all[i]!.vcn}`);
  }
  const used = all.filter((r) => r.lcn >= 0).sort((a, b) => a.lcn - b.lcn);
  for (let i = 1; i < used.length; i++) {
    const p = used[i - 1]!;
    if (used[i]!.lcn < p.lcn + p.length) throw new CorruptImageError(structure, offset, 'runs that do not overlap', `clusters ${used[i]!.lcn} and ${p.lcn}+${p.length}`);
  }
  return all;
}
