/** El Torito for the builder: the boot images named by the options, the catalog node, and the boot info table. */
import { UsageError } from '@diskit/core';
import { SECTOR } from '../structs.js';
import { encodeBootCatalog } from '../eltorito.js';
import { findNode, type BuildNode, type IsoBuildOptions, type IsoPlan } from './tree.js';

export interface BootImage {
  node: BuildNode;
  platformId: number;
  media: number;
  count: number;
}

export interface BootPlan {
  boots: BootImage[];
  /** The catalog's node: in the tree when --boot-catalog names a place, else hidden. */
  catalogNode?: BuildNode;
}

/** Check the boot options, find the images in the tree and add the catalog to it. */
export function planBoot(root: BuildNode, opts: IsoBuildOptions, now: Date): BootPlan {
  let catalogNode: BuildNode | undefined;
  const boots: BootImage[] = [];
  if (opts.boot) {
    const n = findNode(root, opts.boot, 'boot image');
    let media = 0;
    let count = opts.bootLoadSize ?? 4;
    if (!opts.noEmulBoot) {
      const sizes: Record<number, number> = { [1200 * 1024]: 1, [1440 * 1024]: 2, [2880 * 1024]: 3 };
      media = sizes[n.size] ?? 0;
      if (!media) throw new UsageError(`boot image '${opts.boot}' is ${n.size} bytes, not a floppy size: use --no-emul-boot`);
      count = 1;
    } else if (opts.bootLoadSize === undefined) count = 4;
    if (!Number.isInteger(count) || count < 1 || count > 0xffff) throw new UsageError(`boot load size must be 1..65535 (got ${opts.bootLoadSize})`);
    boots.push({ node: n, platformId: 0, media, count });
  } else if (opts.bootInfoTable || opts.noEmulBoot || opts.bootLoadSize !== undefined) {
    throw new UsageError('--no-emul-boot, --boot-load-size and --boot-info-table need --boot');
  }
  if (opts.efiBoot) {
    const n = findNode(root, opts.efiBoot, 'EFI boot image');
    boots.push({ node: n, platformId: 0xef, media: 0, count: Math.min(0xffff, Math.max(1, Math.ceil(n.size / 512))) });
  }
  if (boots.length) {
    catalogNode = { name: 'boot.catalog', type: 'file', mode: 0o100444, uid: 0, gid: 0, mtime: now, size: SECTOR };
    if (opts.bootCatalog) {
      const parts = opts.bootCatalog.split('/').filter(Boolean);
      const name = parts.pop();
      if (!name) throw new UsageError('empty boot catalog path');
      let dir = root;
      for (const p of parts) {
        const c = dir.children?.find((k) => k.name === p && k.type === 'directory');
        if (!c) throw new UsageError(`boot catalog directory '${parts.join('/')}' is not in the source tree`);
        dir = c;
      }
      if (dir.children!.some((k) => k.name === name)) throw new UsageError(`boot catalog path '${opts.bootCatalog}' already exists in the source tree`);
      catalogNode.name = name;
      dir.children!.push(catalogNode);
      dir.children!.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
  } else if (opts.bootCatalog) throw new UsageError('--boot-catalog needs --boot or --efi-boot');
  return { boots, catalogNode };
}

/** Once the images have LBAs: the catalog's bytes, the entries to report, and the boot info table patch. */
export function finishBoot(plan: BootPlan, opts: IsoBuildOptions, pvdLba: number): Pick<IsoPlan, 'bootEntries' | 'bootPatches'> {
  const bootEntries: IsoPlan['bootEntries'] = [];
  const bootPatches = new Map<BuildNode, (data: Uint8Array) => void>();
  const { boots, catalogNode } = plan;
  if (!boots.length) return { bootEntries, bootPatches };
  for (const b of boots) {
    bootEntries.push({ platform: b.platformId === 0xef ? 'EFI' : 'x86', lba: b.node.dataLba!, sectorCount: b.count });
  }
  catalogNode!.bytes = encodeBootCatalog(boots.map((b) => ({ platformId: b.platformId, mediaType: b.media, loadSegment: 0, systemType: 0, sectorCount: b.count, loadRba: b.node.dataLba! })));
  if (opts.bootInfoTable) {
    const n = boots[0]!.node;
    if (n.size < 64) throw new UsageError(`boot image '${opts.boot}' is too small for a boot info table (${n.size} bytes)`);
    bootPatches.set(n, (data) => {
      let sum = 0;
      for (let i = 64; i < data.length; i += 4) {
        sum = (sum + ((data[i]! | ((data[i + 1] ?? 0) << 8) | ((data[i + 2] ?? 0) << 16) | ((data[i + 3] ?? 0) << 24)) >>> 0)) >>> 0;
      }
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      v.setUint32(8, pvdLba, true);
      v.setUint32(12, n.dataLba!, true);
      v.setUint32(16, n.size, true);
      v.setUint32(20, sum, true);
      data.fill(0, 24, 64);
    });
  }
  return { bootEntries, bootPatches };
}
