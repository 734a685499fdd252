import { UsageError, type FilesystemDriver, type FormatDriver } from '@diskit/core';
import { HfsVolume } from './hfs-volume.js';
import { HEADER_OFFSET, SIG_HFS, SIG_HFSPLUS, SIG_HFSX } from './volume-header.js';

export const hfsplusFilesystem: FilesystemDriver = {
  name: 'hfsplus',
  async probe(dev) {
    try {
      if (dev.size < HEADER_OFFSET + 512) return 0;
      const b = new Uint8Array(130);
      await dev.read(b, HEADER_OFFSET);
      const sig = (b[0]! << 8) | b[1]!;
      if (sig === SIG_HFSPLUS || sig === SIG_HFSX) return 90;
      // An HFS wrapper around an HFS+ volume; plain HFS scores low so mount can say it is unsupported.
      if (sig === SIG_HFS) return ((b[124]! << 8) | b[125]!) === SIG_HFSPLUS ? 90 : 10;
      // The primary header damaged, the alternate (1024 bytes before the end) intact, for a volume
      // exactly as large as the device (not the last partition of a disk, whose own alternate
      // header would sit there too).
      if (dev.size < 4096) return 0;
      const alt = new Uint8Array(48);
      await dev.read(alt, dev.size - 1024);
      const v = new DataView(alt.buffer);
      const ok = (v.getUint16(0) === SIG_HFSPLUS || v.getUint16(0) === SIG_HFSX) && v.getUint32(40) * v.getUint32(44) === dev.size;
      return ok ? 40 : 0;
    } catch {
      return 0;
    }
  },
  async mount(dev, opts) {
    for (const k of Object.keys(opts ?? {})) throw new UsageError(`unknown hfsplus mount option '${k}'`);
    return HfsVolume.mount(dev);
  },
};

export const formats: FormatDriver[] = [];
export const filesystems: FilesystemDriver[] = [hfsplusFilesystem];

export { HfsVolume };
export { BTree, parseNode, type BTreeHeader, type BNode } from './btree.js';
export { parseVolumeHeader, parseForkData, locateVolume, hfsDate, type VolumeHeader, type ForkData } from './volume-header.js';
export { parseCatalogKey, parseCatalogRecord, catalogComparator } from './catalog.js';
export { foldTable, foldName } from './casefold.js';
export { parseDecmpfs, DecmpfsDevice, decmpfsMethod, DECMPFS_XATTR } from './decmpfs.js';
/** The LZVN and LZFSE decoders decmpfs uses live in @diskit/dmg (shared with APFS). */
export { lzvnDecode, lzfseDecode } from '@diskit/dmg';
