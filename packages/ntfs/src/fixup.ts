/**
 * Update sequence arrays: the last two bytes of every 512-byte stride of a FILE record or INDX
 * buffer were replaced by a sequence number on write; checking them finds torn writes, and the
 * array holds the original bytes to put back.
 */
import { CorruptImageError } from '@diskit/core';
import { u16 } from './bytes.js';

const STRIDE = 512;

/** Check the fixups of `buf` (a record read from byte `offset`) and undo them in place. */
export function applyFixups(buf: Uint8Array, structure: string, offset: number): void {
  const usaOffset = u16(buf, 4);
  const usaCount = u16(buf, 6);
  const strides = buf.length / STRIDE;
  if (usaCount !== strides + 1 || usaOffset < 8 || usaOffset + usaCount * 2 > buf.length || usaOffset & 1) {
    throw new CorruptImageError(structure, offset, `an update sequence array of ${strides + 1} entries inside the record`, `${usaCount} at ${usaOffset}`);
  }
  const seq = u16(buf, usaOffset);
  // Every stride is checked before any is restored: a damaged record stays as it was read.
  for (let i = 0; i < strides; i++) {
    const end = (i + 1) * STRIDE - 2;
    const found = u16(buf, end);
    if (found !== seq) {
      throw new CorruptImageError(`${structure} update sequence`, offset + end, `0x${seq.toString(16)} (a torn or damaged write otherwise)`, `0x${found.toString(16)}`);
    }
  }
  for (let i = 0; i < strides; i++) {
    const end = (i + 1) * STRIDE - 2;
    buf[end] = buf[usaOffset + 2 + i * 2]!;
    buf[end + 1] = buf[usaOffset + 3 + i * 2]!;
  }
}
