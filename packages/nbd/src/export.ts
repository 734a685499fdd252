import type { BlockDevice } from '@diskit/core';
import { TFLAG } from './protocol.js';

/** One device offered under a name. */
export interface NbdExport {
  name: string;
  description?: string;
  device: BlockDevice;
  /** Accept WRITE, WRITE_ZEROES and TRIM (else they answer EPERM). */
  writable: boolean;
}

export function transmissionFlags(exp: NbdExport): number {
  let f = TFLAG.HAS_FLAGS | TFLAG.SEND_FLUSH;
  if (exp.writable) f |= TFLAG.SEND_FUA | TFLAG.SEND_TRIM | TFLAG.SEND_WRITE_ZEROES | TFLAG.SEND_FAST_ZERO;
  // Read-only exports are the same bytes to every connection; writes are not coherent across them.
  else f |= TFLAG.READ_ONLY | TFLAG.CAN_MULTI_CONN;
  return f;
}
