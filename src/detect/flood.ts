/**
 * Spoofed-source flood (SPEC §4 flood.spoofed-source): one target ip:port receiving mostly
 * unanswered attempts from very many distinct source addresses in a short window, the
 * forged-source DDoS of the JANET "unusual traffic" guidance. The sources are forged, so
 * per-source state would be what the attacker controls; this detector keeps state per
 * TARGET only (bounded LRU) and counts distinct sources in a fixed-size bitmap.
 *
 * Distinct sources: linear counting (Whang, Vander-Zanden, Taylor 1990, "A linear-time
 * probabilistic counting algorithm"): hash each source into m = 8192 bits, estimate
 * n = -m ln(zero bits / m). Standard error stays under 2% up to n ≈ 4m (their table), so
 * counts up to ~30k are good and the 1000-source threshold is exact enough; 1 KiB per target.
 * Below 64 sources the exact hashes are kept and no bitmap is allocated, so the many
 * targets of ordinary failed connections cost little.
 */
import type { z } from 'zod';
import type { SchemaKit } from '../config/fields.js';
import { addrHash32, fmix32 } from '../util/hash.js';
import { EMPTY, ProbeIndex } from '../util/probe-index.js';
import { hugeBytes } from '../util/slab.js';
import { hostKeyText, type FlowRecord } from '../flow/record.js';
import type { Detector, DetectorContext, DetectorModule } from './types.js';
import { FAILED, classifyAttempt, isGroupDestination, keyLabel, keyPort, keyTransport, portKeyOf, T_ECHO } from './attempts.js';

export function floodSchema({ z }: SchemaKit) {
  return z.strictObject({
    /** Tumbling window per target, packet time. */
    windowSeconds: z.number().positive().default(60),
    /**
     * Distinct source addresses to one target in the window. Forged-source floods use
     * thousands to millions of addresses (the StopDDoS sample: 37,623 sources in 24 s); a
     * popular server answers its clients, which the unanswered share below excludes.
     */
    minSources: z.number().int().min(2).default(1000),
    /** Share of the target's attempts left unanswered (S0 / no reply / refused): "mostly". */
    minUnansweredShare: z.number().min(0).max(1).default(0.8),
    /** Targets tracked at once (bounded LRU). */
    maxTargets: z.number().int().min(1).default(10_000),
  });
}
export type FloodConfig = z.infer<ReturnType<typeof floodSchema>>;

const BITMAP_BITS = 8192;
const BITMAP_WORDS = BITMAP_BITS / 32;
const SMALL_SET = 64;
const TOP_SLOTS = 4;
const SAMPLE_SIZE = 10;
/** One bit per possible first octet (IPv4) / first byte (IPv6). */
const SLASH8_WORDS = 8;

/**
 * What an IPv6 target keeps as text (its key, its address, its top sources and sample):
 * IPv4 targets keep addresses as int32 in their record and make the text at alert time.
 * IPv6 targets are rare, so a small side Map by slot.
 */
interface V6Texts {
  key: string;
  dstIp: string;
  srcKeys: string[];
  sample: string[];
}

// One target's record: RECORD_WORDS int32 words of one ArrayBuffer, the first four as
// float64. A record rather than one array per field: targets are hit in random order, and
// on the churn bench an array per field (a cache miss each, ~12 per flow) cost ~230 ns per
// flow in addSource alone, a record ~70 ns: it touches three or four cache lines (the
// header, the heavy hitters, the small set).
const RECORD_WORDS = 128;
const RECORD_BYTES = RECORD_WORDS * 4;
/** Target records made at the first target (32 MiB at most, backed only as used). */
const RESERVED_SLOTS = 1 << 16;
// Float64 fields (index in float64 units from the record's start).
const F_WINDOW_START = 0;
const F_LAST = 1;
const F_FLOWS = 2;
const F_UNANSWERED = 3;
// Int32 fields.
/** IPv4 target address (int32); 0 for IPv6 (the text is in V6Texts). */
const I_DST = 8;
const I_PORT_KEY = 9;
const I_SMALL_COUNT = 10;
/** Index of the target's bitmap in `bits`, -1 while its sources fit the small set. */
const I_BITMAP = 11;
const I_ZERO_BITS = 12;
const I_SLASH8_COUNT = 13;
const I_SAMPLE_COUNT = 14;
const I_RAISED = 15;
/** First octets (IPv4) / first byte (IPv6) seen: how random the sources are. */
const I_SLASH8 = 16;
/**
 * Misra-Gries heavy hitters: sources (IPv4 address as int32) and IPv4 /16 prefixes. A
 * counter at 0 is an empty slot whatever its key says.
 */
