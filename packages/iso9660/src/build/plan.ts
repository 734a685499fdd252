/**
 * Planning an ISO image: check the options, name and order every directory, size the directory
 * extents and path tables, then give every structure and file its LBA. The writer (write.ts) makes
 * the bytes from the plan; the Node entry (node.ts) streams file data into it.
 */
import { UsageError } from '@diskit/core';
import { SECTOR, encodeUcs2 } from '../structs.js';
import { asciiBytes } from './names.js';
import { areaLength } from './rock-ridge.js';
import { DirRecords, type Tree } from './records.js';
import { planBoot, finishBoot } from './boot.js';
import { metadataOf, type IsoLayout, type PathTableEntries } from './write.js';
import type { BuildNode, DirLayout, IsoBuildOptions, IsoPlan } from './tree.js';

const MAX_DIRS = 65535;
const MAX_BLOCKS = 0xffffffff;

function checkOptions(opts: IsoBuildOptions): { volumeId: string; suspSkip: number } {
  const volumeId = opts.volumeId ?? 'CDROM';
  if (volumeId.length > 32) throw new UsageError(`volume id '${volumeId}' is longer than 32 characters`);
  if (/[^\x20-\x7e]/.test(volumeId)) throw new UsageError(`volume id '${volumeId}' must be printable ASCII`);
  for (const [k, v] of [['publisher', opts.publisherId], ['preparer', opts.preparerId], ['application', opts.applicationId]] as const) {
    if (v && v.length > 128) throw new UsageError(`${k} id is longer than 128 characters`);
  }
  const suspSkip = opts.suspSkip ?? 0;
  if (!Number.isInteger(suspSkip) || suspSkip < 0 || suspSkip > 100) throw new UsageError('suspSkip must be 0..100');
  return { volumeId, suspSkip };
}

/** Every directory (breadth first) and every regular file but the boot catalog; parents linked. */
function collect(root: BuildNode, catalogNode: BuildNode | undefined): { dirs: BuildNode[]; files: BuildNode[] } {
  const dirs: BuildNode[] = [root];
  const files: BuildNode[] = [];
  for (let i = 0; i < dirs.length; i++) {
    const d = dirs[i]!;
    const kids = d.children ?? [];
    for (const k of kids) k.parent = d;
    for (const k of kids) {
      if (k.type === 'directory') dirs.push(k);
      else if (k.type === 'file' && k !== catalogNode) files.push(k);
    }
    if (dirs.length > MAX_DIRS) throw new UsageError(`more than ${MAX_DIRS} directories: ISO9660 path tables cannot number them`);
  }
  root.parent = root;
  return { dirs, files };
}

function pathTable(root: BuildNode, list: BuildNode[], tree: Tree) {
  const dirOf = (d: BuildNode): DirLayout => (tree === 'iso' ? d.isoDir! : d.jolDir!);
  const entries = list.map((d) => ({
    name: d === root ? Uint8Array.of(0) : tree === 'iso' ? asciiBytes(d.isoName!) : encodeUcs2(d.jolName!),
    extent: 0,
    parent: d === root ? 1 : dirOf(d.parent!).number,
    dir: dirOf(d),
  }));
  return { entries, size: entries.reduce((s, e) => s + 8 + e.name.length + (e.name.length & 1), 0) };
}

