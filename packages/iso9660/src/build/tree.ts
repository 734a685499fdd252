/** The tree the ISO builder lays out: scanned nodes, the options, and the plan it hands to the writer. */
import { UsageError } from '@diskit/core';

/** Largest extent a single directory record can describe (4 GiB − 2048, sector aligned). */
export const MAX_EXTENT = 0xfffff800;

export interface BuildNode {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  rdev?: number;
  /** Hard links: files with the same key share one copy of their data. */
  linkKey?: string;
  subdirs?: number;
  target?: string;
  children?: BuildNode[];
  /** Where the data comes from (host path), or literal bytes (boot catalog). */
  source?: string;
  bytes?: Uint8Array;
  // ---- layout (filled by planIso)
  parent?: BuildNode;
  isoName?: string;
  jolName?: string;
  dataLba?: number;
  isoDir?: DirLayout;
  jolDir?: DirLayout;
}

export interface DirLayout {
  lba: number;
  size: number;
  number: number;
}

export interface IsoBuildOptions {
  volumeId?: string;
  joliet?: boolean;
  rockRidge?: boolean;
  /** BIOS boot image: a path inside the tree ('/'-separated, relative to the root). */
  boot?: string;
  bootCatalog?: string;
  noEmulBoot?: boolean;
  bootLoadSize?: number;
  bootInfoTable?: boolean;
  /** EFI boot image (a FAT image) inside the tree. */
  efiBoot?: string;
  /** Seconds since 1970: all times clamped to it, volume dates set to it (default SOURCE_DATE_EPOCH, else now). */
  sourceDateEpoch?: number;
  /** SUSP skip length (SP len_skp): bytes left free before each system use area. For tests; default 0. */
  suspSkip?: number;
  publisherId?: string;
  preparerId?: string;
  applicationId?: string;
  systemId?: string;
}

export interface IsoPlan {
  totalBlocks: number;
  files: BuildNode[];
  /** Metadata blocks: (offset, bytes) pieces in increasing order. */
  metadata(): Generator<{ offset: number; bytes: Uint8Array }>;
  /** Boot info table patches: node → bytes to place at offset 8 of its data. */
  bootPatches: Map<BuildNode, (data: Uint8Array) => void>;
  bootEntries: { platform: string; lba: number; sectorCount: number }[];
}

/** How many directory records (extents) a node needs: files over MAX_EXTENT take several. */
export function extentCount(n: BuildNode): number {
  return n.type === 'file' && n.size > MAX_EXTENT ? Math.ceil(n.size / MAX_EXTENT) : 1;
}

/** The node at a '/'-separated path, which must be a non-empty regular file. */
export function findNode(root: BuildNode, path: string, what: string): BuildNode {
  let n = root;
  for (const part of path.split('/').filter(Boolean)) {
    const c = n.children?.find((k) => k.name === part);
    if (!c) throw new UsageError(`${what} '${path}' is not in the source tree`);
    n = c;
  }
  if (n.type !== 'file') throw new UsageError(`${what} '${path}' is not a regular file`);
  if (n.size === 0) throw new UsageError(`${what} '${path}' is empty`);
  return n;
}

