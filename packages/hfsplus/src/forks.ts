/** A volume's file contents: data and resource forks, attributes, decmpfs headers, symlink targets. */
import { CorruptImageError, MemoryDevice, type BlockDevice } from '@diskit/core';
import type { BTree } from './btree.js';
import type { CatalogFile } from './catalog.js';
import { FORK_DATA, forkExtents } from './extents.js';
import { ForkDevice, runsOf } from './fork.js';
import { attributeExtents, listAttributes, type Attribute } from './attributes.js';
import { DECMPFS_XATTR, claimedSize, parseDecmpfs, type DecmpfsHeader } from './decmpfs.js';
import { isCompressed } from './entry.js';
import type { VolumeHeader } from './volume-header.js';

const MAX_SYMLINK = 4096;

export class Forks {
  constructor(
    private readonly dev: BlockDevice,
    private readonly header: VolumeHeader,
    private readonly extentsTree: BTree,
    private readonly attributes: BTree | undefined,
  ) {}

  /** A file's data fork (FORK_DATA) or resource fork as a device, with all its extents. */
  async forkDevice(f: CatalogFile, forkType: number, where: number): Promise<ForkDevice> {
    const fork = forkType === FORK_DATA ? f.dataFork : f.resourceFork;
    const ext = await forkExtents(fork, f.id, forkType, this.extentsTree, where);
    return new ForkDevice(this.dev, runsOf(ext, fork.logicalSize, this.header.blockSize, this.header.totalBlocks, `HFS+ fork of file ${f.id}`, where), fork.logicalSize);
  }

  async symlinkTarget(f: CatalogFile, where: number): Promise<string> {
    if (f.dataFork.logicalSize > MAX_SYMLINK) throw new CorruptImageError('HFS+ symbolic link', where, `a target of at most ${MAX_SYMLINK} bytes`, `${f.dataFork.logicalSize} bytes`);
    const dev = await this.forkDevice(f, FORK_DATA, where);
    const b = new Uint8Array(dev.size);
    await dev.read(b, 0);
    return new TextDecoder().decode(b);
  }

  /** The listed size: the data fork's, or the uncompressed size of a decmpfs file. */
  async fileSize(f: CatalogFile): Promise<number> {
    if (!isCompressed(f)) return f.dataFork.logicalSize;
    const { header, where } = await this.decmpfs(f);
    return claimedSize(header, where);
  }

  /** A compressed file's decmpfs header (from its com.apple.decmpfs attribute). */
  async decmpfs(f: CatalogFile): Promise<{ header: DecmpfsHeader; where: number }> {
    const attr = (await listAttributes(this.attributes, f.id)).find((a) => a.name === DECMPFS_XATTR);
    if (!attr) throw new CorruptImageError('HFS+ compressed file', 0, `a ${DECMPFS_XATTR} attribute for file ${f.id}`, 'none');
    const bytes = await this.attributeBytes(f.id, attr, 1 << 20);
    return { header: parseDecmpfs(bytes, attr.where), where: attr.where };
  }

  private async attributeBytes(fileID: number, a: Attribute, max: number): Promise<Uint8Array> {
    if (a.data) return a.data;
    if (a.size > max) throw new CorruptImageError('HFS+ attribute', a.where, `a value of at most ${max} bytes`, `${a.size} bytes`);
    const dev = await this.attributeDevice(fileID, a);
    const b = new Uint8Array(dev.size);
    await dev.read(b, 0);
    return b;
  }

  /** An attribute's value as a device (inline values in memory, large ones as their fork). */
  async attributeDevice(fileID: number, a: Attribute): Promise<BlockDevice> {
    if (a.data) return new MemoryDevice(a.data.slice(), { readOnly: true });
    const ext = await attributeExtents(this.attributes!, fileID, a);
    return new ForkDevice(this.dev, runsOf(ext, a.size, this.header.blockSize, this.header.totalBlocks, 'HFS+ attribute fork', a.where), a.size);
  }
}