const I_SRC_KEYS = 24;
const I_SRC_COUNTS = 28;
const I_NET_KEYS = 32;
const I_NET_COUNTS = 36;
/** First SAMPLE_SIZE distinct sources (IPv4 address as int32). */
const I_SAMPLE = 40;
/** Exact source hashes below SMALL_SET sources. */
const I_SMALL = 64;

/**
 * Per-target state in slab records indexed by a slot number. The detector table is keyed
 * by the slot (a small integer) and an own open-addressing index maps an IPv4 target
 * (address, port key) to its slot; IPv6 targets go through a Map by text. An evicted
 * target's slot, and its bitmap, go back to free lists (the table's onEvict) for the next
 * new target, so steady state allocates nothing per flow.
 *
 * Why: the churn bench has ~12k targets for the default 10,000 entries, so the table
 * evicts all the time; an object per target (three typed arrays, two string arrays and a
 * 1 KiB bitmap once past 64 sources) and a source text kept per flow cost the detector
 * alone ~1.7 us per flow of the 200k-flow churn and ~1.9 us of the 1M-flow one; with
 * slots ~0.45 us on both (about half of it the table's get and evicting set, when that
 * table was an lru-cache),
 * and 7 MB instead of 20 MB at the end of the 1M-flow churn. The table key: address *
 * 2^18 + port key is exact but above 2^31, a heap number per lookup; keyed that way the
 * lru-cache lookup of the time alone cost ~1 us per flow on the 200k churn (whole run 0.79-0.91 s
 * against 0.60-0.64 s with a small-integer key), hence the own index.
 */
class TargetSlots {
  private cap = 0;
  private top = 0;
  private readonly freeSlots: number[] = [];
  private buffer = new ArrayBuffer(0);
  /** Records, RECORD_WORDS per slot, and the same memory as float64. */
  rec = new Int32Array(this.buffer);
  recF = new Float64Array(this.buffer);
  /** IPv4 (address, port key) -> slot (util/probe-index.ts), at most half full. */
  private readonly index = new ProbeIndex(1); // one empty bucket until the first grow()
  private readonly hashOf = (s: number): number => indexHash(this.rec[s * RECORD_WORDS + I_DST]!, this.rec[s * RECORD_WORDS + I_PORT_KEY]!);
  private readonly v6Index = new Map<string, number>();
  readonly v6 = new Map<number, V6Texts>();
  /** Linear-counting bitmaps, BITMAP_WORDS each, made only for targets past SMALL_SET sources. */
  bits = new Uint32Array(0);
  private bitmapCap = 0;
  private bitmapTop = 0;
  private readonly freeBitmaps: number[] = [];

  /** `maxSlots`: the table's bound + 1 (a new target's slot is taken before the table evicts). */
  constructor(private readonly maxSlots: number) {}

