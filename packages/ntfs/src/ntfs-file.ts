/** A file's attributes gathered from its base record and, through $ATTRIBUTE_LIST, its extension records. */
import { CorruptImageError, type BlockDevice } from '@diskit/core';
import { AT, type Attribute } from './attribute.js';
import { parseAttributeList, MAX_ATTRIBUTE_LIST } from './attribute-list.js';
import { decodeRunlist, joinRuns, type Run } from './runlist.js';
import { attributeDevice, type Geometry } from './file-data.js';
import type { MftRecord } from './mft-record.js';

const MAX_EXTENSION_RECORDS = 4096;

/** One attribute (type + name) across its extents; `head` is the extent starting at VCN 0. */
export interface Stream {
  type: number;
  name: string;
  head: Attribute;
  extents: Attribute[];
}

export interface VolumeGeometry extends Geometry {
  totalClusters: number;
}

export class NtfsFile {
  constructor(
    readonly record: MftRecord,
    readonly streams: Stream[],
  ) {}

  get number(): number {
    return this.record.number;
  }
  get(type: number, name = ''): Stream | undefined {
    return this.streams.find((s) => s.type === type && s.name === name);
  }
  all(type: number): Stream[] {
    return this.streams.filter((s) => s.type === type);
  }
}

/** The joined runs of a non-resident stream (undefined for a resident one). */
export function streamRuns(s: Stream, geo: VolumeGeometry): Run[] | undefined {
  if (s.head.value) return undefined;
  const parts = s.extents.map((a) => decodeRunlist(a.runlist!, a.startVcn, geo.totalClusters, a.offset));
  return joinRuns(parts, `NTFS attribute 0x${s.type.toString(16)} runlist`, s.head.offset);
}

export function streamDevice(dev: BlockDevice, s: Stream, geo: VolumeGeometry, what: string): BlockDevice {
  return attributeDevice(dev, geo, s.head, streamRuns(s, geo), what);
}

/** Group attributes by (type, name), extents sorted by VCN. */
function group(attrs: Attribute[], owner: string): Stream[] {
  const map = new Map<string, Stream>();
  for (const a of attrs) {
    // Several resident attributes of one type ($FILE_NAME of each link) stay apart; extents join.
    const k = a.value ? `${a.type}:${a.name}@${a.offset}` : `${a.type}:${a.name}`;
    let s = map.get(k);
    if (!s) map.set(k, (s = { type: a.type, name: a.name, head: a, extents: [] }));
    s.extents.push(a);
  }
  for (const s of map.values()) {
    s.extents.sort((a, b) => a.startVcn - b.startVcn);
    s.head = s.extents[0]!;
    if (!s.head.value && s.head.startVcn !== 0) {
      throw new CorruptImageError(`${owner} attribute 0x${s.type.toString(16)}`, s.head.offset, 'extents from VCN 0', `${s.extents.length} extents from VCN ${s.head.startVcn}`);
    }
  }
  return [...map.values()];
}

/** Load file `rec` (a base record), following its attribute list into extension records. */
export async function loadFile(rec: MftRecord, dev: BlockDevice, geo: VolumeGeometry, readRecord: (n: number) => Promise<MftRecord>): Promise<NtfsFile> {
  const owner = `MFT record ${rec.number}`;
  const listAttr = rec.attributes.find((a) => a.type === AT.ATTRIBUTE_LIST);
  if (!listAttr) return new NtfsFile(rec, group(rec.attributes, owner));
  if (listAttr.dataSize > MAX_ATTRIBUTE_LIST) throw new CorruptImageError(`${owner} $ATTRIBUTE_LIST`, listAttr.offset, `at most ${MAX_ATTRIBUTE_LIST} bytes`, String(listAttr.dataSize));
  const listStream: Stream = { type: AT.ATTRIBUTE_LIST, name: '', head: listAttr, extents: [listAttr] };
  const ldev = streamDevice(dev, listStream, geo, `${owner} $ATTRIBUTE_LIST`);
  const bytes = new Uint8Array(ldev.size);
  await ldev.read(bytes, 0);
  const list = parseAttributeList(bytes, listAttr.offset);
  const attrs = rec.attributes.filter((a) => a.type !== AT.ATTRIBUTE_LIST);
  const others = [...new Set(list.map((e) => e.record).filter((r) => r !== rec.number))];
  if (others.length > MAX_EXTENSION_RECORDS) throw new CorruptImageError(`${owner} $ATTRIBUTE_LIST`, listAttr.offset, `at most ${MAX_EXTENSION_RECORDS} extension records`, String(others.length));
  for (const n of others) {
    const ext = await readRecord(n);
    if (ext.base !== rec.number) throw new CorruptImageError(`MFT record ${n}`, ext.offset + 0x20, `an extension of record ${rec.number}`, `base ${ext.base}`);
    const wanted = new Set(list.filter((e) => e.record === n).map((e) => `${e.type}:${e.id}`));
    attrs.push(...ext.attributes.filter((a) => wanted.has(`${a.type}:${a.id}`)));
  }
  return new NtfsFile(rec, group(attrs, owner));
}
