/** Names of common partition types, for listings (sfdisk's and sgdisk's wording). */
const MBR: Record<number, string> = {
  0x01: 'FAT12', 0x04: 'FAT16 <32M', 0x05: 'Extended', 0x06: 'FAT16', 0x07: 'HPFS/NTFS/exFAT', 0x0b: 'W95 FAT32',
  0x0c: 'W95 FAT32 (LBA)', 0x0e: 'W95 FAT16 (LBA)', 0x0f: "W95 Ext'd (LBA)", 0x11: 'Hidden FAT12', 0x17: 'Hidden HPFS/NTFS',
  0x27: 'Hidden NTFS WinRE', 0x82: 'Linux swap', 0x83: 'Linux', 0x85: 'Linux extended', 0x8e: 'Linux LVM',
  0xa5: 'FreeBSD', 0xa6: 'OpenBSD', 0xa9: 'NetBSD', 0xaf: 'HFS / HFS+', 0xcd: 'ISO9660 (isohybrid)', 0xee: 'GPT', 0xef: 'EFI (FAT-12/16/32)', 0xfd: 'Linux raid autodetect',
};

const GPT: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS/HFS+',
  '7C3457EF-0000-11AA-AA11-00306543ECAC': 'Apple APFS',
  '426F6F74-0000-11AA-AA11-00306543ECAC': 'Apple boot',
  '516E7CB4-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD data',
};

/** "Linux filesystem" for a GPT type GUID, "W95 FAT32 (LBA)" for an MBR "0x0c"; else undefined. */
export function partitionTypeName(type: string): string | undefined {
  if (/^0x[0-9a-f]{2}$/i.test(type)) return MBR[parseInt(type, 16)];
  return GPT[type.toUpperCase()];
}