  /** Slot of an IPv4 target, or -1. */
  find4(dstAddr: number, portKey: number): number {
    const rec = this.rec;
    const buckets = this.index.buckets;
    const mask = this.index.mask;
    const h = indexHash(dstAddr, portKey);
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = buckets[2 * i]!;
      if (e === EMPTY) return -1;
      const r = e * RECORD_WORDS;
      if (buckets[2 * i + 1] === h && rec[r + I_DST] === dstAddr && rec[r + I_PORT_KEY] === portKey) return e;
    }
  }

  /** Slot of an IPv6 target (key: address text and port key), or -1. */
  find6(key: string): number {
    return this.v6Index.get(key) ?? -1;
  }

  /** A slot for a new target, its window starting at `micros`; `v6` null for IPv4. */
  alloc(dstAddr: number, portKey: number, v6: V6Texts | null, micros: number): number {
    let s = this.freeSlots.pop();
    if (s === undefined) {
      if (this.top === this.cap) this.grow();
      s = this.top++;
    }
    const r = s * RECORD_WORDS;
    this.rec[r + I_DST] = dstAddr;
    this.rec[r + I_PORT_KEY] = portKey;
    this.rec[r + I_BITMAP] = -1;
    this.recF[r / 2 + F_LAST] = 0;
    if (v6 === null) {
      this.index.insert(s, this.hashOf(s));
    } else {
      this.v6.set(s, v6);
      this.v6Index.set(v6.key, s);
    }
    this.reset(s, micros);
    return s;
  }

  /** The target left the table: its slot and bitmap are free for the next new target. */
  free(s: number): void {
    const r = s * RECORD_WORDS;
    const b = this.rec[r + I_BITMAP]!;
    if (b >= 0) {
      this.freeBitmaps.push(b);
      this.rec[r + I_BITMAP] = -1;
    }
    const t = this.v6.size > 0 ? this.v6.get(s) : undefined;
    if (t !== undefined) {
      this.v6.delete(s);
      this.v6Index.delete(t.key);
    } else {
      this.index.remove(s, this.hashOf(s));
    }
    this.freeSlots.push(s);
  }

  /** A new window: counts cleared; a bitmap, once made, is kept (zeroed) as before. */
  reset(s: number, micros: number): void {
    const rec = this.rec;
    const r = s * RECORD_WORDS;
    const f = r / 2;
    this.recF[f + F_WINDOW_START] = micros;
    this.recF[f + F_FLOWS] = 0;
    this.recF[f + F_UNANSWERED] = 0;
    rec[r + I_SMALL_COUNT] = 0;
    rec[r + I_ZERO_BITS] = BITMAP_BITS;
    rec[r + I_SLASH8_COUNT] = 0;
    rec[r + I_SAMPLE_COUNT] = 0;
    rec[r + I_RAISED] = 0;
    for (let i = r + I_SLASH8; i < r + I_SLASH8 + SLASH8_WORDS; i++) rec[i] = 0;
    for (let i = 0; i < TOP_SLOTS; i++) {
      rec[r + I_SRC_COUNTS + i] = 0;
      rec[r + I_NET_COUNTS + i] = 0;
    }
    const b = rec[r + I_BITMAP]!;
    if (b >= 0) this.bits.fill(0, b * BITMAP_WORDS, (b + 1) * BITMAP_WORDS);
    const t = this.v6.size > 0 ? this.v6.get(s) : undefined;
    if (t !== undefined) {
      t.srcKeys.fill('');
      t.sample.length = 0;
    }
  }

  distinctSources(s: number): number {
    const r = s * RECORD_WORDS;
    if (this.rec[r + I_BITMAP]! < 0) return this.rec[r + I_SMALL_COUNT]!;
    const zeroBits = this.rec[r + I_ZERO_BITS]!;
    if (zeroBits === 0) return Math.round(BITMAP_BITS * Math.log(BITMAP_BITS)); // saturated: a lower bound
    return Math.round(-BITMAP_BITS * Math.log(zeroBits / BITMAP_BITS));
  }

  /**
   * One attempt from a source: `src` is its IPv4 address as int32 (ignored for IPv6),
   * `srcText` its text for IPv6 targets only (null for IPv4: no string kept per flow).
   */
  addSource(s: number, hash: number, firstByte: number, net16: number, src: number, srcText: string | null): void {
    const rec = this.rec;
    const r = s * RECORD_WORDS;
    let b = rec[r + I_BITMAP]!;
    if (b < 0) {
      const n = rec[r + I_SMALL_COUNT]!;
      const h = hash | 0;
      const small = r + I_SMALL;
      for (let i = small; i < small + n; i++) if (rec[i] === h) return this.countTop(s, src, srcText, net16);
      if (n < SMALL_SET) {
        rec[small + n] = h;
        rec[r + I_SMALL_COUNT] = n + 1;
      } else {
        b = this.allocBitmap();
        rec[r + I_BITMAP] = b;
        for (let i = small; i < small + n; i++) this.setBit(r, b, rec[i]!);
        this.setBit(r, b, hash);
      }
    } else {
      this.setBit(r, b, hash);
    }
    const at = r + I_SLASH8 + (firstByte >>> 5);
    const mask = 1 << (firstByte & 31);
    const word = rec[at]!;
    if (!(word & mask)) {
      rec[at] = word | mask;
      rec[r + I_SLASH8_COUNT]!++;
    }
    if (rec[r + I_SAMPLE_COUNT]! < SAMPLE_SIZE) this.addSample(s, src, srcText);
    this.countTop(s, src, srcText, net16);
  }

  private addSample(s: number, src: number, srcText: string | null): void {
    const rec = this.rec;
    const r = s * RECORD_WORDS;
    if (srcText !== null) {
      const t = this.v6.get(s)!;
      if (!t.sample.includes(srcText)) t.sample.push(srcText);
      rec[r + I_SAMPLE_COUNT] = t.sample.length;
      return;
    }
    const n = rec[r + I_SAMPLE_COUNT]!;
    for (let i = r + I_SAMPLE; i < r + I_SAMPLE + n; i++) if (rec[i] === src) return;
    rec[r + I_SAMPLE + n] = src;
    rec[r + I_SAMPLE_COUNT] = n + 1;
  }

  private countTop(s: number, src: number, srcText: string | null, net16: number): void {
    const r = s * RECORD_WORDS;
    if (srcText === null) mgAdd(this.rec, r + I_SRC_KEYS, r + I_SRC_COUNTS, src);
    else mgAddText(this.v6.get(s)!.srcKeys, this.rec, r + I_SRC_COUNTS, srcText);
    if (net16 >= 0) mgAdd(this.rec, r + I_NET_KEYS, r + I_NET_COUNTS, net16);
  }

  private setBit(r: number, b: number, hash: number): void {
    const bit = hash & (BITMAP_BITS - 1);
    const at = b * BITMAP_WORDS + (bit >>> 5);
    const mask = 1 << (bit & 31);
    const word = this.bits[at]!;
    if (!(word & mask)) {
      this.bits[at] = word | mask;
      this.rec[r + I_ZERO_BITS]!--;
    }
  }

  private allocBitmap(): number {
    let b = this.freeBitmaps.pop();
    if (b === undefined) {
      if (this.bitmapTop === this.bitmapCap) {
        this.bitmapCap = Math.max(64, this.bitmapCap * 2);
        const bits = new Uint32Array(this.bitmapCap * BITMAP_WORDS);
        bits.set(this.bits);
        this.bits = bits;
      }
      b = this.bitmapTop++;
    } else {
      this.bits.fill(0, b * BITMAP_WORDS, (b + 1) * BITMAP_WORDS);
    }
    return b;
  }

  private grow(): void {
    // The first buffer holds the table's bound (up to RESERVED_SLOTS): untouched memory
    // costs nothing until used, where growing by doubling from 64 copied each buffer into
    // the next and faulted in both (churn bench: 1.5k of a replay's page faults in the
    // copies). Past it doubling, but not past maxSlots while slots come back through onEvict.
    // The first buffer's bytes are whole huge pages (util/slab.ts: hugeBytes).
    const cap = (this.cap = this.cap === 0 ? Math.floor(hugeBytes(Math.min(this.maxSlots, RESERVED_SLOTS) * RECORD_BYTES) / RECORD_BYTES)
      : this.cap < this.maxSlots ? Math.min(this.cap * 2, this.maxSlots) : this.cap * 2);
    this.buffer = new ArrayBuffer(cap * RECORD_BYTES);
    const rec = new Int32Array(this.buffer);
    rec.set(this.rec);
    this.rec = rec;
    this.recF = new Float64Array(this.buffer);
    // The index: a power of two at least twice the slots (at most half full).
    let size = 2;
    while (size < cap * 2) size *= 2;
    this.index.rehash(size);
  }

  // Alert-time reads and text.
  dstText(s: number): string {
    return this.v6.get(s)?.dstIp ?? hostKeyText(this.rec[s * RECORD_WORDS + I_DST]!);
  }
  srcText(s: number, i: number): string {
    return this.v6.get(s)?.srcKeys[i] ?? hostKeyText(this.rec[s * RECORD_WORDS + I_SRC_KEYS + i]!);
  }
  sampleTexts(s: number): string[] {
    const t = this.v6.get(s);
    if (t !== undefined) return [...t.sample];
    const r = s * RECORD_WORDS;
    return Array.from(this.rec.subarray(r + I_SAMPLE, r + I_SAMPLE + this.rec[r + I_SAMPLE_COUNT]!), (a) => hostKeyText(a));
  }
}

