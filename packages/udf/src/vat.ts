/**
 * The Virtual Allocation Table of write-once media (UDF 2.2.11 / 1.50 2.2.10): a file, recorded last
 * on the disc, mapping virtual block numbers to blocks of the physical partition.
 */
import { CorruptImageError, type BlockDevice } from '@diskit/core';
import { FILE_TYPE, parseFileEntry, type FileEntry } from './file-entry.js';
import { entityId } from './strings.js';
import { TAG, dv, peekTag } from './tag.js';

/** How far back from the end of the image the last recorded sector is searched for. */
const MAX_TAIL_SCAN = 256 << 20;
const UNUSED = 0xffffffff;

/** The last recorded (non-zero) sector of the device at or below `limit`, scanning back in 1 MiB steps. */
async function lastRecordedSector(dev: BlockDevice, ss: number): Promise<number> {
  const chunk = 1 << 20;
  const last = Math.floor(dev.size / ss);
  const buf = new Uint8Array(chunk);
  for (let end = last * ss; end > 0 && last * ss - end < MAX_TAIL_SCAN; end -= chunk) {
    const start = Math.max(0, end - chunk);
    const b = buf.subarray(0, end - start);
    await dev.read(b, start);
    for (let s = b.length / ss - 1; s >= 0; s--) {
      const sec = b.subarray(s * ss, (s + 1) * ss);
      for (let i = 0; i < sec.length; i += 4) if (sec[i] | sec[i + 1]! | sec[i + 2]! | sec[i + 3]!) return start / ss + s;
    }
  }
  throw new CorruptImageError('UDF virtual allocation table', dev.size, 'a recorded sector near the end of the image');
}

export interface Vat {
  entries: Uint32Array;
}

/**
 * Find and read the VAT: the file entry in the last recorded sector, in the physical partition
 * starting at sector `partitionStart`; `contents(fe, offset)` reads a file's bytes from there.
 */
export async function readVat(dev: BlockDevice, ss: number, blockSize: number, partitionStart: number, contents: (fe: FileEntry, offset: number) => Promise<Uint8Array>): Promise<Vat> {
  const sector = await lastRecordedSector(dev, ss);
  const b = new Uint8Array(blockSize);
  await dev.read(b.subarray(0, Math.min(blockSize, dev.size - sector * ss)), sector * ss);
  const id = peekTag(b);
  if (id !== TAG.FE && id !== TAG.EFE) throw new CorruptImageError('UDF virtual allocation table', sector * ss, 'a file entry in the last recorded sector', `tag ${id ?? 'none'}`);
  const fe = parseFileEntry(b, sector * ss, (sector * ss - partitionStart * ss) / blockSize);
  const data = await contents(fe, sector * ss);
  const v = dv(data);
  let first: number;
  let count: number;
  if (fe.fileType === FILE_TYPE.VAT20) {
    if (data.length < 152) throw new CorruptImageError('UDF VAT header', sector * ss, 'a 152-byte header');
    first = v.getUint16(0, true);
    count = Math.floor((data.length - first) / 4);
  } else if (data.length >= 36 && entityId(data.subarray(data.length - 36)) === '*UDF Virtual Alloc Tbl') {
    first = 0;
    count = Math.floor((data.length - 36) / 4);
  } else throw new CorruptImageError('UDF virtual allocation table', sector * ss, 'a VAT file (type 248, or a UDF 1.50 VAT)', `file type ${fe.fileType}`);
  if (first > data.length) throw new CorruptImageError('UDF VAT header', sector * ss, 'a header inside the VAT', String(first));
  const entries = new Uint32Array(count);
  for (let i = 0; i < count; i++) entries[i] = v.getUint32(first + 4 * i, true);
  return { entries };
}

export function vatLookup(vat: Vat, block: number, where: number): number {
  const p = block < vat.entries.length ? vat.entries[block]! : UNUSED;
  if (p === UNUSED) throw new CorruptImageError('UDF virtual allocation table', where, `a mapping for virtual block ${block}`);
  return p;
}
