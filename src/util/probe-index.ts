/**
 * An open-addressing index of slot numbers, for tables that keep their entries in slab
 * arrays and find them by an integer hash (the flow table, the detector tables of
 * detect/lru-table.ts, flood.spoofed-source's targets): linear probing, kept at most half
 * full by its owner, backward-shift deletion (no tombstones). Entries are slots >= 0,
 * EMPTY marks a free bucket.
 *
 * A bucket is two int32 words: the slot and the slot's hash (so hashes are int32: an
 * owner compares its own as `hash | 0`, or makes them int32 to begin with). Probing compares hashes in
 * the index itself and reads an entry's own fields only when the hash matches, and
 * deletion finds each entry's home bucket without reading the entry. With the slot alone
 * every probe step and every shifted entry read the owner's record, a cache miss once the
 * table outgrows the cache: decode plus flow table over the churn bench's 2M packets in
 * memory (1M flows through, 440k live at the end), four alternating runs each, 949-1124
 * -> 819-1005 ms, and emitting the 440k live flows 134-160 -> 125-140 ms. The index costs
 * 8 bytes more per live flow (157.0 B per flow at 1M flows, 148.6 before).
 *
 * Lookup stays with the owner, which compares its own key fields inline in the probe loop
 * (`buckets`, `mask`, `EMPTY`: start at `hash & mask`, step by one, bucket i at
 * buckets[2 * i] (slot) and buckets[2 * i + 1] (hash), stop at EMPTY); that is the
 * per-packet path.
 */
export const EMPTY = -1;

export class ProbeIndex {
  /** Bucket i: [2 * i] the slot (EMPTY when free), [2 * i + 1] its hash. */
  buckets: Int32Array;
  mask: number;

  /** `size`: buckets, a power of two. */
  constructor(size: number) {
    this.buckets = new Int32Array(2 * size).fill(EMPTY);
    this.mask = size - 1;
  }

  /** Buckets (the owner keeps entries at most size / 2). */
  get size(): number {
    return this.mask + 1;
  }

  /** Put `slot` (not in the index) in the first free bucket of its probe run. */
  insert(slot: number, hash: number): void {
    const buckets = this.buckets;
    const mask = this.mask;
    let i = hash & mask;
    while (buckets[2 * i] !== EMPTY) i = (i + 1) & mask;
    buckets[2 * i] = slot;
    buckets[2 * i + 1] = hash;
  }

  /**
   * Take `slot` out; later entries of its probe run move back into the gap when their
   * home bucket allows, so lookups never need tombstones. False if it was not there.
   */
  remove(slot: number, hash: number): boolean {
    const buckets = this.buckets;
    const mask = this.mask;
    let hole = hash & mask;
    while (buckets[2 * hole] !== slot) {
      if (buckets[2 * hole] === EMPTY) return false;
      hole = (hole + 1) & mask;
    }
    for (let j = (hole + 1) & mask; buckets[2 * j] !== EMPTY; j = (j + 1) & mask) {
      const home = buckets[2 * j + 1]! & mask;
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      if (hole < j ? home <= hole || home > j : home <= hole && home > j) {
        buckets[2 * hole] = buckets[2 * j]!;
        buckets[2 * hole + 1] = buckets[2 * j + 1]!;
        hole = j;
      }
    }
    buckets[2 * hole] = EMPTY;
    return true;
  }

  /** Every entry out. */
  clear(): void {
    this.buckets.fill(EMPTY);
  }

  /** Every entry into `size` buckets (a power of two). */
  rehash(size: number): void {
    const old = this.buckets;
    this.buckets = new Int32Array(2 * size).fill(EMPTY);
    this.mask = size - 1;
    for (let k = 0; k < old.length; k += 2) {
      if (old[k] !== EMPTY) this.insert(old[k]!, old[k + 1]!);
    }
  }
}