function indexHash(dstAddr: number, portKey: number): number {
  // As an int32: the index keeps hashes in an Int32Array and compares them.
  return fmix32(dstAddr ^ Math.imul(portKey + 1, 0x9e3779b1)) | 0;
}

/** Misra-Gries step over TOP_SLOTS counters: a key matches only a live counter. */
function mgAdd(rec: Int32Array, keys: number, counts: number, key: number): void {
  let free = -1;
  for (let i = 0; i < TOP_SLOTS; i++) {
    const c = rec[counts + i]!;
    if (c === 0) {
      if (free < 0) free = i;
    } else if (rec[keys + i] === key) {
      rec[counts + i] = c + 1;
      return;
    }
  }
  if (free >= 0) {
    rec[keys + free] = key;
    rec[counts + free] = 1;
    return;
  }
  for (let i = 0; i < TOP_SLOTS; i++) rec[counts + i]!--;
}
function mgAddText(keys: string[], rec: Int32Array, counts: number, key: string): void {
  let free = -1;
  for (let i = 0; i < TOP_SLOTS; i++) {
    const c = rec[counts + i]!;
    if (c === 0) {
      if (free < 0) free = i;
    } else if (keys[i] === key) {
      rec[counts + i] = c + 1;
      return;
    }
  }
  if (free >= 0) {
    keys[free] = key;
    rec[counts + free] = 1;
    return;
  }
  for (let i = 0; i < TOP_SLOTS; i++) if (--rec[counts + i]! === 0) keys[i] = '';
}

