/**
 * A remote image over HTTP(S) Range requests, on `fetch` (Node 20 and browsers alike). Reads go
 * through a bounded LRU cache of blocks; neighbouring missing blocks are fetched in one request,
 * sequential reads fetch ahead, a server that ignores ranges is refused before its body is read,
 * and a file that changes between requests (ETag / Last-Modified) is an error, never a mixed image.
 */
import { checkRange, ReadOnlyDevice } from './device.js';
import { CorruptImageError, DiskitError, UnsupportedFeatureError } from './errors.js';

export interface HttpOptions {
  /** Extra request headers (authentication); never printed. */
  headers?: Record<string, string>;
  /** Cache block size (default 32 KiB) and how many blocks the cache holds (default 1,024: 32 MiB). */
  blockSize?: number;
  cacheBlocks?: number;
  /** At most this many blocks fetched past a run of sequential reads (default 128). */
  readAhead?: number;
  /** Attempts for a transient failure (network error, 5xx, 429), with exponential backoff (default 4). */
  attempts?: number;
  /** Backoff before the first retry, doubled each time (default 200 ms). */
  backoffMs?: number;
  /** A fetch other than the global one (tests, proxies). */
  fetch?: typeof fetch;
}

/** Counts for `--stats`: what reading the image cost. */
export interface HttpStats {
  requests: number;
  bytesFetched: number;
  /** Bytes the callers asked for (what the command had to read): bytesFetched / bytesRead is the overhead. */
  bytesRead: number;
}

/** The server or the network failed in a way retrying did not mend. */
export class RemoteImageError extends DiskitError {
  override name = 'RemoteImageError';
}

const MAX_REQUEST = 16 << 20;

export class HttpDevice extends ReadOnlyDevice {
  readonly stats: HttpStats = { requests: 0, bytesFetched: 0, bytesRead: 0 };
  private readonly cache = new Map<number, Uint8Array>();
  private readonly pending = new Map<number, Promise<void>>();
  private lastBlock = -2;
  private streak = 0;
  private readonly blockSize: number;
  private readonly cacheBlocks: number;

  private constructor(
    /** The URL after redirects, pinned: every range request goes there. */
    readonly url: string,
    readonly size: number,
    private readonly validator: { etag?: string; lastModified?: string },
    private readonly opts: HttpOptions,
  ) {
    super();
    this.blockSize = opts.blockSize ?? 32 << 10;
    this.cacheBlocks = Math.max(4, opts.cacheBlocks ?? 1024);
  }

