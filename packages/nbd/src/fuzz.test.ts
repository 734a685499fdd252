/**
 * Fuzzing the handshake and request parser: seeded transcripts of options and requests, mutated
 * (bit flips, truncation, lengths set to 0 / huge, bytes spliced), sent in random pieces. Each case
 * must end promptly once the client hangs up, and a well-behaved client must still be served
 * right afterwards: no crash, no hang, bounded memory.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDevice } from '@diskit/core';
import { listenNbd, type NbdServer } from './node.js';
import { TestClient } from './test/client.js';
import { CMD, IHAVEOPT, OPT, REQUEST_MAGIC } from './protocol.js';
import { Out } from './wire.js';

const CASES = Number(process.env.DISKIT_NBD_FUZZ_CASES ?? 2000);
const SIZE = 1 << 20;
const data = new Uint8Array(SIZE).map((_, i) => (i * 31) >> 3);
let dir: string;
let sock: string;
let server: NbdServer;
const errors: unknown[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nbd-fuzz-'));
  sock = join(dir, 's');
  const exports = [
    { name: '', device: new MemoryDevice(new Uint8Array(data), { readOnly: true }), writable: false },
    { name: 'rw', device: new MemoryDevice(SIZE), writable: true },
  ];
  server = await listenNbd(exports, { path: sock }, (e) => errors.push(e));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** xorshift32: the same cases on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function transcript(r: () => number): Uint8Array {
  const out = new Out().u32(3);
  const name = r() < 0.5 ? '' : 'rw';
  const nm = new TextEncoder().encode(name);
  const opt = (o: number, d: Uint8Array) => out.u64(IHAVEOPT).u32(o).u32(d.length).push(d);
  for (let i = Math.floor(r() * 4); i > 0; i--) {
    const pick = Math.floor(r() * 6);
    if (pick === 0) opt(OPT.LIST, new Uint8Array(0));
    else if (pick === 1) opt(OPT.STRUCTURED_REPLY, new Uint8Array(0));
    else if (pick === 2) opt(OPT.SET_META_CONTEXT, new Out().u32(nm.length).push(nm).u32(1).u32(15).str('base:allocation').bytes());
    else if (pick === 3) opt(OPT.INFO, new Out().u32(nm.length).push(nm).u16(1).u16(3).bytes());
    else if (pick === 4) opt(OPT.LIST_META_CONTEXT, new Out().u32(nm.length).push(nm).u32(0).bytes());
    else opt(Math.floor(r() * 100), new Uint8Array(Math.floor(r() * 20)));
  }
  if (r() < 0.2) opt(OPT.EXPORT_NAME, nm);
  else opt(OPT.GO, new Out().u32(nm.length).push(nm).u16(0).bytes());
  for (let i = Math.floor(r() * 6); i > 0; i--) {
    const type = [CMD.READ, CMD.WRITE, CMD.BLOCK_STATUS, CMD.FLUSH, CMD.WRITE_ZEROES, CMD.TRIM, 9][Math.floor(r() * 7)]!;
    const len = Math.floor(r() * 70000);
    const off = Math.floor(r() * (SIZE + 1000));
    out.u32(REQUEST_MAGIC).u16(r() < 0.3 ? 8 : 0).u16(type).u64(i).u64(off).u32(len);
    if (type === CMD.WRITE) out.push(new Uint8Array(len).fill(i));
  }
  if (r() < 0.5) out.u32(REQUEST_MAGIC).u16(0).u16(CMD.DISC).u64(0).u64(0).u32(0);
  return out.bytes();
}

function mutate(b: Uint8Array, r: () => number): Uint8Array {
  const m = new Uint8Array(b);
  const kind = Math.floor(r() * 5);
  if (kind === 0) return m.subarray(0, Math.floor(r() * m.length));
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * m.length);
    if (kind === 1) m[at]! ^= 1 << Math.floor(r() * 8);
    else if (kind === 2 && at + 4 <= m.length) new DataView(m.buffer).setUint32(at, [0, 0xffffffff, 0x7fffffff, 1 << 25][Math.floor(r() * 4)]!);
    else if (kind === 3) m[at] = Math.floor(r() * 256);
  }
  return m;
}

/** Send the case in random pieces, hang up, and wait for the server to close its side. */
function play(bytes: Uint8Array, r: () => number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('the server did not close the connection within 5 s of the client hanging up'));
    }, 5000);
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.on('connect', () => {
      let at = 0;
      while (at < bytes.length) {
        const n = 1 + Math.floor(r() * 4096);
        s.write(bytes.subarray(at, at + n));
        at += n;
      }
      s.end();
    });
  });
}

it(`survives ${CASES} mutated handshakes and request streams`, async () => {
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < CASES; i++) {
    const r = rng(0x5eed + i);
    const t = transcript(r);
    await play(i % 8 === 0 ? t : mutate(t, r), r);
    if (i % 50 === 49) {
      const c = await TestClient.open(sock);
      await c.greet();
      expect(await c.go()).toBe(SIZE);
      expect(Buffer.from(await c.read(1000, 5000)).equals(Buffer.from(data.subarray(1000, 6000)))).toBe(true);
      c.close();
    }
  }
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 << 20);
  // Only typed errors or socket errors may reach the server's error log.
  for (const e of errors) expect(String((e as Error).message ?? e)).not.toMatch(/TypeError|RangeError: (?!.*outside)/);
}, 120_000);
