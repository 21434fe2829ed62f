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
import { z } from 'zod';
import type { FlowRecord } from '../flow/record.js';
import type { Detector, DetectorContext, DetectorModule } from './types.js';
import { FAILED, classifyAttempt, isGroupDestination, keyLabel, keyPort, keyTransport, portKeyOf, T_ECHO } from './attempts.js';

export const floodSchema = z.strictObject({
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
export type FloodConfig = z.infer<typeof floodSchema>;

const BITMAP_BITS = 8192;
const SMALL_SET = 64;
const TOP_SLOTS = 4;

/** 32-bit finaliser of MurmurHash3 (public domain): spreads address bits over the bitmap. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function addrHash(w: Uint32Array): number {
  return fmix32(w[0]! ^ fmix32(w[1]! ^ fmix32(w[2]! ^ fmix32(w[3]!))));
}

class TargetState {
  windowStartMicros = 0;
  lastMicros = 0;
  flows = 0;
  unanswered = 0;
  small = new Int32Array(SMALL_SET);
  smallCount = 0;
  bits: Uint32Array | null = null;
  zeroBits = BITMAP_BITS;
  /** First octets (IPv4) / first byte (IPv6) seen: how random the sources are. */
  readonly slash8 = new Uint32Array(8);
  slash8Count = 0;
  /** Misra-Gries heavy hitters: sources and IPv4 /16 prefixes. */
  readonly srcKeys: string[] = ['', '', '', ''];
  readonly srcCounts = new Int32Array(TOP_SLOTS);
  readonly netKeys = new Int32Array(TOP_SLOTS).fill(-1);
  readonly netCounts = new Int32Array(TOP_SLOTS);
  readonly sample: string[] = [];
  raised = false;

  constructor(readonly dstIp: string, readonly portKey: number, micros: number) {
    this.windowStartMicros = micros;
  }

  reset(micros: number): void {
    this.windowStartMicros = micros;
    this.flows = this.unanswered = this.smallCount = this.slash8Count = 0;
    if (this.bits) this.bits.fill(0);
    this.zeroBits = BITMAP_BITS;
    this.slash8.fill(0);
    this.srcKeys.fill('');
    this.srcCounts.fill(0);
    this.netKeys.fill(-1);
    this.netCounts.fill(0);
    this.sample.length = 0;
    this.raised = false;
  }

  distinctSources(): number {
    if (!this.bits) return this.smallCount;
    if (this.zeroBits === 0) return Math.round(BITMAP_BITS * Math.log(BITMAP_BITS)); // saturated: a lower bound
    return Math.round(-BITMAP_BITS * Math.log(this.zeroBits / BITMAP_BITS));
  }

  addSource(hash: number, firstByte: number, net16: number, ip: string): void {
    if (!this.bits) {
      for (let i = 0; i < this.smallCount; i++) if (this.small[i] === (hash | 0)) return this.countTop(ip, net16);
      if (this.smallCount < SMALL_SET) {
        this.small[this.smallCount++] = hash | 0;
      } else {
        this.bits = new Uint32Array(BITMAP_BITS / 32);
        for (let i = 0; i < this.smallCount; i++) this.setBit(this.small[i]! >>> 0);
        this.setBit(hash);
      }
    } else {
      this.setBit(hash);
    }
    if (!(this.slash8[firstByte >>> 5]! & (1 << (firstByte & 31)))) {
      this.slash8[firstByte >>> 5]! |= 1 << (firstByte & 31);
      this.slash8Count++;
    }
    if (this.sample.length < 10 && !this.sample.includes(ip)) this.sample.push(ip);
    this.countTop(ip, net16);
  }

  private setBit(hash: number): void {
    const bit = hash & (BITMAP_BITS - 1);
    const word = bit >>> 5;
    const mask = 1 << (bit & 31);
    if (!(this.bits![word]! & mask)) {
      this.bits![word]! |= mask;
      this.zeroBits--;
    }
  }

  private countTop(ip: string, net16: number): void {
    mgAdd(this.srcKeys, this.srcCounts, ip, '');
    if (net16 >= 0) mgAddNum(this.netKeys, this.netCounts, net16);
  }
}

function mgAdd(keys: string[], counts: Int32Array, key: string, empty: string): void {
  let free = -1;
  for (let i = 0; i < TOP_SLOTS; i++) {
    if (keys[i] === key) { counts[i]!++; return; }
    if (counts[i] === 0 && free < 0) free = i;
  }
  if (free >= 0) { keys[free] = key; counts[free] = 1; return; }
  for (let i = 0; i < TOP_SLOTS; i++) if (--counts[i]! === 0) keys[i] = empty;
}
function mgAddNum(keys: Int32Array, counts: Int32Array, key: number): void {
  let free = -1;
  for (let i = 0; i < TOP_SLOTS; i++) {
    if (keys[i] === key) { counts[i]!++; return; }
    if (counts[i] === 0 && free < 0) free = i;
  }
  if (free >= 0) { keys[free] = key; counts[free] = 1; return; }
  for (let i = 0; i < TOP_SLOTS; i++) if (--counts[i]! === 0) keys[i] = -1;
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
  private readonly targets;
  private readonly windowMicros: number;

  constructor(private readonly config: FloodConfig, private readonly ctx: DetectorContext) {
    this.targets = ctx.table<number | string, TargetState>('targets', config.maxTargets);
    this.windowMicros = config.windowSeconds * 1e6;
  }

  onFlowEnd(flow: FlowRecord): void {
    const portKey = portKeyOf(flow);
    if (portKey < 0 || isGroupDestination(flow)) return;
    const verdict = classifyAttempt(flow);
    if (verdict === 0) return;
    // IPv4 targets get a numeric key (address * 2^18 + port key < 2^53): no string per flow.
    const key: number | string = flow.ipVersion === 4 ? flow.dstAddr[3]! * 262144 + portKey : `${flow.dstIp}|${portKey}`;
    let t = this.targets.get(key);
    const failed = (verdict & FAILED) !== 0;
    const micros = flow.startMicros;
    if (!t) {
      if (!failed) return; // answered traffic alone never starts tracking a target
      t = new TargetState(flow.dstIp, portKey, micros);
      this.targets.set(key, t);
    } else if (micros >= t.windowStartMicros + this.windowMicros) {
      t.reset(micros);
    }
    if (micros > t.lastMicros) t.lastMicros = micros;
    t.flows++;
    if (failed) t.unanswered++;
    const v4 = flow.ipVersion === 4;
    const firstWord = v4 ? flow.srcAddr[3]! : flow.srcAddr[0]!;
    t.addSource(addrHash(flow.srcAddr), firstWord >>> 24, v4 ? firstWord >>> 16 : -1, flow.srcIp);
    if (t.raised || t.unanswered < this.config.minSources) return;
    const sources = t.distinctSources();
    if (sources >= this.config.minSources && t.unanswered >= this.config.minUnansweredShare * t.flows) this.raise(t, sources, micros);
  }

  private raise(t: TargetState, sources: number, micros: number): void {
    t.raised = true;
    let topNet = -1;
    let topSrc = -1;
    for (let i = 0; i < TOP_SLOTS; i++) {
      if (t.netCounts[i]! > 0 && (topNet < 0 || t.netCounts[i]! > t.netCounts[topNet]!)) topNet = i;
      if (t.srcCounts[i]! > 0 && (topSrc < 0 || t.srcCounts[i]! > t.srcCounts[topSrc]!)) topSrc = i;
    }
    // source.ip: the /16 the sources share when one holds most of them, else the most
    // frequent single address (spoofed: each address is rare; the evidence says so).
    const net = topNet >= 0 ? t.netKeys[topNet]! : -1;
    const netShare = topNet >= 0 ? t.netCounts[topNet]! / t.flows : 0;
    const netText = net >= 0 ? `${net >>> 8}.${net & 255}.0.0` : '';
    const sourceIp = netShare >= 0.5 ? netText : topSrc >= 0 ? t.srcKeys[topSrc]! : t.sample[0]!;
    const spread = t.slash8Count >= 64 ? 'random' : netShare >= 0.5 ? 'one /16' : 'several networks';
    const isEcho = t.portKey >>> 16 === T_ECHO;
    const share = Math.round((t.unanswered / t.flows) * 1000) / 1000;
    this.ctx.emit({
      ruleId: 'flood.spoofed-source',
      severity: 3,
      message: `${t.dstIp} ${isEcho ? '' : `port ${keyLabel(t.portKey)} `}flooded by ~${sources} distinct sources (${spread}, ${t.unanswered}/${t.flows} unanswered)`,
      timestampMicros: micros,
      startMicros: t.windowStartMicros,
      endMicros: Math.max(micros, t.lastMicros),
      sourceIp,
      destinationIp: t.dstIp,
      ...(isEcho ? {} : { destinationPort: keyPort(t.portKey) }),
      transport: keyTransport(t.portKey),
      suppressKey: `${t.dstIp}|${keyLabel(t.portKey)}`,
      evidence: {
        distinct_sources: sources,
        distinct_sources_method: t.bits ? 'linear counting, 8192 bits' : 'exact',
        flows: t.flows,
        unanswered: t.unanswered,
        unanswered_share: share,
        slash8_networks: t.slash8Count,
        spread,
        top_slash16: net >= 0 ? { net: `${netText}/16`, flows_at_least: t.netCounts[topNet]! } : undefined,
        top_source: topSrc >= 0 ? { ip: t.srcKeys[topSrc]!, flows_at_least: t.srcCounts[topSrc]! } : undefined,
        sample: [...t.sample],
        window_seconds: this.config.windowSeconds,
      },
    });
  }
}
