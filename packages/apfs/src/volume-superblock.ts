/** The volume superblock (apfs_superblock_t): names, roles, features and the trees of one volume. */
import { CorruptImageError } from '@diskit/core';
import { uuidString } from './container.js';
import { parseObjHeader, u64, view } from './object.js';
import { nsDate } from './records.js';

export const APSB_MAGIC = 0x42535041; // 'APSB'

export const INCOMPAT_CASE_INSENSITIVE = 0x1;
export const INCOMPAT_NORMALIZATION_INSENSITIVE = 0x8;
export const INCOMPAT_SEALED_VOLUME = 0x20;
const FS_UNENCRYPTED = 0x1;

const ROLES: Record<number, string> = {
  0x0000: 'none', 0x0001: 'system', 0x0002: 'user', 0x0004: 'recovery', 0x0008: 'vm', 0x0010: 'preboot',
  0x0020: 'installer', 0x0040: 'data', 0x0080: 'baseband', 0x00c0: 'update', 0x0100: 'xart',
  0x0140: 'hardware', 0x0180: 'backup', 0x01c0: 'sidecar', 0x0200: 'reserved-10', 0x0240: 'enterprise',
  0x0280: 'reserved-12', 0x02c0: 'prelogin',
};

export interface VolumeSuperblock {
  offset: number;
  xid: number;
  fsIndex: number;
  features: number;
  incompatibleFeatures: number;
  allocCount: number;
  rootTreeType: number;
  snapMetaTreeType: number;
  omapOid: number;
  rootTreeOid: number;
  snapMetaTreeOid: number;
  numFiles: number;
  numDirectories: number;
  numSymlinks: number;
  numOtherFsObjects: number;
  numSnapshots: number;
  uuid: string;
  lastModTime: Date;
  fsFlags: number;
  formattedBy: string;
  name: string;
  role: number;
  roleName: string;
  caseInsensitive: boolean;
  /** Directory keys carry a name hash (case- or normalisation-insensitive volumes). */
  hashedNames: boolean;
  encrypted: boolean;
  sealed: boolean;
}

function cString(b: Uint8Array): string {
  const z = b.indexOf(0);
  return new TextDecoder().decode(z < 0 ? b : b.subarray(0, z));
}

export function parseVolumeSuperblock(b: Uint8Array, offset: number): VolumeSuperblock {
  const dv = view(b);
  const magic = dv.getUint32(32, true);
  if (magic !== APSB_MAGIC) throw new CorruptImageError('volume superblock', offset + 32, "magic 'APSB'", `0x${magic.toString(16)}`);
  const hdr = parseObjHeader(b, offset);
  const incompat = Number(dv.getBigUint64(56, true) & 0xffffffffn);
  const fsFlags = Number(dv.getBigUint64(264, true) & 0xffffffffn);
  const role = dv.getUint16(964, true);
  const U = (at: number, what: string) => u64(dv, at, what, offset);
  return {
    offset,
    xid: hdr.xid,
    fsIndex: dv.getUint32(36, true),
    features: Number(dv.getBigUint64(40, true) & 0xffffffffn),
    incompatibleFeatures: incompat,
    allocCount: U(88, 'allocated block count'),
    rootTreeType: dv.getUint32(116, true),
    snapMetaTreeType: dv.getUint32(124, true),
    omapOid: U(128, 'volume object map address'),
    rootTreeOid: U(136, 'root tree id'),
    snapMetaTreeOid: U(152, 'snapshot tree id'),
    numFiles: U(184, 'file count'),
    numDirectories: U(192, 'directory count'),
    numSymlinks: U(200, 'symlink count'),
    numOtherFsObjects: U(208, 'other object count'),
    numSnapshots: U(216, 'snapshot count'),
    uuid: uuidString(b.subarray(240, 256)),
    lastModTime: nsDate(dv, 256),
    fsFlags,
    formattedBy: cString(b.subarray(272, 304)),
    name: cString(b.subarray(704, 960)),
    role,
    roleName: ROLES[role] ?? `0x${role.toString(16)}`,
    caseInsensitive: (incompat & INCOMPAT_CASE_INSENSITIVE) !== 0,
    hashedNames: (incompat & (INCOMPAT_CASE_INSENSITIVE | INCOMPAT_NORMALIZATION_INSENSITIVE)) !== 0,
    encrypted: (fsFlags & FS_UNENCRYPTED) === 0,
    sealed: (incompat & INCOMPAT_SEALED_VOLUME) !== 0,
  };
}
