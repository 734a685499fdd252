/**
 * The fixed newstyle handshake and option haggling. Unknown options are answered ERR_UNSUP and the
 * haggling goes on; malformed ones ERR_INVALID. It ends in transmission (EXPORT_NAME or GO) or closes.
 */
import { FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES, IHAVEOPT, INFO, MAX_BLOCK, MAX_OPTION_LENGTH, MIN_BLOCK, NBDMAGIC, OPT, OPT_REPLY_MAGIC, PREFERRED_BLOCK, REP, BASE_ALLOCATION } from './protocol.js';
import { Out, view, type Wire } from './wire.js';
import { transmissionFlags, type NbdExport } from './export.js';

/** What the client chose: the export and what the transmission phase may use. */
export interface Negotiated {
  export: NbdExport;
  structured: boolean;
  /** Context id of base:allocation when the client set it. */
  allocationContext?: number;
}

const BASE_ALLOCATION_ID = 1;

export async function handshake(wire: Wire, exports: NbdExport[]): Promise<Negotiated | null> {
  await wire.write(new Out().u64(NBDMAGIC).u64(IHAVEOPT).u16(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).bytes());
  const cf = await wire.read(4);
  if (!cf) return null;
  const clientFlags = view(cf).getUint32(0);
  if (!(clientFlags & FLAG_FIXED_NEWSTYLE) || clientFlags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)) return null;
  const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0;
  let structured = false;
  let allocationContext: number | undefined;

  const reply = (opt: number, type: number, data: Uint8Array = new Uint8Array(0)) =>
    wire.write(new Out().u64(OPT_REPLY_MAGIC).u32(opt).u32(type).u32(data.length).push(data).bytes());
  const error = (opt: number, type: number, message: string) => reply(opt, type, new TextEncoder().encode(message));
  const find = (name: string) => exports.find((e) => e.name === name) ?? (name === '' ? exports[0] : undefined);

  for (;;) {
    const head = await wire.read(16);
    if (!head) return null;
    const v = view(head);
    if (v.getBigUint64(0) !== IHAVEOPT) return null; // out of sync: nothing sensible can follow
    const opt = v.getUint32(8);
    const len = v.getUint32(12);
    if (len > MAX_OPTION_LENGTH) {
      if (opt === OPT.EXPORT_NAME || !(await wire.skip(len))) return null;
      await error(opt, REP.ERR_TOO_BIG, 'option data too long');
      continue;
    }
    const data = await wire.read(len);
    if (!data) return null;
    const d = view(data);

    switch (opt) {
      case OPT.EXPORT_NAME: {
        const exp = find(new TextDecoder().decode(data));
        if (!exp) return null; // the protocol's only answer to an unknown name here is to close
        const out = new Out().u64(exp.device.size).u16(transmissionFlags(exp));
        if (!noZeroes) out.push(new Uint8Array(124));
        await wire.write(out.bytes());
        return { export: exp, structured, allocationContext };
      }
      case OPT.ABORT:
        await reply(opt, REP.ACK).catch(() => {});
        return null;
      case OPT.LIST:
        if (len !== 0) {
          await error(opt, REP.ERR_INVALID, 'LIST takes no data');
          break;
        }
        for (const e of exports) {
          const name = new TextEncoder().encode(e.name);
          await reply(opt, REP.SERVER, new Out().u32(name.length).push(name).str(e.description ?? '').bytes());
        }
        await reply(opt, REP.ACK);
        break;
      case OPT.INFO:
      case OPT.GO: {
        const req = parseInfoRequest(d, data);
        if (!req) {
          await error(opt, REP.ERR_INVALID, 'malformed INFO/GO request');
          break;
        }
        const exp = find(req.name);
        if (!exp) {
          await error(opt, REP.ERR_UNKNOWN, `no export named '${req.name}'`);
          break;
        }
        await reply(opt, REP.INFO, new Out().u16(INFO.EXPORT).u64(exp.device.size).u16(transmissionFlags(exp)).bytes());
        await reply(opt, REP.INFO, new Out().u16(INFO.BLOCK_SIZE).u32(MIN_BLOCK).u32(PREFERRED_BLOCK).u32(MAX_BLOCK).bytes());
        if (req.infos.includes(INFO.NAME)) await reply(opt, REP.INFO, new Out().u16(INFO.NAME).str(exp.name).bytes());
        if (req.infos.includes(INFO.DESCRIPTION) && exp.description) await reply(opt, REP.INFO, new Out().u16(INFO.DESCRIPTION).str(exp.description).bytes());
        await reply(opt, REP.ACK);
        if (opt === OPT.GO) return { export: exp, structured, allocationContext };
        break;
      }
      case OPT.STRUCTURED_REPLY:
        if (len !== 0) await error(opt, REP.ERR_INVALID, 'STRUCTURED_REPLY takes no data');
        else {
          structured = true;
          await reply(opt, REP.ACK);
        }
        break;
      case OPT.LIST_META_CONTEXT:
      case OPT.SET_META_CONTEXT: {
        const req = parseMetaRequest(d, data);
        if (!req) {
          await error(opt, REP.ERR_INVALID, 'malformed meta context request');
          break;
        }
        if (opt === OPT.SET_META_CONTEXT && !structured) {
          await error(opt, REP.ERR_INVALID, 'SET_META_CONTEXT needs STRUCTURED_REPLY first');
          break;
        }
        if (!find(req.name)) {
          await error(opt, REP.ERR_UNKNOWN, `no export named '${req.name}'`);
          break;
        }
        // LIST with no queries means "everything"; "base:" selects every base context.
        const wanted = req.queries.some((q) => q === BASE_ALLOCATION || (opt === OPT.LIST_META_CONTEXT && q === 'base:')) || (opt === OPT.LIST_META_CONTEXT && req.queries.length === 0);
        if (opt === OPT.SET_META_CONTEXT) allocationContext = wanted ? BASE_ALLOCATION_ID : undefined;
        if (wanted) await reply(opt, REP.META_CONTEXT, new Out().u32(BASE_ALLOCATION_ID).str(BASE_ALLOCATION).bytes());
        await reply(opt, REP.ACK);
        break;
      }
      default:
        // STARTTLS included: no TLS here. Unknown options leave the haggling going.
        await error(opt, REP.ERR_UNSUP, `option ${opt} is not supported`);
    }
  }
}

