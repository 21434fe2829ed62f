/**
 * The bounded LRU table behind `ctx.table()` (every per-host detector table): keys are
 * IPv4 hosts and slot numbers as int32, or text (IPv6 hosts, other keys); values are
 * whatever the detector keeps. Exact least-recently-used order: `get` and `set` make an
 * entry the most recent, `has` does not, a full table evicts its least recent entry.
 *
 * Hand-written rather than lru-cache because it runs once or twice per finished flow in
 * each of scan, p2p, flood and traffic.imbalance, and on a flood or a scan every packet
 * or two finishes a flow. The churn bench's 1,000,099 flow records fed to the flow-end
 * stage on one thread, two alternating rounds, ns per flow with lru-cache -> this table:
 * scan 1442-1775 -> 1166-1298, p2p 1252-1299 -> 880-931, traffic.imbalance 1336-1355 ->
 * 1080-1119, every detector plus the flow log 6657-6880 -> 4911-5188. lru-cache does per
 * call what these tables never need (an options object, diagnostics-channel and
 * staleness checks) and finds keys through a Map; here an int key is found by linear
 * probing in an Int32Array (util/probe-index.ts, as in the flow table) and an entry's
 * recency links sit side by side. lru-cache stays the reference in the tests
 * (test/detect/lru-table.test.ts runs both on random operation sequences).
 *
 * Entries live in slots: keys and values in plain arrays, the recency list as
 * (prev, next) pairs in one Int32Array. Slot arrays start small and grow four-fold up to
 * `maxEntries` (a table of 100,000 made whole costs milliseconds at start-up, and most
 * runs never fill one).
 */
import { EMPTY, ProbeIndex } from '../util/probe-index.js';
import type { BoundedTable } from './types.js';

const NONE = -1;
/**
 * First size of a table. A replay makes eight or so tables at start whether or not its
 * traffic ever fills them: at 4,096 slots their arrays were ~8 ms of a 1,723-packet
 * replay's ~145 ms; at 256, 15 alternating runs, median 0.145 -> 0.139 s (7,451 packets:
 * 0.162 -> 0.153 s). Growing four-fold, a table reaches 65,536 entries in five steps.
 */
const INITIAL_SLOTS = 256;

/**
 * Hash of an int32 key for the probe index (low bits must vary: the index masks them). A
 * bijection of int32 (xor-shifts and odd multipliers), so two keys with one hash are one
 * key: find() matches on the bucket's hash and never reads the key back, one random
 * access less per lookup (~4-5 lookups per flow across scan, p2p, flood and imbalance).
 * Keys that are not int32 (`| 0`) go to the Map with the text keys.
 */