export const floodModule: DetectorModule<FloodConfig> = {
  id: 'flood',
  rules: ['flood.spoofed-source'],
  schema: floodSchema,
  create(config: FloodConfig, ctx: DetectorContext): Detector {
    return new FloodDetector(config, ctx);
  },
};

class FloodDetector implements Detector {
  /** Slot -> slot: the table keeps recency, bounds the targets and counts evictions. */
  private readonly targets;
  private readonly slots: TargetSlots;
  private readonly windowMicros: number;

  constructor(private readonly config: FloodConfig, private readonly ctx: DetectorContext) {
    this.slots = new TargetSlots(config.maxTargets + 1);
    this.targets = ctx.table<number, number>('targets', config.maxTargets, (slot) => this.slots.free(slot));
    this.windowMicros = config.windowSeconds * 1e6;
  }

  onFlowEnd(flow: FlowRecord): void {
    const portKey = portKeyOf(flow);
    if (portKey < 0 || isGroupDestination(flow)) return;
    const verdict = classifyAttempt(flow);
    if (verdict === 0) return;
    const slots = this.slots;
    const v4 = flow.ipVersion === 4;
    const dstAddr = flow.dstAddr[3]! | 0;
    const key6 = v4 ? '' : `${flow.dstIp}|${portKey}`; // IPv4 targets: no string per flow
    let s = v4 ? slots.find4(dstAddr, portKey) : slots.find6(key6);
    // get() also marks the target recently used. Undefined for an indexed slot only when a
    // table evicted it without calling onEvict: forget it here.
    if (s >= 0 && this.targets.get(s) === undefined) {
      slots.free(s);
      s = -1;
    }
    const failed = (verdict & FAILED) !== 0;
    const micros = flow.startMicros;
    if (s < 0) {
      if (!failed) return; // answered traffic alone never starts tracking a target
      s = v4
        ? slots.alloc(dstAddr, portKey, null, micros)
        : slots.alloc(0, portKey, { key: key6, dstIp: flow.dstIp, srcKeys: ['', '', '', ''], sample: [] }, micros);
      this.targets.set(s, s);
    } else if (micros >= slots.recF[(s * RECORD_WORDS) / 2 + F_WINDOW_START]! + this.windowMicros) {
      slots.reset(s, micros);
    }
    const recF = slots.recF;
    const f = (s * RECORD_WORDS) / 2;
    if (micros > recF[f + F_LAST]!) recF[f + F_LAST] = micros;
    recF[f + F_FLOWS]!++;
    if (failed) recF[f + F_UNANSWERED]!++;
    const firstWord = v4 ? flow.srcAddr[3]! : flow.srcAddr[0]!;
    slots.addSource(s, addrHash32(flow.srcAddr), firstWord >>> 24, v4 ? firstWord >>> 16 : -1, firstWord | 0, v4 ? null : flow.srcIp);
    const unanswered = recF[f + F_UNANSWERED]!;
    if (slots.rec[s * RECORD_WORDS + I_RAISED] === 1 || unanswered < this.config.minSources) return;
    const sources = slots.distinctSources(s);
    if (sources >= this.config.minSources && unanswered >= this.config.minUnansweredShare * recF[f + F_FLOWS]!) this.raise(s, sources, micros);
  }

