/** Opening a container: the newest checkpoint, its object map, every volume, the one to mount. */
import { CorruptImageError, DiskitError, UsageError, type BlockDevice } from '@diskit/core';
import { BTree, NodeStore } from './btree.js';
import { readContainer, type ContainerSuperblock } from './container.js';
import { FsTree } from './fs-tree.js';
import { readObject, OBJ_PHYSICAL, T_FS, T_FSTREE } from './object.js';
import { ObjectMap } from './omap.js';
import { listSnapshots, type Snapshot } from './snapshots.js';
import { parseVolumeSuperblock, type VolumeSuperblock } from './volume-superblock.js';
import { ApfsVolume } from './volume.js';

export interface MountOptions {
  /** A volume's number (from 1, in container order) or name; default the first data or user volume. */
  volume?: string;
  /** A snapshot's name; default the live volume. */
  snapshot?: string;
}

export interface OpenContainer {
  sb: ContainerSuperblock;
  candidates: number;
  store: NodeStore;
  omap: ObjectMap;
  volumes: VolumeSuperblock[];
}

export async function openContainer(dev: BlockDevice): Promise<OpenContainer> {
  const { sb, candidates } = await readContainer(dev);
  const store = new NodeStore(dev, sb.blockSize, sb.blockCount, sb.xid);
  const omap = await ObjectMap.open(store, sb.omapOid, 'container');
  const volumes: VolumeSuperblock[] = [];
  for (const oid of sb.fsOids) {
    const paddr = await omap.resolve(oid, sb.xid, 'volume superblock');
    const { bytes } = await readObject(dev, sb.blockSize, paddr, 'volume superblock', { type: T_FS, oid, maxXid: sb.xid });
    volumes.push(parseVolumeSuperblock(bytes, paddr * sb.blockSize));
  }
  return { sb, candidates, store, omap, volumes };
}

const DATA_ROLES = new Set([0x40, 0x2]);

/** Which volume `--volume` names, or the default. */
export function chooseVolume(volumes: VolumeSuperblock[], want?: string): number {
  if (volumes.length === 0) throw new CorruptImageError('container superblock', 184, 'at least one volume', 'none');
  if (want === undefined) {
    const readable = (v: VolumeSuperblock) => !v.encrypted && !v.sealed;
    const i = [
      volumes.findIndex((v) => DATA_ROLES.has(v.role) && readable(v)),
      volumes.findIndex((v) => v.role === 0 && readable(v)),
      volumes.findIndex(readable),
    ].find((x) => x >= 0);
    return i ?? 0;
  }
  if (/^\d+$/.test(want)) {
    const n = Number(want);
    if (n >= 1 && n <= volumes.length) return n - 1;
  }
  let i = volumes.findIndex((v) => v.name === want);
  if (i < 0) i = volumes.findIndex((v) => v.name.toLowerCase() === want.toLowerCase());
  if (i < 0) throw new UsageError(`no APFS volume '${want}' (have: ${volumes.map((v, k) => `${k + 1} ${v.name}`).join(', ')})`);
  return i;
}

function volumeFacts(v: VolumeSuperblock, k: number, bs: number, snaps: Snapshot[]) {
  return {
    number: k + 1, name: v.name, role: v.roleName, caseSensitive: !v.caseInsensitive, usedSize: v.allocCount * bs,
    files: v.numFiles, directories: v.numDirectories, symlinks: v.numSymlinks, uuid: v.uuid,
    encrypted: v.encrypted, sealed: v.sealed, formattedBy: v.formattedBy,
    snapshots: snaps.map((s) => ({ name: s.name, xid: s.xid, created: s.created.toISOString() })),
  };
}

export async function mountApfs(dev: BlockDevice, opts: MountOptions = {}): Promise<ApfsVolume> {
  const c = await openContainer(dev);
  const k = chooseVolume(c.volumes, opts.volume);
  let vsb = c.volumes[k]!;
  const bs = c.sb.blockSize;
  const snapshotsOf = new Map<number, Snapshot[]>();
  const snaps = async (i: number) => {
    let s = snapshotsOf.get(i);
    if (!s) snapshotsOf.set(i, (s = await listSnapshots(c.store, c.volumes[i]!)));
    return s;
  };
  let refusal: string | undefined;
  if (vsb.encrypted) refusal = `APFS volume '${vsb.name}' is encrypted: encrypted volumes are not supported`;
  else if (vsb.sealed) refusal = `APFS volume '${vsb.name}' is a sealed system volume: sealed volumes are not supported`;
  let xid = c.sb.xid;
  let snapshot: Snapshot | undefined;
  if (opts.snapshot !== undefined) {
    snapshot = (await snaps(k)).find((s) => s.name === opts.snapshot);
    if (!snapshot) throw new UsageError(`volume '${vsb.name}' has no snapshot '${opts.snapshot}' (have: ${(await snaps(k)).map((s) => s.name).join(', ') || 'none'})`);
    const { bytes } = await readObject(dev, bs, snapshot.sblockAddr, `superblock of snapshot '${snapshot.name}'`, { type: T_FS, maxXid: c.sb.xid });
    vsb = parseVolumeSuperblock(bytes, snapshot.sblockAddr * bs);
    xid = snapshot.xid;
  }
  const volOmap = refusal ? undefined : await ObjectMap.open(c.store, c.volumes[k]!.omapOid, `volume '${vsb.name}'`);
  if (!refusal && (vsb.rootTreeType & OBJ_PHYSICAL)) {
    throw new CorruptImageError('volume superblock', vsb.offset + 116, 'a virtual file-system tree', `type 0x${vsb.rootTreeType.toString(16)}`);
  }
  const tree = new BTree(c.store, vsb.rootTreeOid, 'file-system', T_FSTREE, (oid) => volOmap!.resolve(oid, xid, 'file-system tree node'));
  const fs = new FsTree(tree, vsb.hashedNames, bs, c.sb.blockCount);
  const facts = async () => {
    const volumes = [];
    for (let i = 0; i < c.volumes.length; i++) {
      // A damaged snapshot tree is said, not hidden: info still describes the rest.
      let list: Snapshot[] = [];
      let snapshotError: string | undefined;
      try {
        list = await snaps(i);
      } catch (e) {
        if (!(e instanceof DiskitError)) throw e;
        snapshotError = e.message;
      }
      volumes.push({ ...volumeFacts(c.volumes[i]!, i, bs, list), ...(snapshotError ? { snapshotError } : {}) });
    }
    return {
      volumeName: vsb.name, volume: k + 1, snapshot: snapshot?.name, caseSensitive: !vsb.caseInsensitive,
      blockSize: bs, blockCount: c.sb.blockCount, containerUuid: c.sb.uuid, checkpointXid: c.sb.xid, volumes,
    };
  };
  return new ApfsVolume(dev, fs, facts, vsb.caseInsensitive, refusal);
}
