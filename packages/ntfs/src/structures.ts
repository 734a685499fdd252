/** What `diskit dump` shows of an NTFS volume: boot sectors, the $MFT, and the system files' records. */
import type { Structure } from '@diskit/core';
import type { BootSector } from './boot-sector.js';
import type { Mft } from './mft.js';
import type { Run } from './runlist.js';

const SYSTEM_FILES = ['$MFT', '$MFTMirr', '$LogFile', '$Volume', '$AttrDef', '. (root)', '$Bitmap', '$Boot', '$BadClus', '$Secure', '$UpCase', '$Extend'];
const TYPE_NAMES: Record<number, string> = {
  0x10: '$STANDARD_INFORMATION', 0x20: '$ATTRIBUTE_LIST', 0x30: '$FILE_NAME', 0x40: '$OBJECT_ID', 0x50: '$SECURITY_DESCRIPTOR',
  0x60: '$VOLUME_NAME', 0x70: '$VOLUME_INFORMATION', 0x80: '$DATA', 0x90: '$INDEX_ROOT', 0xa0: '$INDEX_ALLOCATION', 0xb0: '$BITMAP',
  0xc0: '$REPARSE_POINT', 0xd0: '$EA_INFORMATION', 0xe0: '$EA', 0x100: '$LOGGED_UTILITY_STREAM',
};

export async function ntfsStructures(boot: BootSector, mft: Mft, mftRuns: Run[], deviceSize: number): Promise<Structure[]> {
  const cs = boot.clusterSize;
  const bootFields = {
    bytesPerSector: boot.bytesPerSector, clusterSize: cs, totalSectors: boot.totalSectors, mftCluster: boot.mftLcn,
    mftMirrCluster: boot.mftMirrLcn, mftRecordSize: boot.recordSize, indexBlockSize: boot.indexBlockSize, serial: boot.serial,
  };
  const out: Structure[] = [{ name: 'boot sector', offset: boot.offset, size: 512, fields: bootFields }];
  const backup = boot.totalSectors * boot.bytesPerSector;
  if (boot.offset === 0 && backup + 512 <= deviceSize) out.push({ name: 'backup boot sector', offset: backup, size: 512, fields: {} });
  out.push({
    name: '$MFT', offset: boot.mftLcn * cs, size: mft.records * mft.recordSize,
    fields: { records: mft.records, recordSize: mft.recordSize, runs: mftRuns.map((r) => ({ vcn: r.vcn, lcn: r.lcn, clusters: r.length })), fromMirror: mft.usedMirror },
  });
  out.push({ name: '$MFTMirr', offset: boot.mftMirrLcn * cs, size: 4 * mft.recordSize, fields: { records: 4 } });
  const children: Structure[] = [];
  for (let n = 0; n < Math.min(SYSTEM_FILES.length, mft.records); n++) {
    try {
      const r = await mft.readRecord(n);
      children.push({
        name: `record ${n} ${SYSTEM_FILES[n]}`, offset: r.offset, size: mft.recordSize,
        fields: { flags: r.flags, seq: r.seq, links: r.linkCount, attributes: r.attributes.map((a) => `${TYPE_NAMES[a.type] ?? `0x${a.type.toString(16)}`}${a.name ? `:${a.name}` : ''}${a.value ? '' : ' (non-resident)'}`) },
      });
    } catch (e) {
      children.push({ name: `record ${n} ${SYSTEM_FILES[n]}`, offset: mft.offsetOf(n), size: mft.recordSize, fields: { error: (e as Error).message } });
    }
  }
  out.push({ name: 'system files', offset: boot.mftLcn * cs, size: children.length * mft.recordSize, fields: {}, children });
  return out;
}
