/**
 * The transmission phase: requests are read in order and served concurrently; each reply (or
 * structured chunk) goes out whole, so replies may arrive out of order, as the protocol allows.
 */
import { coalesceExtents, type BlockDevice, type Extent } from '@diskit/core';
import { CMD, CMD_FLAG, ERRNO, MAX_BLOCK, REPLY_FLAG_DONE, REPLY_TYPE, REQUEST_MAGIC, SIMPLE_REPLY_MAGIC, STATE_HOLE, STATE_ZERO, STRUCTURED_REPLY_MAGIC } from './protocol.js';
import { Out, view, type Wire } from './wire.js';
import type { Negotiated } from './handshake.js';

/** Bytes of requests being served at once; past it the next request waits (bounded memory). */
const MAX_IN_FLIGHT_BYTES = 16 << 20;
/** BLOCK_STATUS answers at most this many descriptors; the client asks again for the rest. */
const MAX_DESCRIPTORS = 8192;
const ZEROS = new Uint8Array(1 << 20);

export interface Request {
  flags: number;
  type: number;
  handle: bigint;
  offset: number;
  length: number;
}

/** Decode a 28-byte request header; `null` when the magic is wrong (the stream is lost). */
export function parseRequest(b: Uint8Array): Request | null {
  const v = view(b);
  if (b.length !== 28 || v.getUint32(0) !== REQUEST_MAGIC) return null;
  const offset = v.getBigUint64(16);
  return {
    flags: v.getUint16(4),
    type: v.getUint16(6),
    handle: v.getBigUint64(8),
    offset: offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(offset),
    length: v.getUint32(24),
  };
}

class RequestError extends Error {
  constructor(readonly errno: number, message: string) {
    super(message);
  }
}

export async function transmit(wire: Wire, neg: Negotiated, onError?: (e: unknown) => void): Promise<void> {
  const dev = neg.export.device;
  const inFlight = new Set<Promise<void>>();
  let inFlightBytes = 0;

  for (;;) {
    while (inFlightBytes > MAX_IN_FLIGHT_BYTES && inFlight.size) await Promise.race(inFlight);
    const head = await wire.read(28);
    if (!head) break;
    const req = parseRequest(head);
    if (!req) break; // bad magic: no way to find the next request
    if (req.type === CMD.DISC) break;
    let payload: Uint8Array | undefined;
    if (req.type === CMD.WRITE) {
      if (req.length > MAX_BLOCK) {
        if (!(await wire.skip(req.length))) break;
        await simpleOrError(wire, neg, req, ERRNO.EINVAL, `write of ${req.length} bytes is over the ${MAX_BLOCK}-byte limit`);
        continue;
      }
      payload = (await wire.read(req.length)) ?? undefined;
      if (!payload) break;
    }
    const cost = req.type === CMD.READ || req.type === CMD.WRITE ? req.length : 0;
    inFlightBytes += cost;
    const job = serve(wire, neg, dev, req, payload)
      .catch((e) => {
        if (!(e instanceof RequestError)) onError?.(e);
        const errno = e instanceof RequestError ? e.errno : ERRNO.EIO;
        return simpleOrError(wire, neg, req, errno, e instanceof Error ? e.message : String(e));
      })
      .catch(() => {}) // the connection went away while answering
      .finally(() => {
        inFlightBytes -= cost;
        inFlight.delete(job);
      });
    inFlight.add(job);
  }
  await Promise.allSettled([...inFlight]);
}

async function serve(wire: Wire, neg: Negotiated, dev: BlockDevice, req: Request, payload?: Uint8Array): Promise<void> {
  const writable = neg.export.writable;
  const inRange = () => req.offset + req.length <= dev.size;
  switch (req.type) {
    case CMD.READ:
      if (req.length > MAX_BLOCK) throw new RequestError(ERRNO.EINVAL, `read of ${req.length} bytes is over the ${MAX_BLOCK}-byte limit`);
      if (!inRange()) throw new RequestError(ERRNO.EINVAL, 'read past the end of the export');
      return neg.structured ? structuredRead(wire, dev, req) : simpleRead(wire, dev, req);
    case CMD.WRITE:
    case CMD.WRITE_ZEROES:
    case CMD.TRIM:
      if (!writable) throw new RequestError(ERRNO.EPERM, 'the export is read-only');
      if (!inRange()) throw new RequestError(ERRNO.ENOSPC, 'write past the end of the export');
      if (req.type === CMD.WRITE) await dev.write(payload!, req.offset);
      else if (req.type === CMD.WRITE_ZEROES) await writeZeroes(dev, req.offset, req.length);
      // TRIM is advisory: what a trimmed range reads as is unspecified, so keeping the bytes is valid.
      if (req.flags & CMD_FLAG.FUA) await dev.flush();
      return simpleOrError(wire, neg, req, 0);
    case CMD.FLUSH:
      await dev.flush();
      return simpleOrError(wire, neg, req, 0);
    case CMD.BLOCK_STATUS:
      if (neg.allocationContext === undefined) throw new RequestError(ERRNO.EINVAL, 'no meta context was set');
      if (req.length === 0 || !inRange()) throw new RequestError(ERRNO.EINVAL, 'block status outside the export');
      return blockStatus(wire, dev, req, neg.allocationContext);
    default:
      throw new RequestError(ERRNO.EINVAL, `command ${req.type} is not supported`);
  }
}

