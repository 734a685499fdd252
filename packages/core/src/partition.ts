/** A partition found in a partition table, offsets and sizes in bytes. */
export interface Partition {
  /** 1-based, as sfdisk and sgdisk number them. */
  index: number;
  start: number;
  size: number;
  /** MBR type byte as hex ("0x83") or GPT type GUID. */
  type: string;
  name?: string;
  /** GPT unique partition GUID. */
  uuid?: string;
  scheme: 'mbr' | 'gpt' | 'dmg' | string;
  bootable?: boolean;
  /** MBR: primary, extended or logical. */
  kind?: 'primary' | 'extended' | 'logical';
  /** false: the entry starts at or past the end of the image (a short dump): nothing of it can be read. */
  reachable?: false;
  /** true: the entry starts inside the image but ends past its end. */
  truncated?: true;
}
