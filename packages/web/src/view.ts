/** Small DOM helpers for the page. */

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** A table: a header row (when given) and rows of text cells. */
export function table(t: HTMLElement, head: string[], rows: string[][]): void {
  t.replaceChildren(...(head.length ? [el('tr', {}, ...head.map((h) => el('th', {}, h)))] : []), ...rows.map((r) => el('tr', {}, ...r.map((c, i) => el(head.length || i > 0 ? 'td' : 'th', {}, c)))));
}

export function hexDump(b: Uint8Array, base: number): string {
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    const row = b.subarray(i, i + 16);
    const hex = Array.from(row, (x) => x.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${(base + i).toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}
