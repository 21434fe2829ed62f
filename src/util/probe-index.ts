/**
 * An open-addressing index of slot numbers, for tables that keep their entries in slab
 * arrays and find them by an integer hash (the flow table, flood.spoofed-source's
 * targets): linear probing over an Int32Array, kept at most half full by its owner,
 * backward-shift deletion (no tombstones). Entries are slots >= 0, EMPTY marks a free
 * bucket.
 *
 * Lookup stays with the owner, which compares its own key fields inline in the probe loop
 * (`buckets`, `mask`, `EMPTY`: start at `hash & mask`, step by one, stop at EMPTY); that is
 * the per-packet path. Insert, remove and rehash need only the hash of an entry, which the
 * owner passes as a function.
 */
export const EMPTY = -1;

export class ProbeIndex {
  buckets: Int32Array;
  mask: number;

  /** `size`: a power of two. */
  constructor(size: number) {
    this.buckets = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
  }

  /** Put `slot` (not in the index) in the first free bucket of its probe run. */
  insert(slot: number, hash: number): void {
    const buckets = this.buckets;
    const mask = this.mask;
    let i = hash & mask;
    while (buckets[i] !== EMPTY) i = (i + 1) & mask;
    buckets[i] = slot;
  }

  /**
   * Take `slot` out; later entries of its probe run move back into the gap when their
   * home bucket allows, so lookups never need tombstones. False if it was not there.
   */
  remove(slot: number, hash: number, hashOf: (slot: number) => number): boolean {
    const buckets = this.buckets;
    const mask = this.mask;
    let hole = hash & mask;
    while (buckets[hole] !== slot) {
      if (buckets[hole] === EMPTY) return false;
      hole = (hole + 1) & mask;
    }
    for (let j = (hole + 1) & mask; buckets[j] !== EMPTY; j = (j + 1) & mask) {
      const s = buckets[j]!;
      const home = hashOf(s) & mask;
      // s may fill the hole unless its home lies cyclically in (hole, j].
      if (hole < j ? home <= hole || home > j : home <= hole && home > j) {
        buckets[hole] = s;
        hole = j;
      }
    }
    buckets[hole] = EMPTY;
    return true;
  }

  /** Every entry into `size` buckets (a power of two). */
  rehash(size: number, hashOf: (slot: number) => number): void {
    const old = this.buckets;
    this.buckets = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    for (let k = 0; k < old.length; k++) {
      const s = old[k]!;
      if (s !== EMPTY) this.insert(s, hashOf(s));
    }
  }
}
