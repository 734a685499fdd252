import { Registry } from '@diskit/core';
import * as raw from '@diskit/raw';
import * as vhd from '@diskit/vhd';
import * as dmg from '@diskit/dmg';
import { useNodeCodecs } from '@diskit/dmg/node';
import * as iso9660 from '@diskit/iso9660';
import * as ext from '@diskit/ext';
import * as apfs from '@diskit/apfs';
import * as hfsplus from '@diskit/hfsplus';
import * as nbd from '@diskit/nbd';
import * as udf from '@diskit/udf';
import * as fat from '@diskit/fat';
import * as ntfs from '@diskit/ntfs';

/** Every format and filesystem the diskit command knows: each package lists its own drivers. */
// Node's zlib for DMG chunks (thread-pool parallel), installed explicitly so the bundled CLI keeps it.
useNodeCodecs();

export function defaultRegistry(): Registry {
  const r = new Registry();
  for (const pkg of [raw, vhd, dmg, iso9660, nbd, udf, apfs, hfsplus]) {
    r.addFormat(...pkg.formats);
    r.addFilesystem(...pkg.filesystems);
  }
  r.addFilesystem(...fat.filesystems);
  r.addFilesystem(...ext.filesystems);
  r.addFilesystem(...ntfs.filesystems);
  return r;
}
