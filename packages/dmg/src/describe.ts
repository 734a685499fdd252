/** What `diskit info` and `diskit dump` show of a UDIF: per-blkx facts, resources, every structure with its offset. */
import type { Inspection, Structure } from '@diskit/core';
import { parsePlist, type PlistDict, type PlistValue } from './plist.js';
import { CHECKSUM_NONE, KOLY_SIZE, SECTOR, checksumNames, chunkTypeName, type UdifChecksum } from './udif.js';
import { isDataChunk, str, type BlkxEntry } from './table.js';
import type { DmgImage } from './image.js';

/** Per-partition facts: one per blkx entry. */
export function partitionsOf(blkx: BlkxEntry[]) {
  return blkx.map((b) => {
    const counts: Record<string, number> = {};
    let packed = 0;
    for (const c of b.mish.chunks) {
      const k = chunkTypeName(c.type);
      counts[k] = (counts[k] ?? 0) + 1;
      if (isDataChunk(c)) packed += c.compressedLength;
    }
    let best = 'raw', bestN = -1;
    const bytes: Record<string, number> = {};
    for (const c of b.mish.chunks) if (isDataChunk(c)) bytes[chunkTypeName(c.type)] = (bytes[chunkTypeName(c.type)] ?? 0) + c.sectorCount;
    for (const [k, n] of Object.entries(bytes)) if (n > bestN) [best, bestN] = [k, n];
    if (bestN < 0) best = counts['zero'] ? 'zero' : counts['ignore'] ? 'ignore' : 'none';
    return {
      index: b.index,
      id: b.id,
      name: b.name,
      start: b.mish.sectorNumber * SECTOR,
      size: b.mish.sectorCount * SECTOR,
      compression: best,
      compressedSize: packed,
      chunks: counts,
      checksum: describeChecksum(b.mish.checksum),
    };
  });
}

/** Every resource other than blkx (plst, cSum, nsiz, size, …): names and sizes, cSum and nsiz decoded. */
export function resourcesOf(plist: PlistDict): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  const rf = (plist['resource-fork'] as PlistDict) ?? {};
  for (const [kind, list] of Object.entries(rf)) {
    if (kind === 'blkx' || !Array.isArray(list)) continue;
    out[kind] = list.map((e) => {
      const d = (e ?? {}) as PlistDict;
      const data = d['Data'] instanceof Uint8Array ? d['Data'] : undefined;
      const r: Record<string, unknown> = { id: str(d['ID']), name: str(d['Name']), attributes: str(d['Attributes']), dataLength: data?.length ?? 0 };
      if (kind === 'cSum' && data && data.length >= 10) {
        // { u16 version; u32 type; u32 checksum }, big-endian
        const dv = new DataView(data.buffer, data.byteOffset, data.length);
        r.version = dv.getUint16(0);
        r.type = checksumNames[dv.getUint32(2)] ?? dv.getUint32(2);
        r.checksum = dv.getUint32(6).toString(16).padStart(8, '0');
      } else if (kind === 'nsiz' && data) {
        try {
          r.plist = jsonable(parsePlist(new TextDecoder().decode(data)));
        } catch (err) {
          r.error = (err as Error).message;
        }
      }
      return r;
    });
  }
  return out;
}

export function describeImage(img: DmgImage): Record<string, unknown> {
  return {
    imageVariant: img.koly.imageVariant,
    udifVersion: img.koly.version,
    dataForkLength: img.koly.dataForkLength,
    dataChecksum: describeChecksum(img.koly.dataChecksum),
    masterChecksum: describeChecksum(img.koly.masterChecksum),
    resources: resourcesOf(img.plist),
    blkx: partitionsOf(img.blkx),
  };
}

export function inspectImage(img: DmgImage): Inspection {
  const k = img.koly;
  const kolyAt = img.file.size - KOLY_SIZE;
  const structures: Structure[] = [
    {
      name: 'koly',
      offset: kolyAt,
      size: KOLY_SIZE,
      fields: {
        version: k.version, headerSize: k.headerSize, flags: k.flags, runningDataForkOffset: k.runningDataForkOffset,
        dataForkOffset: k.dataForkOffset, dataForkLength: k.dataForkLength, rsrcForkOffset: k.rsrcForkOffset,
        rsrcForkLength: k.rsrcForkLength, segmentNumber: k.segmentNumber, segmentCount: k.segmentCount,
        dataChecksum: describeChecksum(k.dataChecksum), xmlOffset: k.xmlOffset, xmlLength: k.xmlLength,
        masterChecksum: describeChecksum(k.masterChecksum), imageVariant: k.imageVariant, sectorCount: k.sectorCount,
      },
    },
    {
      name: 'plist',
      offset: k.xmlOffset,
      size: k.xmlLength,
      fields: { resources: Object.keys((img.plist['resource-fork'] as PlistDict) ?? {}) },
      children: img.blkx.map((b) => ({
        name: `blkx[${b.index}]`,
        offset: k.xmlOffset,
        size: 204 + b.mish.chunks.length * 40,
        fields: {
          id: b.id, name: b.name, attributes: b.attributes, sectorNumber: b.mish.sectorNumber, sectorCount: b.mish.sectorCount,
          dataOffset: b.mish.dataOffset, buffersNeeded: b.mish.buffersNeeded, blockDescriptors: b.mish.blockDescriptors,
          checksum: describeChecksum(b.mish.checksum), chunks: b.mish.chunks.length,
        },
        children: b.mish.chunks.map((c, i) => ({
          name: `chunk[${i}]`,
          offset: k.dataForkOffset + b.mish.dataOffset + c.compressedOffset,
          size: c.compressedLength,
          fields: { type: chunkTypeName(c.type), comment: c.comment, sectorNumber: c.sectorNumber, sectorCount: c.sectorCount, compressedOffset: c.compressedOffset, compressedLength: c.compressedLength },
        })),
      })),
    },
  ];
  return { format: 'dmg', variant: img.variant, virtualSize: img.size, structures };
}

function jsonable(v: PlistValue): unknown {
  if (v instanceof Uint8Array) return { bytes: v.length };
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(jsonable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonable(x)]));
  return v;
}

export function describeChecksum(c: UdifChecksum): { type: string; bits: number; value?: string } {
  const type = checksumNames[c.type] ?? `0x${c.type.toString(16)}`;
  if (c.type === CHECKSUM_NONE) return { type, bits: c.size };
  const bytes = Math.min(128, Math.ceil(c.size / 8));
  let hex = '';
  for (let i = 0; i < bytes; i++) hex += c.data[i]!.toString(16).padStart(2, '0');
  return { type, bits: c.size, value: hex };
}