/** Lay out an ISO image for a scanned tree. Mutates the nodes (names, LBAs). */
export function planIso(root: BuildNode, opts: IsoBuildOptions, now: Date): IsoPlan {
  const rr = opts.rockRidge ?? true;
  const joliet = opts.joliet ?? true;
  const { volumeId, suspSkip } = checkOptions(opts);
  const epoch = opts.sourceDateEpoch;
  const clamp = (d: Date) => (epoch !== undefined && d.getTime() > epoch * 1000 ? new Date(epoch * 1000) : d);
  const boot = planBoot(root, opts, now);
  const { files } = collect(root, boot.catalogNode);

  // ---- names, order and directory sizes per tree
  const records = new DirRecords(root, rr, clamp, suspSkip);
  const isoDirs = records.directories('iso');
  const jolDirs = joliet ? records.directories('jol') : [];
  isoDirs.forEach((d, i) => (d.isoDir = records.layoutDir(d, 'iso', i + 1)));
  jolDirs.forEach((d, i) => (d.jolDir = records.layoutDir(d, 'jol', i + 1)));
  const isoPt = pathTable(root, isoDirs, 'iso');
  const jolPt = pathTable(root, jolDirs, 'jol');
  const blocks = (n: number) => Math.ceil(n / SECTOR);

  // ---- LBA assignment
  let lba = 16;
  const pvdLba = lba++;
  const bootVdLba = boot.boots.length ? lba++ : 0;
  const svdLba = joliet ? lba++ : 0;
  const termLba = lba++;
  const catalogLba = boot.boots.length ? lba++ : 0;
  if (boot.catalogNode) boot.catalogNode.dataLba = catalogLba;
  const isoLPt = lba; lba += blocks(isoPt.size);
  const isoMPt = lba; lba += blocks(isoPt.size);
  const jolLPt = lba; lba += joliet ? blocks(jolPt.size) : 0;
  const jolMPt = lba; lba += joliet ? blocks(jolPt.size) : 0;
  for (const d of isoDirs) {
    d.isoDir!.lba = lba;
    lba += d.isoDir!.size / SECTOR;
  }
  for (const d of jolDirs) {
    d.jolDir!.lba = lba;
    lba += d.jolDir!.size / SECTOR;
  }
  for (const e of isoPt.entries) e.extent = e.dir.lba;
  for (const e of jolPt.entries) e.extent = e.dir.lba;
  // continuation areas
  const ceStart = lba;
  let ceBlock = lba, ceOff = 0;
  let anyCe = false;
  const spilled = records.spilled();
  for (const su of spilled) {
    for (let i = 0; i < su.areas.length; i++) {
      const len = areaLength(su, i);
      if (ceOff + len > SECTOR) {
        ceBlock++;
        ceOff = 0;
      }
      su.addrs.push({ block: ceBlock, offset: ceOff, length: len });
      ceOff += len;
      anyCe = true;
    }
  }
  lba = anyCe ? ceBlock + 1 : ceStart;
  // file data: hard links share the first copy
  const linked = new Map<string, BuildNode>();
  const unique: BuildNode[] = [];
  for (const f of files) {
    if (f.size === 0) {
      f.dataLba = 0;
      continue;
    }
    const first = f.linkKey !== undefined ? linked.get(f.linkKey) : undefined;
    if (first && first.size === f.size) {
      f.dataLba = first.dataLba;
      continue;
    }
    if (f.linkKey !== undefined) linked.set(f.linkKey, f);
    unique.push(f);
    f.dataLba = lba;
    lba += blocks(f.size);
    if (lba > MAX_BLOCKS) throw new UsageError('the image would exceed 2^32 blocks (8 TiB)');
  }

  const { bootEntries, bootPatches } = finishBoot(boot, opts, pvdLba);
  const table = (pt: ReturnType<typeof pathTable>, l: number, m: number): PathTableEntries => ({ entries: pt.entries, size: pt.size, l, m });
  const layout: IsoLayout = {
    opts, volumeId, now, records, totalBlocks: lba, pvdLba, bootVdLba, svdLba, termLba,
    catalog: boot.catalogNode ? { lba: catalogLba, bytes: boot.catalogNode.bytes! } : undefined,
    iso: { dirs: isoDirs, pathTable: table(isoPt, isoLPt, isoMPt) },
    jol: joliet ? { dirs: jolDirs, pathTable: table(jolPt, jolLPt, jolMPt) } : undefined,
    ce: anyCe ? { start: ceStart, spilled } : undefined,
  };
  return { totalBlocks: lba, files: unique, metadata: () => metadataOf(layout), bootPatches, bootEntries };
}
