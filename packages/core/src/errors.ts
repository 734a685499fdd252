/** Base of every error diskit throws on purpose: anything else escaping a parser is a bug. */
export class DiskitError extends Error {
  override name = 'DiskitError';
}

/**
 * A structure in an image is wrong. The message names the structure, the byte offset in the
 * file where it sits, what was expected and what was found.
 */
export class CorruptImageError extends DiskitError {
  override name = 'CorruptImageError';
  constructor(
    readonly structure: string,
    readonly offset: number,
    readonly expected: string,
    readonly found?: string,
  ) {
    super(`${structure} at offset ${offset}: expected ${expected}${found === undefined ? '' : `, found ${found}`}`);
  }
}

/** The image ends before a structure it needs. */
export class TruncatedImageError extends CorruptImageError {
  override name = 'TruncatedImageError';
  constructor(structure: string, offset: number, needed: number, fileSize: number) {
    super(structure, offset, `${needed} bytes within the file`, `file size ${fileSize}`);
  }
}

/** A valid image uses a feature diskit does not implement (encryption, sparse bundles, …). */
export class UnsupportedFeatureError extends DiskitError {
  override name = 'UnsupportedFeatureError';
}

/** A read or write outside a device's bounds, or a write to a read-only device. */
export class DeviceRangeError extends DiskitError {
  override name = 'DeviceRangeError';
}

/** Bad options or arguments given by the caller (maps to CLI exit code 2). */
export class UsageError extends DiskitError {
  override name = 'UsageError';
}

export function isDiskitError(e: unknown): e is DiskitError {
  return e instanceof DiskitError;
}

/**
 * A directory read in part: some of its records are damaged (a looping continuation chain, an
 * unsafe name). `entries` are the ones that could be read; `problems` say what was skipped. A
 * caller that does not know this class still gets an error, never a silently short listing.
 */
export class PartialDirectoryError extends CorruptImageError {
  override name = 'PartialDirectoryError';
  constructor(
    readonly entries: import('./volume.js').FileEntry[],
    readonly problems: CorruptImageError[],
  ) {
    const first = problems[0]!;
    super(first.structure, first.offset, first.expected, problems.length > 1 ? `${first.found ?? '?'} (and ${problems.length - 1} more damaged record(s))` : first.found);
  }
}
