/**
 * What every VHDX structure shares ([MS-VHDX] v1): the fixed places in the first MiB, the
 * region and metadata item GUIDs, and the CRC32C each header, region table and log entry carries.
 */
import { ByteWriter, ascii, crc32c, type Problem } from '@diskit/core';

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const VHDX_HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
export const VHDX_REGION_OFFSETS = [192 * KiB, 256 * KiB] as const;
export const HEADER_SIZE = 4 * KiB;
export const REGION_TABLE_SIZE = 64 * KiB;
export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export const GUIDS = {
  bat: '2DC27766-F623-4200-9D64-115E9BFD4A08',
  metadata: '8B7CA206-4790-4B9A-B8FE-575F050F886E',
  fileParameters: 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B',
  virtualDiskSize: '2FA54224-CD1B-4876-B211-5DBED83BF4B8',
  virtualDiskId: 'BECA12AB-B2E6-4523-93EF-C309E000C746',
  logicalSectorSize: '8141BF1D-A96F-4709-BA47-F233A8FAAB5F',
  physicalSectorSize: 'CDA348C7-445D-4471-9CC9-E9885251C556',
  parentLocator: 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C',
} as const;
/** GUID → its name in GUIDS, for messages and dumps. */
export const GUID_NAMES: Record<string, string> = Object.fromEntries(Object.entries(GUIDS).map(([k, v]) => [v, k]));

/** Fill in the CRC32C at `at` (computed with the field zeroed). */
export function withCrc(b: Uint8Array, at: number): Uint8Array {
  b.fill(0, at, at + 4);
  new ByteWriter(b).u32le(at, crc32c(b));
  return b;
}

function crcs(b: Uint8Array, at: number): { stored: number; computed: number } {
  const stored = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
  const copy = b.slice();
  copy.fill(0, at, at + 4);
  return { stored, computed: crc32c(copy) };
}

export function crcOk(b: Uint8Array, at: number): boolean {
  const { stored, computed } = crcs(b, at);
  return stored === computed;
}

/** What is wrong with a copy of a structure: its signature, else its CRC32C ('' when neither). */
export function copyDamage(b: Uint8Array, signature: string, crcAt: number): string {
  if (ascii(b, 0, signature.length) !== signature) return `no '${signature}' signature`;
  const { stored, computed } = crcs(b, crcAt);
  return stored === computed ? '' : `CRC32C 0x${stored.toString(16)} does not match the computed 0x${computed.toString(16)}`;
}

/**
 * Pick the copy to use of a structure kept twice (headers, region tables): a sound one (`prefer`
 * breaks a tie), else one whose signature is right, used as it is. Every damaged copy is a warning.
 */
export function chooseCopy(
  copies: Uint8Array[], signature: string, crcAt: number, what: string, offsets: readonly number[], prefer: (a: number, b: number) => number,
): { index: number; valid: boolean[]; warnings: Problem[] } | undefined {
  const damage = copies.map((b) => copyDamage(b, signature, crcAt));
  const valid = damage.map((d) => d === '');
  const pick = (ok: (i: number) => boolean) => {
    const ids = copies.map((_, i) => i).filter(ok);
    return ids.length ? ids.reduce((a, b) => (prefer(a, b) > 0 ? b : a)) : -1;
  };
  let index = pick((i) => valid[i]!);
  if (index < 0) index = pick((i) => !damage[i]!.startsWith('no '));
  if (index < 0) return undefined;
  const warnings: Problem[] = [];
  damage.forEach((d, i) => {
    if (!d) return;
    const using = i !== index ? `using ${what} ${index + 1}` : 'no good copy: using it as it is';
    warnings.push({ severity: 'warning', structure: `VHDX ${what}`, offset: offsets[i], message: `${what} ${i + 1}: ${d}; ${using}` });
  });
  return { index, valid, warnings };
}
