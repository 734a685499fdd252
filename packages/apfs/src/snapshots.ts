/** Snapshot metadata (j_snap_metadata_val_t) from a volume's snapshot tree. */
import { CorruptImageError } from '@diskit/core';
import { BTree, type NodeStore } from './btree.js';
import { OBJ_PHYSICAL, T_SNAPMETATREE, u64, view } from './object.js';
import { J_SNAP_METADATA, keyHeader, nsDate } from './records.js';
import type { VolumeSuperblock } from './volume-superblock.js';

export interface Snapshot {
  xid: number;
  name: string;
  created: Date;
  /** Block address of the volume superblock as it was when the snapshot was taken. */
  sblockAddr: number;
}

const MAX_SNAPSHOTS = 4096;

export async function listSnapshots(store: NodeStore, vsb: VolumeSuperblock): Promise<Snapshot[]> {
  if (vsb.numSnapshots === 0 || vsb.snapMetaTreeOid === 0) return [];
  if ((vsb.snapMetaTreeType & OBJ_PHYSICAL) === 0) {
    throw new CorruptImageError('volume superblock', vsb.offset + 124, 'a physical snapshot tree', `type 0x${vsb.snapMetaTreeType.toString(16)}`);
  }
  const tree = new BTree(store, vsb.snapMetaTreeOid, 'snapshot', T_SNAPMETATREE);
  const out: Snapshot[] = [];
  // Metadata records sort by snapshot xid, name records after them all: the tree is small, scan it whole.
  for await (const [k, v, at] of tree.range(() => 0)) {
    if (k.length < 8 || keyHeader(k).type !== J_SNAP_METADATA) continue;
    if (!v || v.length < 50) throw new CorruptImageError('snapshot metadata', at, 'at least 50 bytes', String(v?.length ?? 0));
    if (out.length >= MAX_SNAPSHOTS) throw new CorruptImageError('snapshot tree', at, `at most ${MAX_SNAPSHOTS} snapshots`, 'more');
    const dv = view(v);
    const nameLen = dv.getUint16(48, true);
    if (50 + nameLen > v.length) throw new CorruptImageError('snapshot metadata', at, 'a name inside the record', `length ${nameLen}`);
    let nb = v.subarray(50, 50 + nameLen);
    if (nb[nb.length - 1] === 0) nb = nb.subarray(0, nb.length - 1);
    out.push({
      xid: keyHeader(k).id,
      name: new TextDecoder().decode(nb),
      created: nsDate(dv, 16),
      sblockAddr: u64(dv, 8, 'snapshot superblock address', at),
    });
  }
  return out;
}
