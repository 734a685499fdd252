/**
 * `diskit create iso <dir> <out.iso> [...]` — owned by the iso9660 package's work.
 * Contract: export createIsoCommand(args) → exit code (0 ok, 1 image problem, 2 usage).
 * `args` are the arguments after `create iso`.
 */
import { UnsupportedFeatureError } from '@diskit/core';

export async function createIsoCommand(_args: string[]): Promise<number> {
  throw new UnsupportedFeatureError('diskit create iso is not implemented yet');
}
