/**
 * Saving a download: with the File System Access API, bytes go straight to the chosen file by position
 * (holes are never written); otherwise they are collected in order into a Blob and offered as a link.
 */
import type { Delivery } from './protocol.js';

export interface Saver {
  delivery: Delivery;
  write(chunk: Uint8Array, at: number): Promise<void>;
  finish(size: number): Promise<void>;
  abort(): Promise<void>;
}

interface WritableFile {
  write(p: { type: 'write'; position: number; data: Uint8Array } | { type: 'truncate'; size: number }): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
type SavePicker = (o: { suggestedName: string }) => Promise<{ createWritable(): Promise<WritableFile> }>;

export async function saver(name: string): Promise<Saver> {
  const picker = (globalThis as { showSaveFilePicker?: SavePicker }).showSaveFilePicker;
  // Under automation (tests) the picker's dialog cannot be answered: use the link.
  if (picker && !navigator.webdriver) {
    const handle = await picker({ suggestedName: name });
    const w = await handle.createWritable();
    return {
      delivery: 'positional',
      write: (data, position) => w.write({ type: 'write', position, data }),
      async finish(size) {
        await w.write({ type: 'truncate', size });
        await w.close();
      },
      abort: () => w.abort(),
    };
  }
  const parts: Uint8Array[] = [];
  let expected = 0;
  return {
    delivery: 'sequential',
    async write(chunk, at) {
      if (at !== expected) throw new Error(`download out of order: byte ${at}, expected ${expected}`);
      parts.push(chunk);
      expected += chunk.length;
    },
    async finish(size) {
      if (size !== expected) throw new Error(`download incomplete: ${expected} of ${size} bytes`);
      const url = URL.createObjectURL(new Blob(parts as BlobPart[]));
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    async abort() {
      parts.length = 0;
    },
  };
}
