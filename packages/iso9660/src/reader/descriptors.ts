/** The volume descriptor set: what each descriptor is, and the facts `info` reports from them. */
import { CorruptImageError, TruncatedImageError, type BlockDevice } from '@diskit/core';
import {
  SECTOR, VD_START, VD_BOOT, VD_PRIMARY, VD_SUPPLEMENTARY, VD_PARTITION, VD_TERMINATOR,
  parseVolumeDescriptor, decodeLongDate, aString, ucs2String, jolietLevel, type RawVolumeDescriptor,
} from '../structs.js';

export type NameMode = 'iso' | 'joliet' | 'rockridge';

export interface DescriptorInfo {
  index: number;
  offset: number;
  type: number;
  kind: 'boot' | 'primary' | 'joliet' | 'supplementary' | 'enhanced' | 'partition' | 'terminator' | 'unknown';
  version: number;
  raw?: RawVolumeDescriptor;
  bootSystemId?: string;
  bootCatalogLba?: number;
  jolietLevel?: number;
}

/** Where a descriptor list ends, how big the volume says it is. */
export async function readDescriptors(dev: BlockDevice): Promise<DescriptorInfo[]> {
  const out: DescriptorInfo[] = [];
  const buf = new Uint8Array(SECTOR);
  for (let i = 0; i < 256; i++) {
    const off = (VD_START + i) * SECTOR;
    if (off + SECTOR > dev.size) throw new TruncatedImageError('volume descriptor', off, SECTOR, dev.size);
    await dev.read(buf, off);
    const id = String.fromCharCode(buf[1]!, buf[2]!, buf[3]!, buf[4]!, buf[5]!);
    if (id !== 'CD001') {
      if (i === 0) throw new CorruptImageError('volume descriptor', off, "standard identifier 'CD001'", JSON.stringify(id));
      // No terminator: stop at the first sector that is not a descriptor.
      break;
    }
    const type = buf[0]!;
    const version = buf[6]!;
    const d: DescriptorInfo = { index: i, offset: off, type, version, kind: 'unknown' };
    if (type === VD_TERMINATOR) {
      d.kind = 'terminator';
      out.push(d);
      break;
    } else if (type === VD_BOOT) {
      d.kind = 'boot';
      d.bootSystemId = aString(buf.subarray(7, 39));
      if (d.bootSystemId === 'EL TORITO SPECIFICATION') d.bootCatalogLba = new DataView(buf.buffer).getUint32(71, true);
    } else if (type === VD_PRIMARY) {
      d.kind = 'primary';
      d.raw = parseVolumeDescriptor(buf.slice());
    } else if (type === VD_SUPPLEMENTARY) {
      d.raw = parseVolumeDescriptor(buf.slice());
      if (version === 2) d.kind = 'enhanced';
      else {
        const jl = (d.raw.flags & 1) === 0 ? jolietLevel(d.raw.escapes) : 0;
        d.kind = jl ? 'joliet' : 'supplementary';
        if (jl) d.jolietLevel = jl;
      }
    } else if (type === VD_PARTITION) {
      d.kind = 'partition';
    }
    out.push(d);
  }
  return out;
}

/** Descriptor facts shared by Volume.info() and Image.info(). */
export function volumeFacts(descs: DescriptorInfo[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const pvd = descs.find((d) => d.kind === 'primary')?.raw;
  const jol = descs.find((d) => d.kind === 'joliet');
  const out: Record<string, unknown> = {};
  if (pvd) {
    out.volumeId = aString(pvd.volumeId);
    out.systemId = aString(pvd.systemId);
    out.volumeSetId = aString(pvd.volumeSetId);
    out.publisherId = aString(pvd.publisherId);
    out.preparerId = aString(pvd.preparerId);
    out.applicationId = aString(pvd.applicationId);
    out.volumeSpaceSize = pvd.volumeSpaceSize;
    out.volumeSize = pvd.volumeSpaceSize * pvd.logicalBlockSize;
    out.created = decodeLongDate(pvd.creationDate)?.toISOString();
    out.modified = decodeLongDate(pvd.modificationDate)?.toISOString();
    out.expires = decodeLongDate(pvd.expirationDate)?.toISOString();
    out.effective = decodeLongDate(pvd.effectiveDate)?.toISOString();
  }
  out.joliet = !!jol;
  if (jol?.raw) {
    out.jolietLevel = jol.jolietLevel;
    out.jolietVolumeId = ucs2String(jol.raw.volumeId);
  }
  out.enhanced = descs.some((d) => d.kind === 'enhanced');
  out.elTorito = descs.some((d) => d.bootCatalogLba !== undefined);
  out.descriptors = descs.map((d) => d.kind);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return { ...out, ...extra };
}

/** Does `dev` hold an ISO9660 volume (CD001 at byte 32769)? */
export async function hasCd001(dev: BlockDevice): Promise<boolean> {
  if (dev.size < (VD_START + 1) * SECTOR) return false;
  const b = new Uint8Array(6);
  await dev.read(b, VD_START * SECTOR);
  return b[1] === 0x43 && b[2] === 0x44 && b[3] === 0x30 && b[4] === 0x30 && b[5] === 0x31;
}
