/** Sizes for people (the CLI's text and the web page share it). */

export interface HumanSizeOptions {
  /** Follow with the exact count, `(1536 bytes)`: on unless false. */
  exact?: boolean;
  /** Group the exact count's digits, `1,536`. */
  group?: boolean;
}

/** `512 B`, `1.50 KiB (1536 bytes)`, `12.0 MiB (12582912 bytes)`: binary units, three significant digits. */
export function humanSize(n: number, opts: HumanSizeOptions = {}): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${n} B`;
  const short = `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
  return opts.exact === false ? short : `${short} (${opts.group ? n.toLocaleString('en') : n} bytes)`;
}
