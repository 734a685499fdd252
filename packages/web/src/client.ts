/** The page's side of the worker: requests as promises, download parts and progress as callbacks. */
import type { Reply, Request } from './protocol.js';

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onChunk?: (chunk: Uint8Array, at: number) => void | Promise<void>;
  onProgress?: (done: number, total: number) => void;
  /** Chunk writes in order: each waits for the one before (positional writes may be async). */
  writing: Promise<void>;
};

export class WorkerClient {
  private next = 1;
  private pending = new Map<number, Pending>();
  constructor(private readonly worker: Worker) {
    worker.onmessage = (ev: MessageEvent<Reply>) => this.receive(ev.data);
  }

  private receive(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if ('chunk' in m) {
      p.writing = p.writing.then(() => p.onChunk?.(m.chunk, m.at));
    } else if ('progress' in m) {
      p.onProgress?.(m.progress[0], m.progress[1]);
    } else {
      this.pending.delete(m.id);
      // Every chunk is written before the request counts as done.
      p.writing.then(
        () => (m.ok ? p.resolve(m.value) : p.reject(new Error(m.error))),
        (e) => p.reject(e instanceof Error ? e : new Error(String(e))),
      );
    }
  }

  call<T>(req: Request, hooks: Pick<Pending, 'onChunk' | 'onProgress'> = {}): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...hooks, writing: Promise.resolve() });
      this.worker.postMessage({ ...req, id });
    });
  }
}
