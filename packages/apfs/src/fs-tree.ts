/** Record access on one volume's file-system tree (at the live state or a snapshot's transaction). */
import { CorruptImageError } from '@diskit/core';
import type { BTree, KeyRange } from './btree.js';
import { MAX_EXTENTS, checkExtents } from './file-data.js';
import {
  J_DIR_REC, J_FILE_EXTENT, J_INODE, J_XATTR, keyHeader, parseDirRecord, parseFileExtent, parseInode, parseXattr, recordsOf, xattrName,
  type DirRecord, type FileExtent, type Inode, type Xattr,
} from './records.js';

/** More entries than this in one directory is refused rather than held in memory. */
export const MAX_DIR_ENTRIES = 1 << 21;

export class FsTree {
  constructor(
    readonly tree: BTree,
    readonly hashedNames: boolean,
    readonly blockSize: number,
    readonly blockCount: number,
  ) {}

  async inode(id: number): Promise<Inode | undefined> {
    for await (const [, v, at] of this.tree.range(recordsOf(id, J_INODE))) {
      if (!v) throw new CorruptImageError('inode record', at, `a value for inode ${id}`, 'none');
      return parseInode(id, v, at);
    }
    return undefined;
  }

  /**
   * The inodes of `ids` (a directory's children). Ids close together are read in one scan of the
   * leaves that hold them rather than one descent each: listing a directory of 100,000 files
   * then reads each leaf once.
   */
  async inodes(ids: number[], xattrNames: string[] = []): Promise<{ inodes: Map<number, Inode>; xattrs?: Map<number, Map<string, Xattr>> }> {
    const out = new Map<number, Inode>();
    if (ids.length === 0) return { inodes: out };
    const sorted = [...new Set(ids)].sort((a, b) => a - b);
    const lo = sorted[0]!, hi = sorted[sorted.length - 1]!;
    if (sorted.length < 8 || hi - lo > sorted.length * 4) {
      for (const id of sorted) {
        const ino = await this.inode(id);
        if (ino) out.set(id, ino);
      }
      return { inodes: out };
    }
    // The same scan passes the children's attributes: the few a listing needs are kept.
    const want = new Set(sorted);
    const names = new Set(xattrNames);
    const xattrs = new Map<number, Map<string, Xattr>>();
    for await (const batch of this.tree.rangeBatches(idsBetween(lo, hi))) {
      for (const [k, v, at] of batch) {
        const h = keyHeader(k);
        if (!want.has(h.id)) continue;
        if (h.type === J_INODE) {
          if (!v) throw new CorruptImageError('inode record', at, `a value for inode ${h.id}`, 'none');
          out.set(h.id, parseInode(h.id, v, at));
        } else if (h.type === J_XATTR && names.size && k.length >= 10 && names.has(xattrName(k))) {
          let m = xattrs.get(h.id);
          if (!m) xattrs.set(h.id, (m = new Map()));
          const x = parseXattr(k, v, at);
          m.set(x.name, x);
        }
      }
    }
    return { inodes: out, xattrs };
  }

  /** The entries of directory `id` whose hashed keys carry `hash` (hashed volumes only). */
  async dirRecordsWithHash(id: number, hash: number): Promise<DirRecord[]> {
    const of = recordsOf(id, J_DIR_REC);
    const out: DirRecord[] = [];
    const range: KeyRange = (key) => {
      const c = of(key);
      if (c !== 0 || key.length < 12) return c;
      const h = (key[8]! | (key[9]! << 8) | (key[10]! << 16) | (key[11]! << 24)) >>> 10;
      return h === hash ? 0 : h < hash ? -1 : 1;
    };
    for await (const batch of this.tree.rangeBatches(range)) for (const [k, v, at] of batch) out.push(parseDirRecord(k, v, true, at));
    return out;
  }

  /** Every directory entry of directory `id`, in tree order, a leaf at a time. */
  async *dirRecords(id: number): AsyncGenerator<DirRecord[]> {
    let n = 0;
    for await (const batch of this.tree.rangeBatches(recordsOf(id, J_DIR_REC))) {
      n += batch.length;
      if (n > MAX_DIR_ENTRIES) throw new CorruptImageError('directory', batch[0]![2], `at most ${MAX_DIR_ENTRIES} entries in directory ${id}`, 'more');
      yield batch.map(([k, v, at]) => parseDirRecord(k, v, this.hashedNames, at));
    }
  }

  /** The checked extents of data stream `id`. */
  async extents(id: number, what: string): Promise<FileExtent[]> {
    const out: FileExtent[] = [];
    for await (const [k, v, at] of this.tree.range(recordsOf(id, J_FILE_EXTENT))) {
      if (out.length >= MAX_EXTENTS) throw new CorruptImageError(`extents of ${what}`, at, `at most ${MAX_EXTENTS} extents`, 'more');
      out.push(parseFileExtent(k, v, at));
    }
    checkExtents(out, this.blockSize, this.blockCount, what, 0);
    return out;
  }

  async xattrs(id: number): Promise<Xattr[]> {
    const out: Xattr[] = [];
    for await (const [k, v, at] of this.tree.range(recordsOf(id, J_XATTR))) {
      if (out.length >= 4096) throw new CorruptImageError('extended attributes', at, `at most 4096 attributes on object ${id}`, 'more');
      out.push(parseXattr(k, v, at));
    }
    return out;
  }

  async xattr(id: number, name: string): Promise<Xattr | undefined> {
    for await (const [k, v, at] of this.tree.range(recordsOf(id, J_XATTR))) {
      if (k.length >= 10 && xattrName(k) === name) return parseXattr(k, v, at);
    }
    return undefined;
  }
}

/** Every record of objects lo..hi, whatever its type. */
function idsBetween(lo: number, hi: number): KeyRange {
  return (key) => {
    if (key.length < 8) return -1;
    const id = keyHeader(key).id;
    return id < lo ? -1 : id > hi ? 1 : 0;
  };
}