export function intHash(k: number): number {
  let h = Math.imul(k ^ (k >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

/** Keys found through the int index: int32 numbers. */
function isIntKey(key: number | string): key is number {
  return typeof key === 'number' && (key | 0) === key;
}

export class LruTable<K extends number | string, V extends {}> implements BoundedTable<K, V> {
  /** int32 key -> slot. */
  private index = new ProbeIndex(2 * INITIAL_SLOTS);
  /** Text keys (and numbers that are not int32) -> slot. */
  private readonly textIndex = new Map<K, number>();
  private keys: K[] = [];
  private values: (V | undefined)[] = [];
  private hashes = new Int32Array(0);
  /** links[2 * slot] = previous (less recent), links[2 * slot + 1] = next (more recent). */
  private links = new Int32Array(0);
  private free = new Int32Array(0);
  private freeTop = 0;
  private capacity = 0;
  private count = 0;
  /** Least recent. */
  private head = NONE;
  /** Most recent. */
  private tail = NONE;

  constructor(
    readonly maxEntries: number,
    /** A full table evicted this entry (not called for delete or clear). */
    private readonly onEvict?: (value: V, key: K) => void,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`LruTable: maxEntries must be a positive integer, got ${maxEntries}`);
    this.grow(Math.min(maxEntries, INITIAL_SLOTS));
  }

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    const slot = this.find(key);
    if (slot === NONE) return undefined;
    this.touch(slot);
    return this.values[slot];
  }

  has(key: K): boolean {
    return this.find(key) !== NONE;
  }

  set(key: K, value: V): void {
    let slot = this.find(key);
    if (slot !== NONE) {
      this.values[slot] = value;
      this.touch(slot);
      return;
    }
    if (this.count === this.maxEntries) this.evict();
    if (this.freeTop === 0) this.grow(Math.min(this.capacity * 4, this.maxEntries));
    slot = this.free[--this.freeTop]!;
    this.keys[slot] = key;
    this.values[slot] = value;
    if (isIntKey(key)) {
      if ((this.count + 1) * 2 > this.index.size) this.index.rehash(this.index.size * 2);
      const h = intHash(key);
      this.hashes[slot] = h;
      this.index.insert(slot, h);
    } else {
      this.textIndex.set(key, slot);
    }
    this.append(slot);
    this.count++;
  }

  delete(key: K): void {
    const slot = this.find(key);
    if (slot !== NONE) this.remove(slot);
  }

  /** Entries, most recently used first. */
  *entries(): IterableIterator<[K, V]> {
    for (let s = this.tail; s !== NONE; s = this.links[2 * s]!) yield [this.keys[s]!, this.values[s]!];
  }

  clear(): void {
    this.index = new ProbeIndex(2 * INITIAL_SLOTS);
    this.textIndex.clear();
    this.keys = [];
    this.values = [];
    this.hashes = new Int32Array(0);
    this.links = new Int32Array(0);
    this.free = new Int32Array(0);
    this.capacity = 0;
    this.freeTop = 0;
    this.count = 0;
    this.head = this.tail = NONE;
    this.grow(Math.min(this.maxEntries, INITIAL_SLOTS));
  }

  private find(key: K): number {
    if (!isIntKey(key)) return this.textIndex.get(key) ?? NONE;
    const buckets = this.index.buckets;
    const mask = this.index.mask;
    const h = intHash(key);
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = buckets[2 * i]!;
      if (s === EMPTY) return NONE;
      if (buckets[2 * i + 1] === h) return s;
    }
  }

  /** Make `slot` the most recent. */
  private touch(slot: number): void {
    if (slot === this.tail) return;
    this.unlink(slot);
    this.append(slot);
  }

  private append(slot: number): void {
    const links = this.links;
    links[2 * slot] = this.tail;
    links[2 * slot + 1] = NONE;
    if (this.tail === NONE) this.head = slot;
    else links[2 * this.tail + 1] = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const links = this.links;
    const prev = links[2 * slot]!;
    const next = links[2 * slot + 1]!;
    if (prev === NONE) this.head = next;
    else links[2 * prev + 1] = next;
    if (next === NONE) this.tail = prev;
    else links[2 * next] = prev;
  }

  private remove(slot: number): void {
    const key = this.keys[slot]!;
    if (isIntKey(key)) this.index.remove(slot, this.hashes[slot]!);
    else this.textIndex.delete(key);
    this.unlink(slot);
    this.keys[slot] = undefined as unknown as K;
    this.values[slot] = undefined;
    this.free[this.freeTop++] = slot;
    this.count--;
  }

  private evict(): void {
    const slot = this.head;
    const key = this.keys[slot]!;
    const value = this.values[slot]!;
    this.remove(slot);
    this.onEvict?.(value, key);
  }

  private grow(capacity: number): void {
    const old = this.capacity;
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const links = new Int32Array(2 * capacity);
    links.set(this.links);
    this.links = links;
    const free = new Int32Array(capacity);
    free.set(this.free.subarray(0, this.freeTop));
    // Lowest slots first.
    for (let s = capacity - 1; s >= old; s--) free[this.freeTop++] = s;
    this.free = free;
    for (let s = old; s < capacity; s++) {
      this.keys.push(undefined as unknown as K);
      this.values.push(undefined);
    }
    this.capacity = capacity;
  }
}
