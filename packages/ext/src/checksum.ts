/** ext4's checksums: CRC32C without the final inversion (as the kernel's crc32c_le), and gdt_csum's CRC16. */
import { crc32c } from '@diskit/core';

/** Continue ext4's raw CRC32C from `seed` over `data` (no pre/post inversion, as ext4_chksum). */
export function extCrc(seed: number, data: Uint8Array): number {
  return ~crc32c(data, ~seed >>> 0) >>> 0;
}

const le32 = new Uint8Array(4);
/** extCrc over a little-endian 32-bit number (inode numbers, generations, group numbers). */
export function extCrcU32(seed: number, v: number): number {
  le32[0] = v & 0xff;
  le32[1] = (v >>> 8) & 0xff;
  le32[2] = (v >>> 16) & 0xff;
  le32[3] = (v >>> 24) & 0xff;
  return extCrc(seed, le32);
}

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** CRC16 (ANSI, reflected 0xA001) as e2fsprogs' ext2fs_crc16, for group descriptors under gdt_csum. */
export function crc16(crc: number, data: Uint8Array): number {
  let c = crc & 0xffff;
  for (let i = 0; i < data.length; i++) c = (c >>> 8) ^ CRC16_TABLE[(c ^ data[i]!) & 0xff]!;
  return c;
}
