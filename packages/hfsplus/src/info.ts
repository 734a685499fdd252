/** Volume facts for `diskit info`: the header's counts and dates, and the journal's state. */
import type { BlockDevice } from '@diskit/core';
import { VOL_INCONSISTENT, VOL_JOURNALED, VOL_UNMOUNTED, hfsDate, type VolumeHeader } from './volume-header.js';

const JOURNAL_MAGIC = 0x4a4e4c78; // 'JNLx'
const JOURNAL_ON_OTHER_DEVICE = 2;

export interface JournalState {
  /** The journal holds transactions not yet written to the volume (start != end). */
  empty?: boolean;
  onOtherDevice?: boolean;
  offset?: number;
  size?: number;
  problem?: string;
}

/**
 * The journal info block names the journal; its header's start and end say whether transactions
 * wait to be replayed. Volumes are read as they are on disk: a non-empty journal is only reported.
 */
export async function journalState(dev: BlockDevice, h: VolumeHeader): Promise<JournalState> {
  const off = h.journalInfoBlock * h.blockSize;
  if (off + 52 > dev.size) return { problem: `journal info block ${h.journalInfoBlock} is outside the volume` };
  const jib = new Uint8Array(52);
  await dev.read(jib, off);
  const v = new DataView(jib.buffer);
  const flags = v.getUint32(0);
  if (flags & JOURNAL_ON_OTHER_DEVICE) return { onOtherDevice: true };
  const jOff = v.getUint32(36) * 2 ** 32 + v.getUint32(40);
  const jSize = v.getUint32(44) * 2 ** 32 + v.getUint32(48);
  if (jOff + 32 > dev.size) return { offset: jOff, size: jSize, problem: 'journal outside the volume' };
  const jh = new Uint8Array(32);
  await dev.read(jh, jOff);
  const d = new DataView(jh.buffer);
  // The journal is written in the byte order of the Mac that wrote it; the magic tells which.
  const le = d.getUint32(0, true) === JOURNAL_MAGIC;
  if (!le && d.getUint32(0, false) !== JOURNAL_MAGIC) return { offset: jOff, size: jSize, problem: "journal header without magic 'JNLx'" };
  const u64 = (o: number) => (le ? d.getUint32(o + 4, true) * 2 ** 32 + d.getUint32(o, true) : d.getUint32(o) * 2 ** 32 + d.getUint32(o + 4));
  return { empty: u64(8) === u64(16), offset: jOff, size: jSize };
}

export async function volumeInfo(dev: BlockDevice, h: VolumeHeader, extra: Record<string, unknown>): Promise<Record<string, unknown>> {
  const journaled = (h.attributes & VOL_JOURNALED) !== 0 && h.journalInfoBlock !== 0;
  const iso = (s: number) => hfsDate(s)?.toISOString();
  const out: Record<string, unknown> = {
    ...extra,
    signature: h.signature === 0x4858 ? 'HX' : 'H+',
    version: h.version,
    lastMountedVersion: h.lastMountedVersion,
    blockSize: h.blockSize,
    totalBlocks: h.totalBlocks,
    freeBlocks: h.freeBlocks,
    volumeSize: h.blockSize * h.totalBlocks,
    // The device holds less than the volume header says (a cut image): reads past the end fail.
    truncated: dev.size < h.blockSize * h.totalBlocks,
    fileCount: h.fileCount,
    folderCount: h.folderCount,
    nextCatalogID: h.nextCatalogID,
    writeCount: h.writeCount,
    cleanlyUnmounted: (h.attributes & VOL_UNMOUNTED) !== 0,
    inconsistent: (h.attributes & VOL_INCONSISTENT) !== 0,
    journaled,
    // The header's creation date is local time on the Mac that made it (TN1150): no zone to give it.
    createdLocalTime: iso(h.createDate)?.replace(/\.000Z$/, ''),
    modified: iso(h.modifyDate),
    backedUp: iso(h.backupDate),
    checked: iso(h.checkedDate),
  };
  if (journaled) out.journal = await journalState(dev, h);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}