  private raise(s: number, sources: number, micros: number): void {
    const t = this.slots;
    const rec = t.rec;
    const r = s * RECORD_WORDS;
    rec[r + I_RAISED] = 1;
    const netCounts = r + I_NET_COUNTS;
    const srcCounts = r + I_SRC_COUNTS;
    let topNet = -1;
    let topSrc = -1;
    for (let i = 0; i < TOP_SLOTS; i++) {
      if (rec[netCounts + i]! > 0 && (topNet < 0 || rec[netCounts + i]! > rec[netCounts + topNet]!)) topNet = i;
      if (rec[srcCounts + i]! > 0 && (topSrc < 0 || rec[srcCounts + i]! > rec[srcCounts + topSrc]!)) topSrc = i;
    }
    const f = r / 2;
    const flows = t.recF[f + F_FLOWS]!;
    const unanswered = t.recF[f + F_UNANSWERED]!;
    const portKey = rec[r + I_PORT_KEY]!;
    const dstIp = t.dstText(s);
    const sample = t.sampleTexts(s);
    // source.ip: the /16 the sources share when one holds most of them, else the most
    // frequent single address (spoofed: each address is rare; the evidence says so).
    const net = topNet >= 0 ? rec[r + I_NET_KEYS + topNet]! : -1;
    const netShare = topNet >= 0 ? rec[netCounts + topNet]! / flows : 0;
    const netText = net >= 0 ? `${net >>> 8}.${net & 255}.0.0` : '';
    const topSrcText = topSrc >= 0 ? t.srcText(s, topSrc) : '';
    const sourceIp = netShare >= 0.5 ? netText : topSrc >= 0 ? topSrcText : sample[0]!;
    const slash8Count = rec[r + I_SLASH8_COUNT]!;
    const spread = slash8Count >= 64 ? 'random' : netShare >= 0.5 ? 'one /16' : 'several networks';
    const isEcho = portKey >>> 16 === T_ECHO;
    const share = Math.round((unanswered / flows) * 1000) / 1000;
    this.ctx.emit({
      ruleId: 'flood.spoofed-source',
      severity: 3,
      message: `${dstIp} ${isEcho ? '' : `port ${keyLabel(portKey)} `}flooded by ~${sources} distinct sources (${spread}, ${unanswered}/${flows} unanswered)`,
      timestampMicros: micros,
      startMicros: t.recF[f + F_WINDOW_START]!,
      endMicros: Math.max(micros, t.recF[f + F_LAST]!),
      sourceIp,
      destinationIp: dstIp,
      ...(isEcho ? {} : { destinationPort: keyPort(portKey) }),
      transport: keyTransport(portKey),
      suppressKey: `${dstIp}|${keyLabel(portKey)}`,
      evidence: {
        distinct_sources: sources,
        distinct_sources_method: rec[r + I_BITMAP]! >= 0 ? 'linear counting, 8192 bits' : 'exact',
        flows,
        unanswered,
        unanswered_share: share,
        slash8_networks: slash8Count,
        spread,
        top_slash16: net >= 0 ? { net: `${netText}/16`, flows_at_least: rec[netCounts + topNet]! } : undefined,
        top_source: topSrc >= 0 ? { ip: topSrcText, flows_at_least: rec[srcCounts + topSrc]! } : undefined,
        sample,
        window_seconds: this.config.windowSeconds,
      },
    });
  }
}
