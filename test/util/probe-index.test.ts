import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY, ProbeIndex } from '../../src/util/probe-index.js';

/** The owner's lookup, as the flow table and the detector tables write it. */
function find(index: ProbeIndex, hash: number, isIt: (slot: number) => boolean): number {
  const b = index.buckets;
  for (let i = hash & index.mask; ; i = (i + 1) & index.mask) {
    const s = b[2 * i]!;
    if (s === EMPTY) return -1;
    if (b[2 * i + 1] === hash && isIt(s)) return s;
  }
}

describe('ProbeIndex', () => {
  it('finds every live slot by its hash and no removed one, through inserts, removes and growth', () => {
    // Hashes from a small set (long probe runs, runs that wrap around the end) and int32
    // values of both signs.
    const hashArb = fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: -2_147_483_648, max: 2_147_483_647 }));
    const opArb = fc.record({ insert: fc.boolean(), hash: hashArb, pick: fc.nat() });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
        const index = new ProbeIndex(4);
        const live = new Map<number, number>(); // slot -> hash
        let next = 0;
        for (const o of ops) {
          if (o.insert || live.size === 0) {
            if ((live.size + 1) * 2 > index.size) index.rehash(index.size * 2);
            const slot = next++;
            index.insert(slot, o.hash);
            live.set(slot, o.hash);
          } else {
            const slots = [...live.keys()];
            const slot = slots[o.pick % slots.length]!;
            expect(index.remove(slot, live.get(slot)!)).toBe(true);
            live.delete(slot);
            expect(index.remove(slot, o.hash)).toBe(false);
          }
          for (const [slot, hash] of live) expect(find(index, hash, (s) => s === slot)).toBe(slot);
        }
        let entries = 0;
        for (let k = 0; k < index.buckets.length; k += 2) if (index.buckets[k] !== EMPTY) entries++;
        expect(entries).toBe(live.size);
      }),
      { numRuns: 300 },
    );
  });
});
