import { handshake } from './handshake.js';
import { transmit } from './transmission.js';
import type { NbdExport } from './export.js';
import type { Wire } from './wire.js';

/** One client from greeting to goodbye. Never throws: a misbehaving client only loses its own connection. */
export async function serveConnection(wire: Wire, exports: NbdExport[], onError?: (e: unknown) => void): Promise<void> {
  try {
    const neg = await handshake(wire, exports);
    if (neg) await transmit(wire, neg, onError);
  } catch (e) {
    onError?.(e);
  } finally {
    wire.close();
  }
}
