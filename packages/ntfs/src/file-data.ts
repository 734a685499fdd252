/** An attribute's value as a device: resident bytes, mapped runs, or LZNT1 compression units. */
import {
  CorruptImageError, MemoryDevice, MappedDevice, ReadOnlyDevice, checkRange, extentWindow,
  type BlockDevice, type Extent, type MappedRun,
} from '@diskit/core';
import { ATTR_COMPRESSED, type Attribute } from './attribute.js';
import type { Run } from './runlist.js';
import { lznt1Decompress } from './lznt1.js';

export interface Geometry {
  clusterSize: number;
}

/** A resident value, or a non-resident one whose joined `runs` are given. */
export function attributeDevice(dev: BlockDevice, geo: Geometry, head: Attribute, runs: Run[] | undefined, what: string): BlockDevice {
  if (head.value) return new MemoryDevice(head.value, { readOnly: true });
  const cs = geo.clusterSize;
  const r = runs ?? [];
  const mapped = r.length ? (r[r.length - 1]!.vcn + r[r.length - 1]!.length) * cs : 0;
  const init = Math.min(head.initializedSize, head.dataSize);
  if (mapped < init) {
    throw new CorruptImageError(`${what} runlist`, head.offset, `runs covering the ${init} initialised bytes`, `${mapped} bytes mapped`);
  }
  if (head.flags & ATTR_COMPRESSED && head.compressionUnit > 0) return new Lznt1Device(dev, r, cs << head.compressionUnit, cs, head.dataSize, init);
  const mruns: MappedRun[] = [];
  for (const run of r) {
    const at = run.vcn * cs;
    if (at >= init) break;
    const length = Math.min(run.length * cs, init - at);
    mruns.push(run.lcn < 0 ? { at, length } : { at, length, from: run.lcn * cs });
  }
  return new MappedDevice(dev, mruns, head.dataSize);
}

/**
 * A compressed attribute: every unit of 16 clusters is either all sparse (zeros), fully
 * allocated (stored as is), or partly allocated (LZNT1 data in its first clusters).
 */
class Lznt1Device extends ReadOnlyDevice {
  private cached = -1;
  private unit: Uint8Array;

  constructor(
    private readonly dev: BlockDevice,
    private readonly runs: Run[],
    private readonly unitSize: number,
    private readonly cs: number,
    readonly size: number,
    private readonly init: number,
  ) {
    super();
    this.unit = new Uint8Array(unitSize);
  }

  /** The runs of unit `u`, clipped to it. */
  private pieces(u: number): Run[] {
    const per = this.unitSize / this.cs;
    const v0 = u * per, v1 = v0 + per;
    let lo = 0, hi = this.runs.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.runs[m]!.vcn + this.runs[m]!.length <= v0) lo = m + 1;
      else hi = m;
    }
    const out: Run[] = [];
    for (let i = lo; i < this.runs.length && this.runs[i]!.vcn < v1; i++) {
      const r = this.runs[i]!;
      const s = Math.max(v0, r.vcn), e = Math.min(v1, r.vcn + r.length);
      out.push({ vcn: s, lcn: r.lcn < 0 ? -1 : r.lcn + (s - r.vcn), length: e - s });
    }
    return out;
  }

  private allocated(u: number): number {
    return this.pieces(u).reduce((n, p) => n + (p.lcn >= 0 ? p.length : 0), 0);
  }

  private async load(u: number): Promise<Uint8Array> {
    if (this.cached === u) return this.unit;
    const pieces = this.pieces(u).filter((p) => p.lcn >= 0);
    const stored = pieces.reduce((n, p) => n + p.length, 0) * this.cs;
    const raw = new Uint8Array(stored);
    let at = 0;
    await Promise.all(pieces.map((p) => {
      const part = raw.subarray(at, (at += p.length * this.cs));
      return this.dev.read(part, p.lcn * this.cs);
    }));
    this.cached = -1;
    if (stored === this.unitSize) this.unit.set(raw);
    else if (stored === 0) this.unit.fill(0);
    else {
      this.unit.fill(0);
      lznt1Decompress(raw, this.unit, pieces[0]!.lcn * this.cs);
    }
    this.cached = u;
    return this.unit;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    for (let pos = offset, end = offset + into.length; pos < end; ) {
      const u = Math.floor(pos / this.unitSize);
      const inUnit = pos - u * this.unitSize;
      const n = Math.min(end - pos, this.unitSize - inUnit);
      if (pos >= this.init) into.fill(0, pos - offset, pos - offset + n);
      else {
        const data = await this.load(u);
        into.set(data.subarray(inUnit, inUnit + n), pos - offset);
        const past = pos + n - this.init;
        if (past > 0) into.fill(0, pos - offset + n - past, pos - offset + n);
      }
      pos += n;
    }
  }

  override async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    for (let pos = start; pos < end; ) {
      const u = Math.floor(pos / this.unitSize);
      const e = Math.min(end, (u + 1) * this.unitSize);
      yield { offset: pos, length: e - pos, kind: pos >= this.init || this.allocated(u) === 0 ? 'zero' : 'data' };
      pos = e;
    }
  }
}