  /** Find the size (HEAD, else a one-byte range), pin the final URL, check that ranges are served. */
  static async open(url: string, opts: HttpOptions = {}): Promise<HttpDevice> {
    const stats = { requests: 0, bytesFetched: 0 };
    const probe = await withRetries(opts, () => {
      stats.requests++;
      return send(opts, url, { method: 'GET', headers: { Range: 'bytes=0-0' } });
    });
    if (probe.status === 200) {
      await probe.body?.cancel().catch(() => {});
      throw new UnsupportedFeatureError(`${url}: the server ignores Range requests (answered 200 with the whole file); diskit reads remote images only by ranges`);
    }
    if (probe.status !== 206) throw new RemoteImageError(`${url}: HTTP ${probe.status} ${probe.statusText}`);
    const range = parseContentRange(probe.headers.get('content-range'));
    const body = new Uint8Array(await probe.arrayBuffer());
    stats.bytesFetched += body.length;
    if (!range || range.total === undefined || range.start !== 0) throw new RemoteImageError(`${url}: the server's Content-Range '${probe.headers.get('content-range')}' gives no file size`);
    const dev = new HttpDevice(probe.url || url, range.total, { etag: probe.headers.get('etag') ?? undefined, lastModified: probe.headers.get('last-modified') ?? undefined }, opts);
    dev.stats.requests = stats.requests;
    dev.stats.bytesFetched = stats.bytesFetched;
    return dev;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    if (into.length === 0) return;
    this.stats.bytesRead += into.length;
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + into.length - 1) / bs);
    // Bulk reads that follow each other (a copy, a file extraction) fetch ahead, twice as far each
    // time, up to `readAhead` blocks (default 128: 4 MiB); metadata reads, however sequential, fetch only what they need.
    const sequential = first === this.lastBlock || first === this.lastBlock + 1;
    const bulk = into.length >= 4 * bs;
    this.streak = sequential && bulk ? Math.min(this.streak + 1, 16) : 0;
    const ahead = this.streak ? Math.min(this.opts.readAhead ?? 128, (last - first + 1) * 2 ** (this.streak - 1)) : 0;
    this.lastBlock = last;
    const needed = this.fetchBlocks(first, last);
    const lastAhead = Math.min(last + ahead, Math.ceil(this.size / bs) - 1);
    if (lastAhead > last) void this.fetchBlocks(last + 1, lastAhead).catch(() => {});
    await needed;
    for (let b = first; b <= last; b++) {
      const block = this.cache.get(b) ?? (await this.fetchBlocks(b, b), this.cache.get(b)!);
      // Most recently used last: Map order is the LRU order.
      this.cache.delete(b);
      this.cache.set(b, block);
      const blockStart = b * bs;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + into.length, blockStart + block.length);
      into.set(block.subarray(from - blockStart, to - blockStart), from - offset);
    }
  }

  /** Fetch every block of [first, last] not cached or on its way, in runs of neighbours. */
  private async fetchBlocks(first: number, last: number): Promise<void> {
    const waits: Promise<void>[] = [];
    const maxRun = Math.max(1, Math.floor(MAX_REQUEST / this.blockSize));
    for (let b = first; b <= last; ) {
      if (this.cache.has(b)) {
        b++;
        continue;
      }
      const p = this.pending.get(b);
      if (p) {
        waits.push(p);
        b++;
        continue;
      }
      let end = b;
      while (end + 1 <= last && end + 1 - b < maxRun && !this.cache.has(end + 1) && !this.pending.has(end + 1)) end++;
      const job = this.fetchRun(b, end);
      for (let k = b; k <= end; k++) this.pending.set(k, job);
      void job.catch(() => {}).finally(() => {
        for (let k = b; k <= end; k++) if (this.pending.get(k) === job) this.pending.delete(k);
      });
      waits.push(job);
      b = end + 1;
    }
    await Promise.all(waits);
  }

  private async fetchRun(first: number, last: number): Promise<void> {
    const bs = this.blockSize;
    const start = first * bs;
    const end = Math.min(this.size, (last + 1) * bs) - 1;
    const bytes = await withRetries(this.opts, async () => {
      this.stats.requests++;
      const r = await send(this.opts, this.url, { method: 'GET', headers: { Range: `bytes=${start}-${end}` } });
      if (r.status !== 206) {
        await r.body?.cancel().catch(() => {});
        if (r.status === 200) throw new RemoteImageError(`${this.url}: the server stopped honouring Range requests`);
        throw new HttpStatusError(r.status, `${this.url}: HTTP ${r.status} ${r.statusText} for bytes ${start}-${end}`);
      }
      this.checkUnchanged(r.headers);
      const range = parseContentRange(r.headers.get('content-range'));
      if (!range || range.start !== start || range.end !== end || (range.total !== undefined && range.total !== this.size)) {
        await r.body?.cancel().catch(() => {});
        throw new RemoteImageError(`${this.url}: asked for bytes ${start}-${end}, the server sent '${r.headers.get('content-range')}'`);
      }
      const body = await readExactly(r, end - start + 1);
      this.stats.bytesFetched += body.length;
      return body;
    });
    for (let b = first; b <= last; b++) {
      this.cache.set(b, bytes.subarray((b - first) * bs, Math.min(bytes.length, (b - first + 1) * bs)));
      while (this.cache.size > this.cacheBlocks) this.cache.delete(this.cache.keys().next().value!);
    }
  }

  private checkUnchanged(h: Headers): void {
    const etag = h.get('etag') ?? undefined;
    const lastModified = h.get('last-modified') ?? undefined;
    if ((this.validator.etag && etag && etag !== this.validator.etag) || (this.validator.lastModified && lastModified && lastModified !== this.validator.lastModified)) {
      throw new CorruptImageError(`remote image ${this.url}`, 0, `the file as it was when opened (ETag ${this.validator.etag ?? '-'}, Last-Modified ${this.validator.lastModified ?? '-'})`, `ETag ${etag ?? '-'}, Last-Modified ${lastModified ?? '-'}: it changed while being read`);
    }
  }
}

class HttpStatusError extends RemoteImageError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(opts: HttpOptions, url: string, init: { method: string; headers: Record<string, string> }): Promise<Response> {
  const f = opts.fetch ?? globalThis.fetch;
  return f(url, { method: init.method, headers: { ...opts.headers, ...init.headers }, redirect: 'follow' });
}

/** Network errors, 5xx and 429 are tried again after a growing pause; anything else fails at once. */
async function withRetries<T>(opts: HttpOptions, fn: () => Promise<T>): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  let delay = opts.backoffMs ?? 200;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      const transient = e instanceof HttpStatusError ? e.status >= 500 || e.status === 429 : !(e instanceof DiskitError);
      if (!transient || i >= attempts) {
        if (e instanceof DiskitError) throw e;
        throw new RemoteImageError(`remote read failed after ${i} attempt${i > 1 ? 's' : ''}: ${(e as Error).message}${(e as Error & { cause?: Error }).cause ? ` (${(e as Error & { cause: Error }).cause.message})` : ''}`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

/** The body, which must be exactly `length` bytes: a short one (a dropped connection) is retried. */
async function readExactly(r: Response, length: number): Promise<Uint8Array> {
  const reader = r.body?.getReader();
  if (!reader) throw new Error('response without a body');
  const out = new Uint8Array(length);
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > length) {
      await reader.cancel().catch(() => {});
      throw new RemoteImageError(`the server sent more than the ${length} bytes asked for`);
    }
    out.set(value, at);
    at += value.length;
  }
  if (at !== length) throw new Error(`the response ended after ${at} of ${length} bytes`);
  return out;
}

export function parseContentRange(v: string | null): { start: number; end: number; total?: number } | undefined {
  const m = v && /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start || (total !== undefined && (!Number.isSafeInteger(total) || end >= total))) return undefined;
  return { start, end, total };
}
