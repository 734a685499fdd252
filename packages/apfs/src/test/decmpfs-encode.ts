/** decmpfs attribute values and resource forks, as macOS writes them (see 7-Zip's checks of them). */
import { deflateSync } from 'node:zlib';
import { concat, le } from './build-btree.js';
import { lzfseStored, lzvnEncode } from './lzvn-encode.js';

const CHUNK = 0x10000;
const head = (type: number, size: number) => concat(le(0x636d7066, 4), le(type, 4), le(size, 8));
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

function chunks(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += CHUNK) out.push(data.subarray(i, i + CHUNK));
  return out;
}

export type Method = 'raw-inline' | 'zlib-inline' | 'zlib-stored-inline' | 'zlib-fork' | 'lzvn-inline' | 'lzvn-fork' | 'lzfse-inline' | 'lzfse-fork';

/** The decmpfs attribute (and the resource fork) holding `data` compressed by `method`. */
export function decmpfs(data: Uint8Array, method: Method): { attr: Uint8Array; fork?: Uint8Array } {
  switch (method) {
    case 'raw-inline': return { attr: concat(head(1, data.length), data) };
    case 'zlib-inline': return { attr: concat(head(3, data.length), deflateSync(data)) };
    case 'zlib-stored-inline': return { attr: concat(head(3, data.length), [0xff], data) };
    case 'lzvn-inline': return { attr: concat(head(7, data.length), lzvnEncode(data)) };
    case 'lzfse-inline': return { attr: concat(head(11, data.length), lzfseStored(data)) };
    case 'lzvn-fork':
    case 'lzfse-fork': {
      const enc = method === 'lzvn-fork' ? lzvnEncode : lzfseStored;
      // Every other chunk is stored (marker 0x06) to cover both kinds, and so is any that does not shrink (as macOS does).
      const parts = chunks(data).map((c, i) => {
        const z = enc(c);
        return method === 'lzvn-fork' && (i % 2 === 1 || z.length > c.length) ? concat([0x06], c) : z;
      });
      const table: number[] = [];
      let off = (parts.length + 1) * 4;
      for (const p of parts) {
        table.push(off);
        off += p.length;
      }
      table.push(off);
      return { attr: head(method === 'lzvn-fork' ? 8 : 12, data.length), fork: concat(...table.map((t) => le(t, 4)), ...parts) };
    }
    case 'zlib-fork': {
      const parts = chunks(data).map((c, i) => {
        const z = deflateSync(c);
        return i % 2 === 1 || z.length > c.length ? concat([0xff], c) : z;
      });
      const tableLen = 4 + parts.length * 8;
      const entries: Uint8Array[] = [];
      let off = tableLen;
      for (const p of parts) {
        entries.push(concat(le(off, 4), le(p.length, 4)));
        off += p.length;
      }
      const resData = concat(le(parts.length, 4), ...entries, ...parts); // relative to 0x104
      const dataSize = 4 + resData.length;
      const mapPos = 0x100 + dataSize;
      const map = new Uint8Array(50);
      map.set([0, 28, 0, 50, 0, 0], 24);
      map.set([0x63, 0x6d, 0x70, 0x66, 0, 0, 0, 10, 0, 1, 0xff, 0xff, 0, 0, 0, 0], 30);
      const header = new Uint8Array(0x100);
      header.set([...be32(0x100), ...be32(mapPos), ...be32(dataSize), ...be32(50)]);
      return { attr: head(4, data.length), fork: concat(header, be32(resData.length), resData, map) };
    }
  }
}
