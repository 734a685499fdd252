/** `inspect` and `info` for VHD: the structures with their file offsets, and the facts `diskit info` prints. */
import { ascii, type Inspection, type Structure } from '@diskit/core';
import { VHD_EPOCH, VHD_FOOTER_SIZE, vhdChecksum } from './footer.js';
import { VHD_HEADER_SIZE } from './dynamic-header.js';
import { batSummary } from './bat.js';
import { NO_LOCATOR } from './parent-locator.js';
import type { VhdImage } from './image.js';

export async function inspectVhd(img: VhdImage): Promise<Inspection> {
  const structures: Structure[] = [];
  const f = img.footer;
  const footerFields = {
    ...f, dataOffset: f.dataOffset === 0xffffffffffffffffn ? 'none (fixed)' : Number(f.dataOffset),
    diskType: `${f.diskType} (${img.variant})`, checksumValid: vhdChecksum(img.footerBytes, 64) === f.checksum,
    timestamp: new Date((f.timestamp + VHD_EPOCH) * 1000).toISOString(), sizeFrom: img.sizeSource,
  };
  structures.push({ name: 'footer', offset: img.footerOffset, size: VHD_FOOTER_SIZE, fields: footerFields });
  if (img.header) {
    structures.unshift({ name: 'footer copy', offset: 0, size: VHD_FOOTER_SIZE, fields: { cookie: ascii(img.footerBytes, 0, 8) } });
    const h = img.header;
    const hdrOff = Number(f.dataOffset);
    structures.splice(1, 0, {
      name: 'dynamic header', offset: hdrOff, size: VHD_HEADER_SIZE,
      fields: { ...h, dataOffset: '0x' + h.dataOffset.toString(16), parentLocators: h.parentLocators.filter((l) => l.platformCode !== NO_LOCATOR).length },
      children: h.parentLocators.map((l, i) => ({ name: `parent locator ${i}`, offset: hdrOff + 576 + i * 24, size: 24, fields: { ...l } }))
        .filter((s) => s.fields.platformCode !== NO_LOCATOR),
    });
    structures.splice(2, 0, { name: 'BAT', offset: h.tableOffset, size: h.maxTableEntries * 4, fields: batSummary(img.bat) });
  }
  return { format: 'vhd', variant: img.variant, virtualSize: img.size, structures };
}

export async function vhdInfo(img: VhdImage): Promise<Record<string, unknown>> {
  const f = img.footer;
  const out: Record<string, unknown> = {
    creator: { app: f.creatorApp, version: `${f.creatorVersion >>> 16}.${f.creatorVersion & 0xffff}`, hostOs: f.creatorHostOs },
    subformat: img.variant,
    sizeFrom: img.sizeSource,
    currentSize: f.currentSize,
    geometry: { cylinders: f.cylinders, heads: f.heads, sectorsPerTrack: f.sectorsPerTrack },
    uniqueId: f.uniqueId,
  };
  if (img.header) {
    out.blockSize = img.blockSize;
    out.bat = batSummary(img.bat);
  }
  if (img.parent) out.parent = { name: img.parentName, uniqueId: img.header!.parentUniqueId, format: 'vhd', variant: img.parent.variant };
  return out;
}
