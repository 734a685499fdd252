/** The server against a raw-socket client: option haggling, malformed requests, many connections. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MemoryDevice } from '@diskit/core';
import { listenNbd, type NbdServer } from './node.js';
import { TestClient } from './test/client.js';
import { CMD, ERRNO, OPT, REP } from './protocol.js';
import { Out } from './wire.js';

const SIZE = 8 << 20;
const data = randomBytes(SIZE);
let dir: string;
let server: NbdServer;
let sock: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nbd-proto-'));
  sock = join(dir, 's');
  server = await listenNbd([{ name: 'disk', device: new MemoryDevice(new Uint8Array(data), { readOnly: true }), writable: false }], { path: sock });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function ready(name = 'disk'): Promise<TestClient> {
  const c = await TestClient.open(sock);
  await c.greet();
  expect(await c.go(name)).toBe(SIZE);
  return c;
}

describe('option haggling', () => {
  it('answers unknown options and STARTTLS with ERR_UNSUP and goes on to LIST and GO', async () => {
    const c = await TestClient.open(sock);
    await c.greet();
    for (const opt of [99, OPT.STARTTLS, 0x7fffffff]) {
      await c.option(opt, new Uint8Array(5));
      const r = await c.reply();
      expect(r.type).toBe(REP.ERR_UNSUP);
      expect(r.opt).toBe(opt);
    }
    await c.option(OPT.LIST);
    const server = await c.reply();
    expect(server.type).toBe(REP.SERVER);
    expect(new TextDecoder().decode(server.data.subarray(4, 8))).toBe('disk');
    expect((await c.reply()).type).toBe(REP.ACK);
    await c.option(OPT.GO, new Uint8Array(3)); // malformed
    expect((await c.reply()).type).toBe(REP.ERR_INVALID);
    const n = new TextEncoder().encode('nope');
    await c.option(OPT.GO, new Out().u32(n.length).push(n).u16(0).bytes());
    expect((await c.reply()).type).toBe(REP.ERR_UNKNOWN);
    await c.option(OPT.SET_META_CONTEXT, new Out().u32(4).str('disk').u32(1).u32(15).str('base:allocation').bytes());
    expect((await c.reply()).type).toBe(REP.ERR_INVALID); // before STRUCTURED_REPLY
    expect(await c.go('disk')).toBe(SIZE);
    expect(Buffer.from(await c.read(4096, 100)).equals(data.subarray(4096, 4196))).toBe(true);
    c.close();
  });

  it('refuses option data over its limit without buffering it, and keeps haggling', async () => {
    const c = await TestClient.open(sock);
    await c.greet();
    await c.option(42, new Uint8Array(100 << 10));
    expect((await c.reply()).type).toBe(REP.ERR_TOO_BIG);
    expect(await c.go('disk')).toBe(SIZE);
    c.close();
  });
});

describe('malformed requests', () => {
  it('answers out-of-range, oversized and read-only requests with errors and keeps serving', async () => {
    const c = await ready();
    await c.request(CMD.READ, SIZE - 10, 11, 7n);
    expect(await c.simpleReply()).toMatchObject({ errno: ERRNO.EINVAL, handle: 7n });
    await c.request(CMD.READ, 2 ** 53, 1, 8n);
    expect((await c.simpleReply()).errno).toBe(ERRNO.EINVAL);
    await c.request(CMD.READ, 0, 0xffffffff, 9n);
    expect((await c.simpleReply()).errno).toBe(ERRNO.EINVAL);
    await c.request(CMD.WRITE, 0, 4, 10n, new Uint8Array(4));
    expect((await c.simpleReply()).errno).toBe(ERRNO.EPERM);
    await c.request(CMD.WRITE, 0, 33 << 20, 11n, new Uint8Array(33 << 20)); // over the 32 MiB maximum: skipped
    expect((await c.simpleReply()).errno).toBe(ERRNO.EINVAL);
    await c.request(CMD.BLOCK_STATUS, 0, 512, 12n); // no meta context set
    expect((await c.simpleReply()).errno).toBe(ERRNO.EINVAL);
    await c.request(77, 0, 512, 13n);
    expect((await c.simpleReply()).errno).toBe(ERRNO.EINVAL);
    expect(Buffer.from(await c.read(0, 512)).equals(data.subarray(0, 512))).toBe(true);
    c.close();
  });

  it('drops a connection that sends a bad magic, and the server still answers others', async () => {
    const c = await ready();
    await c.wire.write(new Uint8Array(28).fill(0xee));
    expect(await c.wire.read(1)).toBeNull();
    const d = await ready();
    expect(Buffer.from(await d.read(SIZE - 512, 512)).equals(data.subarray(SIZE - 512))).toBe(true);
    d.close();
  });

  it('survives clients that hang up mid-handshake and mid-request', async () => {
    for (const cut of [0, 3, 10, 19]) {
      const c = await TestClient.open(sock);
      await c.greet();
      await c.wire.write(new Out().u64(0x49484156454f5054n).u32(OPT.GO).u32(10).bytes().subarray(0, cut));
      c.close();
    }
    const c = await ready();
    await c.request(CMD.READ, 0, 1 << 20, 1n);
    c.close(); // gone before the reply
    const d = await ready();
    expect((await d.read(0, 16)).length).toBe(16);
    d.close();
  });
});

describe('concurrency', () => {
  it('32 parallel connections reading random ranges get the right bytes', async () => {
    const clients = await Promise.all(Array.from({ length: 32 }, () => ready()));
    await Promise.all(
      clients.map(async (c, i) => {
        for (let k = 0; k < 20; k++) {
          const len = 1 + ((i * 7919 + k * 104729) % 200_000);
          const off = (i * 15485863 + k * 32452843) % (SIZE - len);
          expect(Buffer.from(await c.read(off, len, BigInt(k))).equals(data.subarray(off, off + len))).toBe(true);
        }
        c.close();
      }),
    );
  });

  it('serves requests of one connection concurrently, replies matched by handle', async () => {
    const c = await ready();
    const reqs = Array.from({ length: 16 }, (_, i) => ({ handle: BigInt(100 + i), off: i * 65536, len: 65536 - i }));
    for (const r of reqs) await c.request(CMD.READ, r.off, r.len, r.handle);
    const seen = new Set<bigint>();
    for (let i = 0; i < reqs.length; i++) {
      const h = await c.wire.read(16);
      const v = new DataView(h!.buffer, h!.byteOffset);
      const r = reqs.find((x) => x.handle === v.getBigUint64(8))!;
      const body = await c.wire.read(r.len);
      expect(Buffer.from(body!).equals(data.subarray(r.off, r.off + r.len))).toBe(true);
      seen.add(r.handle);
    }
    expect(seen.size).toBe(16);
    c.close();
  });
});
