/**
 * The VHDX file identifier ('vhdxfile' and the creator) and the two 4 KiB headers at 64 and
 * 128 KiB: the current one is the valid copy with the higher sequence number.
 */
import {
  ByteWriter, CorruptImageError, Parser, TruncatedImageError, UnsupportedFeatureError, ascii, guidToBytes, guidToString, u64,
  type BlockDevice, type Problem, type ProbeInput,
} from '@diskit/core';
import { utf16 } from '../util.js';
import { HEADER_SIZE, VHDX_HEADER_OFFSETS, chooseCopy, withCrc } from './layout.js';

export interface VhdxHeader {
  signature: string;
  checksum: number;
  sequenceNumber: bigint;
  fileWriteGuid: string;
  dataWriteGuid: string;
  logGuid: string;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

const headerParser = new Parser()
  .endianness('little')
  .string('signature', { length: 4, encoding: 'latin1' })
  .uint32('checksum')
  .uint64('sequenceNumber')
  .buffer('fileWriteGuid', { length: 16 })
  .buffer('dataWriteGuid', { length: 16 })
  .buffer('logGuid', { length: 16 })
  .uint16('logVersion')
  .uint16('version')
  .uint32('logLength')
  .uint64('logOffset');

export function parseVhdxHeader(b: Uint8Array, offset = 0): VhdxHeader {
  const h = headerParser.parse(b.subarray(0, 80));
  return {
    ...h, fileWriteGuid: guidToString(h.fileWriteGuid), dataWriteGuid: guidToString(h.dataWriteGuid),
    logGuid: guidToString(h.logGuid), logOffset: u64(h.logOffset, 'VHDX header', offset + 72),
  };
}

/** A 4 KiB header with its CRC32C filled in. */
export function encodeVhdxHeader(h: VhdxHeader): Uint8Array {
  const w = new ByteWriter(HEADER_SIZE);
  w.ascii(0, 'head', 4).u64le(8, h.sequenceNumber).bytesAt(16, guidToBytes(h.fileWriteGuid))
    .bytesAt(32, guidToBytes(h.dataWriteGuid)).bytesAt(48, guidToBytes(h.logGuid)).u16le(64, h.logVersion)
    .u16le(66, h.version).u32le(68, h.logLength).u64le(72, h.logOffset);
  return withCrc(w.bytes, 4);
}

export function probeVhdx(input: ProbeInput): number {
  return input.head.length >= 8 && ascii(input.head, 0, 8) === 'vhdxfile' ? 100 : 0;
}

/** Check the file identifier and return the creator it names. */
export async function readFileIdentifier(file: BlockDevice): Promise<string> {
  const fid = new Uint8Array(520);
  await file.read(fid, 0);
  if (ascii(fid, 0, 8) !== 'vhdxfile') throw new CorruptImageError('VHDX file identifier', 0, "signature 'vhdxfile'", JSON.stringify(ascii(fid, 0, 8)));
  return utf16(fid.subarray(8, 520), true);
}

export interface HeadersRead {
  header: VhdxHeader;
  /** Which copy is current (0 or 1). */
  index: number;
  raw: Uint8Array[];
  /** Signature and CRC32C of each copy. */
  valid: boolean[];
  /** Each damaged copy, and which one is used instead. */
  warnings: Problem[];
}

/** The current header: the sound copy with the higher sequence number, else a damaged one whose signature is right. */
export async function readHeaders(file: BlockDevice): Promise<HeadersRead> {
  const raw: Uint8Array[] = [];
  for (const off of VHDX_HEADER_OFFSETS) {
    if (off + HEADER_SIZE > file.size) throw new TruncatedImageError('VHDX header', off, HEADER_SIZE, file.size);
    const b = new Uint8Array(HEADER_SIZE);
    await file.read(b, off);
    raw.push(b);
  }
  const seq = (i: number) => new DataView(raw[i]!.buffer).getBigUint64(8, true);
  const chosen = chooseCopy(raw, 'head', 4, 'header', VHDX_HEADER_OFFSETS, (a, b) => (seq(b) > seq(a) ? 1 : -1));
  if (!chosen) throw new CorruptImageError('VHDX header', VHDX_HEADER_OFFSETS[0], "a 'head' header with a valid CRC32C in either copy", 'none');
  const { index, valid, warnings } = chosen;
  const header = parseVhdxHeader(raw[index]!, VHDX_HEADER_OFFSETS[index]!);
  if (header.version !== 1) throw new UnsupportedFeatureError(`VHDX version ${header.version} (only 1 is known)`);
  if (header.logVersion !== 0) throw new UnsupportedFeatureError(`VHDX log version ${header.logVersion} (only 0 is known)`);
  return { header, index, raw, valid, warnings };
}

/** Write both headers (the current one last) with higher sequence numbers. */
export async function writeHeaders(file: BlockDevice, h: VhdxHeader, current: number): Promise<void> {
  const other = 1 - current;
  await file.write(encodeVhdxHeader({ ...h, sequenceNumber: h.sequenceNumber + 1n }), VHDX_HEADER_OFFSETS[other]!);
  await file.flush();
  await file.write(encodeVhdxHeader({ ...h, sequenceNumber: h.sequenceNumber + 2n }), VHDX_HEADER_OFFSETS[current]!);
  await file.flush();
}