async function writeZeroes(dev: BlockDevice, offset: number, length: number): Promise<void> {
  for (let at = 0; at < length; at += ZEROS.length) await dev.write(ZEROS.subarray(0, Math.min(ZEROS.length, length - at)), offset + at);
}

async function simpleRead(wire: Wire, dev: BlockDevice, req: Request): Promise<void> {
  const buf = new Uint8Array(req.length);
  await dev.read(buf, req.offset);
  await wire.write(simpleHeader(req.handle, 0), buf);
}

/** Data as OFFSET_DATA chunks, zero and unallocated runs as OFFSET_HOLE: clients do not move zeros. */
async function structuredRead(wire: Wire, dev: BlockDevice, req: Request): Promise<void> {
  const runs: Extent[] = [];
  for await (const e of coalesceExtents(dev.extents(req.offset, req.length))) runs.push(e);
  if (runs.length === 0) return wire.write(chunkHeader(req.handle, REPLY_FLAG_DONE, REPLY_TYPE.NONE, 0));
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i]!;
    const flags = i === runs.length - 1 ? REPLY_FLAG_DONE : 0;
    if (run.kind === 'data') {
      const buf = new Uint8Array(run.length);
      await dev.read(buf, run.offset);
      await wire.write(chunkHeader(req.handle, flags, REPLY_TYPE.OFFSET_DATA, 8 + run.length), new Out().u64(run.offset).bytes(), buf);
    } else {
      await wire.write(chunkHeader(req.handle, flags, REPLY_TYPE.OFFSET_HOLE, 12), new Out().u64(run.offset).u32(run.length).bytes());
    }
  }
}

async function blockStatus(wire: Wire, dev: BlockDevice, req: Request, context: number): Promise<void> {
  const max = req.flags & CMD_FLAG.REQ_ONE ? 1 : MAX_DESCRIPTORS;
  const body = new Out().u32(context);
  let n = 0;
  for await (const e of coalesceExtents(dev.extents(req.offset, req.length))) {
    // Neither 'zero' nor 'unallocated' runs are stored in the image (a sparse hole, a VHDX ZERO block, a
    // DMG zero chunk): both are holes that read as zeros, which is also what qemu-nbd reports for them.
    body.u32(e.length).u32(e.kind === 'data' ? 0 : STATE_HOLE | STATE_ZERO);
    if (++n >= max) break;
  }
  await wire.write(chunkHeader(req.handle, REPLY_FLAG_DONE, REPLY_TYPE.BLOCK_STATUS, body.length), body.bytes());
}

/** A reply carrying no data: success as a simple reply (allowed for commands that return none), errors structured once negotiated. */
async function simpleOrError(wire: Wire, neg: Negotiated, req: Request, errno: number, message = ''): Promise<void> {
  if (errno === 0 || !neg.structured) return wire.write(simpleHeader(req.handle, errno));
  const msg = new TextEncoder().encode(message.slice(0, 200));
  await wire.write(chunkHeader(req.handle, REPLY_FLAG_DONE, REPLY_TYPE.ERROR, 6 + msg.length), new Out().u32(errno).u16(msg.length).bytes(), msg);
}

function simpleHeader(handle: bigint, errno: number): Uint8Array {
  return new Out().u32(SIMPLE_REPLY_MAGIC).u32(errno).u64(handle).bytes();
}

function chunkHeader(handle: bigint, flags: number, type: number, length: number): Uint8Array {
  return new Out().u32(STRUCTURED_REPLY_MAGIC).u16(flags).u16(type).u64(handle).u32(length).bytes();
}
