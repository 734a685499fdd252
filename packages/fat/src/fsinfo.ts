/** FAT32's FSInfo sector: free-cluster count and next-free hint (spec §5). Advisory, never trusted for reading. */
export interface FsInfo {
  valid: boolean;
  /** 0xFFFFFFFF = unknown. */
  freeCount: number;
  nextFree: number;
  leadSignature: number;
  structSignature: number;
  trailSignature: number;
}

export const FSINFO_LEAD = 0x41615252;
export const FSINFO_STRUCT = 0x61417272;
export const FSINFO_TRAIL = 0xaa550000;

export function parseFsInfo(sector: Uint8Array): FsInfo {
  const v = new DataView(sector.buffer, sector.byteOffset, 512);
  const leadSignature = v.getUint32(0, true);
  const structSignature = v.getUint32(484, true);
  const trailSignature = v.getUint32(508, true);
  return {
    valid: leadSignature === FSINFO_LEAD && structSignature === FSINFO_STRUCT && trailSignature === FSINFO_TRAIL,
    freeCount: v.getUint32(488, true),
    nextFree: v.getUint32(492, true),
    leadSignature, structSignature, trailSignature,
  };
}
