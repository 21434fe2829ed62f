import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAddr, parseAddr } from '../../src/util/ip.js';

const dotted = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

function v4(a: number): Uint32Array {
  return Uint32Array.of(0, 0, 0xffff, a >>> 0);
}

/** An independent RFC 5952 formatter: WHATWG URL's IPv6 host serialiser (same compression rule). */
function whatwgText(w: Uint32Array): string {
  const full = [0, 1, 2, 3].map((i) => `${(w[i]! >>> 16).toString(16)}:${(w[i]! & 0xffff).toString(16)}`).join(':');
  return new URL(`http://[${full}]/`).hostname.slice(1, -1);
}

describe('formatAddr', () => {
  it('IPv4: the dotted quad, also when addresses share a slot of the text cache', () => {
    // The cache slot is (a ^ a >>> 16) & 0xffff: a and a ^ 0x10001 * k share it.
    const word = fc.integer({ min: 0, max: 0xffffffff });
    const runs = fc.array(fc.oneof(word, fc.tuple(word, fc.integer({ min: 1, max: 0xffff })).map(([a, k]) => (a ^ (0x10001 * k)) >>> 0)), { maxLength: 50 });
    fc.assert(fc.property(runs, (addrs) => {
      for (const a of [...addrs, ...addrs.reverse()]) expect(formatAddr(v4(a), 4)).toBe(dotted(a));
    }));
    for (const a of [0, 1, 0x10001, 0xffffffff, 0xffff0000, 0x0000ffff, 0x0a020304]) {
      expect(formatAddr(v4(a), 4)).toBe(dotted(a));
      expect(formatAddr(v4(a), 4)).toBe(dotted(a));
    }
  });

  it('IPv6: RFC 5952 text, read back by parseAddr', () => {
    expect(formatAddr(Uint32Array.of(0x20010db8, 0, 0, 1), 6)).toBe('2001:db8::1');
    expect(formatAddr(Uint32Array.of(0, 0, 0, 0), 6)).toBe('::');
    expect(formatAddr(Uint32Array.of(0x20010db8, 0x00010000, 0x00010000, 1), 6)).toBe('2001:db8:1:0:1::1');
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (g) => {
      const w = Uint32Array.from([0, 1, 2, 3], (i) => ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0);
      const text = formatAddr(w, 6);
      const back = new Uint32Array(4);
      expect(parseAddr(text, back)).toBe(6);
      expect([...back]).toEqual([...w]);
      expect(text).not.toMatch(/[A-F]|(^|:)0[0-9a-f]/);
    }));
  });

  it('IPv6: the text WHATWG URL serialises (RFC 5952 compression), also when recent addresses share a cache slot', () => {
    // Few distinct groups, so runs of zeros and repeats of whole addresses are common.
    const group = fc.constantFrom(0, 0, 0, 1, 0xdb8, 0xffff, 0x2001, 0xfe80);
    const addr = fc.array(group, { minLength: 8, maxLength: 8 }).map((g) => Uint32Array.from([0, 1, 2, 3], (i) => ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0));
    fc.assert(fc.property(fc.array(addr, { minLength: 1, maxLength: 40 }), (addrs) => {
      for (const w of [...addrs, ...addrs]) {
        expect(formatAddr(w, 6)).toBe(whatwgText(w));
      }
    }), { numRuns: 300 });
    // Over 4,096 addresses that differ in one word only: slots are overwritten and shared
    // by addresses equal in the other three words, answers stay right.
    for (let word = 0; word < 4; word++) {
      for (let k = 0; k < 5000; k++) {
        const w = Uint32Array.of(0x20010db8, 0, 0, 1);
        w[word] = (k * 0x10001) >>> 0;
        expect(formatAddr(w, 6)).toBe(whatwgText(w));
      }
    }
  });
});
