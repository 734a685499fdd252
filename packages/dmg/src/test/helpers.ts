/** Test helpers (not built): where the shared hdiutil images are, and reading a DMG whole. */
import { describe, it } from 'vitest';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FileDevice } from '@diskit/core/node';
import { DmgImage } from '../index.js';

import { sharedImagesDir } from '../../../../test/tools.js';

export const SHARED = resolve(sharedImagesDir(), 'dmg');
const haveShared = existsSync(SHARED);

/** describe() that needs the shared test images: skipped naming the folder, failed under CI. */
export function describeShared(title: string, fn: () => void): void {
  if (haveShared) {
    describe(title, fn);
    return;
  }
  if (process.env.CI === 'true') describe(title, () => it(`needs ${SHARED}`, () => { throw new Error(`missing ${SHARED}`); }));
  else describe.skip(`${title} (skipped: ${SHARED} missing)`, fn);
}

export async function readAll(path: string): Promise<Uint8Array> {
  const img = await DmgImage.open(await FileDevice.open(path), path);
  const out = new Uint8Array(img.size);
  await img.read(out, 0);
  await img.close();
  return out;
}

