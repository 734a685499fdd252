/** `inspect` and `info` for VHDX: every structure with its file offset, and the facts `diskit info` prints. */
import type { Inspection, Structure } from '@diskit/core';
import { GUIDS, GUID_NAMES, HEADER_SIZE, KiB, REGION_TABLE_SIZE, VHDX_HEADER_OFFSETS, VHDX_REGION_OFFSETS } from './layout.js';
import { parseVhdxHeader } from './header.js';
import { batSummary } from './bat.js';
import type { VhdxImage } from './image.js';

const summary = (img: VhdxImage) =>
  batSummary({ states: img.batStates, offsets: img.batOffsets }, img.chunkRatio, Math.ceil(img.size / img.blockSize));

export async function inspectVhdx(img: VhdxImage): Promise<Inspection> {
  const structures: Structure[] = [{ name: 'file identifier', offset: 0, size: 64 * KiB, fields: { signature: 'vhdxfile', creator: img.creator } }];
  for (let i = 0; i < 2; i++) {
    const b = new Uint8Array(HEADER_SIZE);
    await img.file.read(b, VHDX_HEADER_OFFSETS[i]!);
    const h = parseVhdxHeader(b, VHDX_HEADER_OFFSETS[i]!);
    structures.push({
      name: `header ${i + 1}`, offset: VHDX_HEADER_OFFSETS[i]!, size: HEADER_SIZE,
      fields: { ...h, sequenceNumber: h.sequenceNumber.toString(), checksumValid: img.headersValid[i], current: i === img.headerIndex },
    });
  }
  for (let i = 0; i < 2; i++) {
    structures.push({
      name: `region table ${i + 1}`, offset: VHDX_REGION_OFFSETS[i]!, size: REGION_TABLE_SIZE,
      fields: { checksumValid: img.regionTablesValid[i] },
      children: i === 0 ? img.regions.map((r) => ({ name: `region ${GUID_NAMES[r.guid] ?? r.guid}`, offset: r.fileOffset, size: r.length, fields: { ...r } })) : undefined,
    });
  }
  structures.push({
    name: 'log', offset: img.header.logOffset, size: img.header.logLength, fields: { logGuid: img.header.logGuid, activeEntries: img.log.length },
    children: img.log.map((e) => ({
      name: `log entry ${e.header.sequenceNumber}`, offset: img.header.logOffset + e.logOffset, size: e.header.entryLength,
      fields: { ...e.header, sequenceNumber: e.header.sequenceNumber.toString(), writes: e.ops.map((o) => ({ fileOffset: o.fileOffset, length: o.data?.length ?? o.zeroLength, zero: !o.data })) },
    })),
  });
  structures.push({
    name: 'metadata table', offset: img.metadataOffset, size: 64 * KiB, fields: { entries: img.metadataEntries.length },
    children: img.metadataEntries.map((m) => ({
      name: GUID_NAMES[m.itemId] ?? m.itemId, offset: img.metadataOffset + m.offset, size: m.length,
      fields: { ...m, ...(m.itemId === GUIDS.parentLocator && img.parentLocator ? { locatorType: img.parentLocator.type, entries: img.parentLocator.entries } : {}) },
    })),
  });
  structures.push({ name: 'BAT', offset: img.batOffset, size: img.batStates.length * 8, fields: summary(img) });
  return {
    format: 'vhdx', variant: img.variant, virtualSize: img.size, structures,
    blockSize: img.blockSize, logicalSectorSize: img.logicalSectorSize, physicalSectorSize: img.physicalSectorSize,
  };
}

export async function vhdxInfo(img: VhdxImage): Promise<Record<string, unknown>> {
  return {
    creator: img.creator, subformat: img.variant, blockSize: img.blockSize, logicalSectorSize: img.logicalSectorSize,
    physicalSectorSize: img.physicalSectorSize, diskId: img.diskId, logDirty: img.log.length > 0, bat: summary(img),
    ...(img.parentLocator ? { parentLocator: img.parentLocator.entries } : {}),
    ...(img.parent ? { parent: { name: img.parentName, format: img.parent.format, variant: img.parent.variant } } : {}),
  };
}
