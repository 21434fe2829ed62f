import fc from 'fast-check';
import { LRUCache } from 'lru-cache';
import { describe, expect, it } from 'vitest';
import { LruTable, intHash } from '../../src/detect/lru-table.js';

// lru-cache is the reference: LruTable replaced it behind ctx.table() and must keep its
// behaviour (get/set make an entry the most recent, has does not, a full table evicts
// the least recent, entries() walks most recent first).

type Op =
  | { op: 'get' | 'has' | 'delete'; key: number | string }
  | { op: 'set'; key: number | string; value: number }
  | { op: 'clear' };

// Few distinct keys, so operations meet the same entries again; int32 keys of both signs
// (IPv4 hosts as `| 0`), small slot numbers and text keys (IPv6 hosts) in one table, as
// scan's and p2p's tables hold both.
const keyArb = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.constantFrom(-2_147_483_648, -1, 2_147_483_647, 0x0a000001 | 0, 0xc0a80101 | 0),
  fc.constantFrom('2001:db8::1', '2001:db8::2', 'fe80::1', '::1'),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 100, arbitrary: fc.record({ op: fc.constant('set' as const), key: keyArb, value: fc.integer() }) },
  { weight: 80, arbitrary: fc.record({ op: fc.constantFrom('get' as const, 'has' as const), key: keyArb }) },
  { weight: 20, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

function run(max: number, ops: Op[]): void {
  const refEvicted: [unknown, unknown][] = [];
  const ref = new LRUCache<number | string, number>({
    max,
    dispose: (v, k, reason) => {
      if (reason === 'evict') refEvicted.push([k, v]);
    },
  });
  const evicted: [unknown, unknown][] = [];
  const t = new LruTable<number | string, number>(max, (v, k) => evicted.push([k, v]));
  for (const o of ops) {
    switch (o.op) {
      case 'get': expect(t.get(o.key)).toBe(ref.get(o.key)); break;
      case 'has': expect(t.has(o.key)).toBe(ref.has(o.key)); break;
      case 'set': t.set(o.key, o.value); ref.set(o.key, o.value); break;
      case 'delete': t.delete(o.key); ref.delete(o.key); break;
      case 'clear': t.clear(); ref.clear(); break;
    }
    expect(t.size).toBe(ref.size);
  }
  expect(evicted).toEqual(refEvicted);
  expect([...t.entries()]).toEqual([...ref.entries()]);
}

describe('LruTable against lru-cache', () => {
  it('same answers, sizes, evictions and order for random operation sequences', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(opArb, { maxLength: 300 }), (max, ops) => run(max, ops)),
      { numRuns: 400 },
    );
  });

  it('int keys whose hashes differ only in the top bits, and numbers that are not int32, stay distinct', () => {
    // find() trusts the hash alone for int32 keys, which holds only while intHash is a
    // bijection. Invert it to get keys whose hashes differ in bit 30 or 31 alone.
    const C = 0x45d9f3b;
    let inv = C;
    for (let i = 0; i < 5; i++) inv = Math.imul(inv, 2 - Math.imul(C, inv)); // C^-1 mod 2^32
    const unshift = (h: number) => h ^ (h >>> 16);
    const unhash = (h: number) => unshift(Math.imul(unshift(Math.imul(unshift(h), inv)), inv)) | 0;
    for (const k of [5, -7, 0x12345678]) expect(unhash(intHash(k))).toBe(k);
    const keys: (number | string)[] = [-1, 4294967295, 1.5, '5'];
    for (const k of [5, 123456, -99]) keys.push(k, unhash(intHash(k) ^ 0x40000000), unhash(intHash(k) ^ 0x80000000));
    const t = new LruTable<number | string, number>(100);
    keys.forEach((k, i) => t.set(k, i));
    expect(t.size).toBe(keys.length);
    keys.forEach((k, i) => expect(t.get(k)).toBe(i));
    t.delete(4294967295);
    expect(t.get(-1)).toBe(0);
    expect(t.has(4294967295)).toBe(false);
  });

  it('the same across growth (256 slots, then four-fold) and evictions at maxEntries', () => {
    const ops: Op[] = [];
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) | 0) >>> 8) % n;
    for (let i = 0; i < 60_000; i++) {
      const r = rnd(10);
      const key = rnd(30_000) * 65_537 | 0; // spread over the int32 range, both signs
      if (r < 6) ops.push({ op: 'set', key, value: i });
      else if (r < 9) ops.push({ op: 'get', key });
      else ops.push({ op: 'delete', key });
    }
    run(20_000, ops);
  });
});
