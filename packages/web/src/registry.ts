/** The formats and filesystems the page reads: every isomorphic diskit package. */
import { Registry } from '@diskit/core';
import * as raw from '@diskit/raw';
import * as vhd from '@diskit/vhd';
import * as dmg from '@diskit/dmg';
import * as iso9660 from '@diskit/iso9660';
import * as udf from '@diskit/udf';

export function browserRegistry(): Registry {
  const r = new Registry();
  for (const pkg of [raw, vhd, dmg, iso9660, udf]) {
    r.addFormat(...pkg.formats);
    r.addFilesystem(...pkg.filesystems);
  }
  return r;
}