function parseInfoRequest(d: DataView, data: Uint8Array): { name: string; infos: number[] } | null {
  if (data.length < 6) return null;
  const nameLen = d.getUint32(0);
  if (4 + nameLen + 2 > data.length) return null;
  const name = new TextDecoder().decode(data.subarray(4, 4 + nameLen));
  const n = d.getUint16(4 + nameLen);
  if (4 + nameLen + 2 + 2 * n !== data.length) return null;
  const infos: number[] = [];
  for (let i = 0; i < n; i++) infos.push(d.getUint16(4 + nameLen + 2 + 2 * i));
  return { name, infos };
}

function parseMetaRequest(d: DataView, data: Uint8Array): { name: string; queries: string[] } | null {
  if (data.length < 8) return null;
  const nameLen = d.getUint32(0);
  let at = 4 + nameLen;
  if (at + 4 > data.length) return null;
  const name = new TextDecoder().decode(data.subarray(4, at));
  const n = d.getUint32(at);
  at += 4;
  const queries: string[] = [];
  for (let i = 0; i < n; i++) {
    if (at + 4 > data.length) return null;
    const qLen = d.getUint32(at);
    at += 4;
    if (at + qLen > data.length) return null;
    queries.push(new TextDecoder().decode(data.subarray(at, at + qLen)));
    at += qLen;
  }
  return at === data.length ? { name, queries } : null;
}
