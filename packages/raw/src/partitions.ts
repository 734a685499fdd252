import { SliceDevice, ascii, type BlockDevice, type Partition, type Problem, type Structure, UsageError } from '@diskit/core';
import { GPT_PROTECTIVE, hasMbrSignature, readMbr } from './mbr.js';
import { readGpt } from './gpt.js';
import { readApm } from './apm.js';

export interface PartitionTable {
  scheme: 'gpt' | 'mbr' | 'apm' | 'none';
  partitions: Partition[];
  sectorSize: number;
  /** An isohybrid image: an ISO9660 volume that also carries an MBR/GPT so it boots from USB. */
  hybridIso: boolean;
  problems: Problem[];
  /** Checksum failures read around (a GPT copy with a bad CRC32): shown as warnings; they are errors in `problems`. */
  warnings: Problem[];
  structures: Structure[];
}

/** True when the device holds an ISO9660 primary volume descriptor at its usual place. */
async function hasIso9660(dev: BlockDevice): Promise<boolean> {
  if (dev.size < 0x8006) return false;
  const b = new Uint8Array(5);
  await dev.read(b, 0x8001);
  return ascii(b) === 'CD001';
}

/**
 * Find the partition table of a device: GPT (512- or 4096-byte sectors) when the MBR is
 * protective or an "EFI PART" header is present, else MBR with extended/logical partitions, else
 * an Apple Partition Map (block 0 "ER", entries "PM"; also what hybrid ISOs carry for Macs).
 */
export async function readPartitionTable(dev: BlockDevice): Promise<PartitionTable> {
  const none: PartitionTable = { scheme: 'none', partitions: [], sectorSize: 512, hybridIso: false, problems: [], warnings: [], structures: [] };
  if (dev.size < 512) return none;
  const hybridIso = await hasIso9660(dev);
  const sector = new Uint8Array(512);
  await dev.read(sector, 0);
  const mbrValid = hasMbrSignature(sector);

  for (const sectorSize of [512, 4096]) {
    if (dev.size < sectorSize * 3) continue;
    const sig = new Uint8Array(8);
    await dev.read(sig, sectorSize);
    if (ascii(sig) !== 'EFI PART') continue;
    const gpt = await readGpt(dev, sectorSize);
    if (gpt) {
      const structures = [...gpt.structures];
      const problems = [...gpt.problems];
      if (mbrValid) {
        const m = await readMbr(dev);
        structures.unshift(...m.structures);
        if (!m.mbr.entries.some((e) => e.type === GPT_PROTECTIVE) && !hybridIso) {
          problems.push({ severity: 'warning', structure: 'MBR', offset: 446, message: 'GPT disk without a protective MBR entry (hybrid MBR)' });
        }
      }
      return { scheme: 'gpt', partitions: markReach(dev, gpt.partitions, problems), sectorSize, hybridIso, problems, warnings: gpt.warnings, structures };
    }
  }
  if (!mbrValid) return (await apmTable(dev, hybridIso)) ?? { ...none, hybridIso };
  const m = await readMbr(dev);
  if (m.mbr.entries.some((e) => e.type === GPT_PROTECTIVE)) {
    const problems: Problem[] = [{ severity: 'error', structure: 'GPT', offset: 512, message: 'protective MBR but no readable GPT header' }, ...m.problems];
    return { ...none, scheme: 'mbr', hybridIso, partitions: markReach(dev, m.partitions, problems), structures: m.structures, problems };
  }
  // A FAT/NTFS boot sector also ends in 55 AA: entries that are all empty mean no table.
  if (m.partitions.length === 0) return (await apmTable(dev, hybridIso)) ?? { ...none, hybridIso };
  const problems = [...m.problems];
  return { scheme: 'mbr', partitions: markReach(dev, m.partitions, problems), sectorSize: 512, hybridIso, problems, warnings: [], structures: m.structures };
}

/**
 * Entries past the end of the image (a short dump of a bigger disk) stay listed, as sfdisk lists
 * them, marked `reachable: false` (nothing of it in the file) or `truncated` (its end missing), with a warning.
 */
function markReach(dev: BlockDevice, partitions: Partition[], problems: Problem[]): Partition[] {
  return partitions.map((p) => {
    const end = p.start + p.size;
    if (end <= dev.size) return p;
    const what = p.kind === 'extended' ? 'extended partition' : 'partition';
    if (p.start >= dev.size) {
      problems.push({ severity: 'warning', structure: `${p.scheme.toUpperCase()} entry ${p.index}`, offset: p.start, message: `${what} ${p.index} starts at byte ${p.start}, past the end of the image (${dev.size} bytes): it cannot be read` });
      return { ...p, reachable: false };
    }
    problems.push({ severity: 'warning', structure: `${p.scheme.toUpperCase()} entry ${p.index}`, offset: p.start, message: `${what} ${p.index} ends at byte ${end}, past the end of the image (${dev.size} bytes): its last ${end - dev.size} bytes are missing` });
    return { ...p, truncated: true };
  });
}

async function apmTable(dev: BlockDevice, hybridIso: boolean): Promise<PartitionTable | null> {
  const apm = await readApm(dev);
  if (!apm) return null;
  const problems = [...apm.problems];
  return { scheme: 'apm', partitions: markReach(dev, apm.partitions, problems), sectorSize: apm.blockSize, hybridIso, problems, warnings: [], structures: apm.structures };
}

/** A partition as a device of its own (1-based index, as `--partition N`). */
export async function openPartition(dev: BlockDevice, index: number): Promise<SliceDevice> {
  const table = await readPartitionTable(dev);
  const p = table.partitions.find((x) => x.index === index && x.kind !== 'extended');
  if (!p) {
    throw new UsageError(`no partition ${index} (have: ${table.partitions.filter((x) => x.kind !== 'extended').map((x) => x.index).join(', ') || 'none'})`);
  }
  return new SliceDevice(dev, p.start, Math.min(p.size, dev.size - p.start));
}
