/** The formats and filesystems the page reads: every isomorphic diskit package. */
import { Registry } from '@diskit/core';
import * as raw from '@diskit/raw';
import * as vhd from '@diskit/vhd';
import * as dmg from '@diskit/dmg';
import * as iso9660 from '@diskit/iso9660';
import * as udf from '@diskit/udf';
import * as fat from '@diskit/fat';
import * as ext from '@diskit/ext';
import * as apfs from '@diskit/apfs';
import * as hfsplus from '@diskit/hfsplus';
import * as ntfs from '@diskit/ntfs';

export function browserRegistry(): Registry {
  const r = new Registry();
  for (const pkg of [raw, vhd, dmg, iso9660, udf, apfs]) {
    r.addFormat(...pkg.formats);
    r.addFilesystem(...pkg.filesystems);
  }
  // Filesystem-only packages.
  for (const pkg of [fat, ext, hfsplus, ntfs]) r.addFilesystem(...pkg.filesystems);
  return r;
}
