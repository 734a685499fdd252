/** HttpDevice against a loopback server that serves ranges, ignores them, redirects, changes the file and drops connections. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { HttpDevice, RemoteImageError } from './http.js';
import { CorruptImageError, UnsupportedFeatureError } from './errors.js';
import { collectExtents } from './device.js';
import { rangeServer } from './test/range-server.js';

const data = new Uint8Array(randomBytes(5 << 20));
let srv: Awaited<ReturnType<typeof rangeServer>>;
const fast = { backoffMs: 5 };

beforeAll(async () => {
  srv = await rangeServer(data);
});
afterAll(() => srv.close());
beforeEach(() => {
  Object.assign(srv.state, { data, etag: '"v1"', ignoreRanges: false, dropNext: 0, failNext: 0, requireHeader: undefined, requests: 0, ranges: [] });
});

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('HttpDevice', () => {
  it('reads any range byte-exact, caching blocks and coalescing neighbours', async () => {
    const dev = await HttpDevice.open(srv.url, fast);
    expect(dev.size).toBe(data.length);
    for (const [off, len] of [[0, 1], [65535, 2], [1 << 20, 300_000], [data.length - 10, 10], [123_456, 1]]) {
      const b = new Uint8Array(len!);
      await dev.read(b, off!);
      expect(same(b, data.subarray(off!, off! + len!))).toBe(true);
    }
    const before = dev.stats.requests;
    const again = new Uint8Array(300_000);
    await dev.read(again, 1 << 20); // cached
    expect(dev.stats.requests).toBe(before);
    expect(await collectExtents(dev)).toEqual([{ offset: 0, length: data.length, kind: 'data' }]);
  });

  it('a sequential read of the whole file fetches it about once, in few requests', async () => {
    const dev = await HttpDevice.open(srv.url, fast);
    const chunk = new Uint8Array(1 << 20);
    for (let off = 0; off < data.length; off += chunk.length) {
      await dev.read(chunk, off);
      expect(same(chunk, data.subarray(off, off + chunk.length))).toBe(true);
    }
    expect(dev.stats.bytesFetched).toBeLessThan(data.length * 1.2);
    expect(dev.stats.requests).toBeLessThan(40);
  });

  it('refuses a server that ignores ranges, without reading the whole body', async () => {
    srv.state.ignoreRanges = true;
    await expect(HttpDevice.open(srv.url, fast)).rejects.toBeInstanceOf(UnsupportedFeatureError);
  });

  it('follows a redirect and pins the final URL', async () => {
    const dev = await HttpDevice.open(srv.url.replace('/image', '/redirect'), fast);
    expect(dev.url).toBe(srv.url);
    const b = new Uint8Array(1000);
    await dev.read(b, 4000);
    expect(same(b, data.subarray(4000, 5000))).toBe(true);
  });

  it('a file that changes while being read is an error, not a mixed image', async () => {
    const dev = await HttpDevice.open(srv.url, fast);
    await dev.read(new Uint8Array(10), 0);
    srv.state.etag = '"v2"';
    await expect(dev.read(new Uint8Array(10), 3 << 20)).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('retries dropped connections and 503s, then gives up with a clear error', async () => {
    const dev = await HttpDevice.open(srv.url, fast);
    srv.state.dropNext = 2;
    srv.state.failNext = 1;
    const b = new Uint8Array(200_000);
    await dev.read(b, 2 << 20);
    expect(same(b, data.subarray(2 << 20, (2 << 20) + 200_000))).toBe(true);
    srv.state.failNext = 100;
    await expect(dev.read(new Uint8Array(10), 4 << 20)).rejects.toThrow(RemoteImageError);
  });

  it('sends the given headers, and a 401 is not retried', async () => {
    srv.state.requireHeader = ['Authorization', 'Bearer s3cret'];
    await expect(HttpDevice.open(srv.url, fast)).rejects.toThrow(/401/);
    expect(srv.state.requests).toBe(1);
    const dev = await HttpDevice.open(srv.url, { ...fast, headers: { Authorization: 'Bearer s3cret' } });
    expect(dev.size).toBe(data.length);
  });

  it('an unreachable server fails after bounded retries', async () => {
    const t0 = Date.now();
    await expect(HttpDevice.open('http://127.0.0.1:1/x', { attempts: 3, backoffMs: 10 })).rejects.toBeInstanceOf(RemoteImageError);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
