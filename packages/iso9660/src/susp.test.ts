import { describe, it, expect } from 'vitest';
import { RockRidgeAccumulator, splitSusp } from './susp.js';
import { suspEntry, encodeNM, encodeSL, encodePX, encodeTF, encodeCE, encodeSP } from './build/susp-entries.js';
import { encodeShortDate, encodeLongDate } from './structs.js';

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

function decode(...areas: Uint8Array[]) {
  const acc = new RockRidgeAccumulator();
  for (const a of areas) acc.addArea(a);
  return acc.finish();
}

describe('SUSP / Rock Ridge entries', () => {
  it('PX, TF (short and long form), NM and SL decode as encoded', () => {
    const t = new Date('2021-06-07T08:09:10Z');
    const rr = decode(cat(encodePX(0o104755, 3, 1000, 100), encodeTF(encodeShortDate(t), encodeShortDate(t), encodeShortDate(t)), ...encodeNM(new TextEncoder().encode('naïve name'))));
    expect(rr).toMatchObject({ mode: 0o104755, nlink: 3, uid: 1000, gid: 100, name: 'naïve name' });
    expect(rr.mtime?.toISOString()).toBe('2021-06-07T08:09:10.000Z');
    // long form TF: creation + modify, 17-byte dates
    const long = new Uint8Array(1 + 34);
    long[0] = 0x80 | 0x01 | 0x02;
    long.set(encodeLongDate(new Date('2000-01-01T00:00:00Z')), 1);
    long.set(encodeLongDate(new Date('2022-02-03T04:05:06.780Z')), 18);
    expect(decode(suspEntry('TF', long)).mtime?.toISOString()).toBe('2022-02-03T04:05:06.780Z');
  });

  it('NM split over entries and areas; SL with root, ., .., long continued components', () => {
    const name = 'n'.repeat(600);
    const nm = encodeNM(new TextEncoder().encode(name));
    expect(nm.length).toBe(3);
    expect(decode(cat(nm[0]!), cat(nm[1]!, nm[2]!)).name).toBe(name);
    for (const target of ['/abs/path', '../x/./y', '.', '..', '/', 'a//b', 'c'.repeat(600) + '/d', '/' + 'e'.repeat(300)]) {
      const sl = encodeSL(target);
      for (const e of sl) expect(e.length).toBeLessThanOrEqual(255);
      expect(decode(cat(...sl)).target, target).toBe(target);
    }
  });

  it('splitSusp stops at ST and at malformed lengths, and reports CE', () => {
    const area = cat(encodeSP(3), encodeCE(20, 100, 50), suspEntry('ST', new Uint8Array(0)), encodePX(1, 1, 1, 1));
    const s = splitSusp(area);
    expect(s.stopped).toBe(true);
    expect(s.ce).toEqual({ block: 20, offset: 100, length: 50 });
    expect(s.entries.map((e) => e.sig)).toEqual(['SP']);
    const acc = new RockRidgeAccumulator();
    acc.add(s.entries);
    expect(acc.finish()).toMatchObject({ hasSp: true, spSkip: 3 });
    // a length byte below 4 or past the area ends the walk
    const bad = cat(encodePX(1, 1, 1, 1), Uint8Array.of(0x4e, 0x4d, 2, 1), encodeNM(new TextEncoder().encode('x'))[0]!);
    expect(decode(bad).name).toBeUndefined();
    const past = encodePX(1, 1, 1, 1);
    past[2] = 200;
    expect(decode(past).mode).toBeUndefined();
  });
});
