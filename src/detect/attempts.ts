/**
 * What the scan and P2P detectors share: the verdict on one finished flow ("failed or
 * unanswered attempt", "answered", "not an attempt") and a per-source sliding window of
 * the distinct (host, port) pairs a source failed on. Each detector keeps its own full
 * windows; the compact stage before them is shared when the two configs agree
 * (shared-attempts.ts).
 */
import { TCP_ACK, TCP_RST, TCP_SYN } from '../decode/packet.js';
import type { FlowRecord, HostKey } from '../flow/record.js';
import { Slab } from '../util/slab.js';
import { FIRST_UNPRIVILEGED_PORT } from './ports.js';

// Verdict bits of classifyAttempt(): a number, so the per-flow path allocates nothing.
export const FAILED = 1;
export const ANSWERED = 2;
/** The attempt was refused by a TCP RST (REJ, or an ACK/FIN/NULL probe answered by RST). */
export const RST_RECEIVED = 4;
/** An ICMP destination-unreachable came back for it. */
export const ICMP_UNREACH = 8;
/** The responder accepted (SYN/ACK seen, or inferred from the originator's RST: SH). */
export const OPEN = 16;


/** Transport index in a port key: key = index * 65536 + port. */
export const T_TCP = 0;
export const T_UDP = 1;
/** ICMP echo sweeps: one pseudo port, "icmp echo". */
export const T_ECHO = 2;
const TRANSPORT_NAMES = ['tcp', 'udp', 'icmp'] as const;

export function keyTransport(key: number): string {
  return TRANSPORT_NAMES[key >>> 16] ?? 'ip';
}
export function keyPort(key: number): number {
  return key & 0xffff;
}
/** "tcp/445", "udp/53", "icmp echo". */
export function keyLabel(key: number): string {
  return key >>> 16 === T_ECHO ? 'icmp echo' : `${keyTransport(key)}/${keyPort(key)}`;
}

/**
 * Port key of a flow (transport + responder port), or -1 for flows that are not probes of
 * a port (ICMP other than echo request, other IP protocols).
 */
export function portKeyOf(flow: FlowRecord): number {
  switch (flow.proto) {
    case 6: return T_TCP * 65536 + flow.dstPort;
    case 17: return T_UDP * 65536 + flow.dstPort;
    case 1: return flow.icmpType === 8 ? T_ECHO * 65536 : -1;
    case 58: return flow.icmpType === 128 ? T_ECHO * 65536 : -1;
    default: return -1;
  }
}

/** Multicast or limited broadcast: no unicast reply is expected, so never a "failure". */
export function isGroupDestination(flow: FlowRecord): boolean {
  if (flow.ipVersion === 4) {
    const a = flow.dstAddr[3]!;
    return a >>> 28 === 14 || a === 0xffffffff;
  }
  return flow.dstAddr[0]! >>> 24 === 0xff;
}

/**
 * A TCP/UDP flow from a listed service source port to an unprivileged port: the reply
 * direction of something (backscatter, a split connection), never counted as a probe.
 */
export function isReplyDirection(flow: FlowRecord, replySrcPorts: Uint8Array): boolean {
  return (flow.proto === 6 || flow.proto === 17) && replySrcPorts[flow.srcPort] === 1 && flow.dstPort >= FIRST_UNPRIVILEGED_PORT;
}

/**
 * The verdict on one flow, as bits (FAILED | ANSWERED plus detail bits), 0 when the flow
 * is not an attempt by its src (orphan ICMP errors, flows seen from the responder's side,
 * non-echo ICMP, other protocols). Definitions (docs/detectors.md, "failed attempt"):
 * TCP S0, REJ, OTH without payload that got no reply or only a bare RST; UDP and ICMP
 * echo without a reply other than ICMP errors; anything answered by ICMP unreachable.
 */
export function classifyAttempt(flow: FlowRecord): number {
  if (flow.icmpQuotedProto >= 0) return 0; // an orphan ICMP error: its src answered, it did not probe
  // Replies that are real answers, not ICMP errors attributed to the flow (SPEC §3).
  const replies = flow.pktsToClient - flow.icmpErrors;
  const unreach =
    flow.icmpErrors > 0 && flow.icmpErrorType === (flow.ipVersion === 6 ? 1 : 3) ? ICMP_UNREACH : 0;
  let verdict = 0;
  switch (flow.proto) {
    case 6: {
      const toClient = flow.tcpFlagsToClient;
      switch (flow.state) {
        case 'S0': verdict = FAILED; break;
        case 'REJ': verdict = FAILED | RST_RECEIVED; break;
        case 'S1': case 'SF': case 'RSTO': case 'RSTR': verdict = ANSWERED | OPEN; break;
        // Originator's SYN then its own FIN/RST: its stack saw a SYN/ACK we did not capture
        // (how a SYN scanner closes a port it found open).
        case 'SH': verdict = ANSWERED | OPEN; break;
        case 'SHR': return 0; // we never saw src's SYN: not an attempt we can judge
        case 'OTH':
          // The responder sent a SYN: the flow is seen from its side (first packet a
          // SYN/ACK, initiator inferred); not a probe by src.
          if (toClient & TCP_SYN) return 0;
          // A probe carries no data; a one-sided data stream is an asymmetric capture.
          if (flow.payloadToServer > 0) return replies > 0 ? ANSWERED : 0;
          if (replies <= 0) verdict = FAILED;
          else if ((toClient & ~(TCP_RST | TCP_ACK)) === 0 && (toClient & TCP_RST) && flow.payloadToClient === 0)
            verdict = FAILED | RST_RECEIVED;
          else verdict = ANSWERED;
          break;
      }
      break;
    }
    case 17:
      verdict = replies > 0 ? ANSWERED : FAILED;
      break;
    case 1: case 58:
      if (flow.icmpType !== (flow.proto === 1 ? 8 : 128)) return 0;
      verdict = replies > 0 ? ANSWERED : FAILED;
      break;
    default:
      return 0;
  }
  if (unreach && !(verdict & ANSWERED)) verdict |= FAILED | ICMP_UNREACH;
  return verdict;
}

/** A scan alert raised for a source: which one, and the size it reported. */
export interface RaisedScan {
  kind: 'port' | 'address' | 'random';
  host: HostKey;
  portKey: number;
  reported: number;
}

/** One distinct (host, port) pair a source failed on, with its probe count. */
export interface FailedPair {
  host: HostKey;
  portKey: number;
  lastMicros: number;
  probes: number;
}

/** Misra-Gries heavy-hitter slots for the source port (k = 4: fixed arrays, no allocation). */
const SRC_PORT_SLOTS = 4;

/**
 * Misra-Gries over the SRC_PORT_SLOTS slots at `keys[ko ..]`/`counts[co ..]`: the most
 * reused source port survives in one of them (a SourceWindow's own arrays, or a compact
 * slot's record).
 */
function countSrcPort(keys: Int32Array, ko: number, counts: Int32Array, co: number, port: number): void {
  let free = -1;
  for (let i = 0; i < SRC_PORT_SLOTS; i++) {
    if (keys[ko + i] === port) { counts[co + i]!++; return; }
    if (counts[co + i] === 0 && free < 0) free = i;
  }
  if (free >= 0) { keys[ko + free] = port; counts[co + free] = 1; return; }
  for (let i = 0; i < SRC_PORT_SLOTS; i++) if (--counts[co + i]! === 0) keys[ko + i] = -1;
}

/**
 * The sliding window of one source's failed attempts: distinct (host, port) pairs in the
 * last windowSeconds (by packet time), the distinct ports per host and hosts per port
 * derived from them, and evidence counters since the window last emptied.
 */
export class SourceWindow {
  /** Insertion order = last-seen order (a repeat is moved to the end), so expiry pops from the head. */
  readonly pairs = new Map<number | string, FailedPair>();
  readonly portsPerHost = new Map<HostKey, number>();
  readonly hostsPerPort = new Map<number, number>();
  readonly probesPerPort = new Map<number, number>();
  /** Pairs whose port is >= 1024 (P2P peers listen there; scanners aim at services). */
  highPortPairs = 0;
  /** Pairs dropped because the per-source cap was reached (the counts are then lower bounds). */
  pairsCapped = 0;
  firstMicros = 0;
  lastMicros = 0;
  failed = 0;
  answered = 0;
  rstReceived = 0;
  icmpUnreachReceived = 0;
  readonly openPorts: number[] = [];
  readonly srcPortKeys = new Int32Array(SRC_PORT_SLOTS).fill(-1);
  readonly srcPortCounts = new Int32Array(SRC_PORT_SLOTS);
  /**
   * Alerts raised in this window, by "kind:key" -> the size reported (ports, hosts), so the
   * detector can report the final extent once the activity ends. Cleared with the window.
   */
  readonly raised = new Map<string, RaisedScan>();

  constructor(readonly sourceIp: string, readonly local: boolean, micros: number) {
    this.firstMicros = micros;
    this.lastMicros = micros;
  }

  /** Drop pairs last seen before `nowMicros - windowMicros`; reset counters if none remain. */
  expire(nowMicros: number, windowMicros: number): void {
    const cutoff = nowMicros - windowMicros;
    for (const pair of this.pairs.values()) {
      if (pair.lastMicros >= cutoff) break;
      this.removePair(pair);
    }
    if (this.pairs.size === 0 && this.lastMicros < cutoff) this.reset(nowMicros);
  }

  private reset(micros: number): void {
    this.firstMicros = micros;
    this.failed = this.answered = this.rstReceived = this.icmpUnreachReceived = 0;
    this.pairsCapped = 0;
    this.openPorts.length = 0;
    this.srcPortKeys.fill(-1);
    this.srcPortCounts.fill(0);
    this.raised.clear();
  }

  private removePair(pair: FailedPair): void {
    this.pairs.delete(pairKey(pair.host, pair.portKey));
    decrement(this.portsPerHost, pair.host, 1);
    decrement(this.hostsPerPort, pair.portKey, 1);
    decrement(this.probesPerPort, pair.portKey, pair.probes);
    if (keyPort(pair.portKey) >= FIRST_UNPRIVILEGED_PORT && pair.portKey >>> 16 !== T_ECHO) this.highPortPairs--;
  }

  /**
   * Count one failed attempt. Returns the pair when it is new in the window (the caller
   * then checks thresholds), otherwise undefined.
   */
  addFailure(host: HostKey, portKey: number, srcPort: number, verdict: number, micros: number, maxPairs: number): FailedPair | undefined {
    this.touch(micros);
    this.failed++;
    if (verdict & RST_RECEIVED) this.rstReceived++;
    if (verdict & ICMP_UNREACH) this.icmpUnreachReceived++;
    if (portKey >>> 16 !== T_ECHO) countSrcPort(this.srcPortKeys, 0, this.srcPortCounts, 0, srcPort);
    increment(this.probesPerPort, portKey, 1);
    const key = pairKey(host, portKey);
    const old = this.pairs.get(key);
    if (old) {
      old.probes++;
      if (micros > old.lastMicros) {
        old.lastMicros = micros;
        this.pairs.delete(key); // move to the end: keeps the head the oldest
        this.pairs.set(key, old);
      }
      return undefined;
    }
    if (this.pairs.size >= maxPairs) {
      const oldest = this.pairs.values().next().value as FailedPair;
      this.removePair(oldest);
      this.pairsCapped++;
    }
    const pair: FailedPair = { host, portKey, lastMicros: micros, probes: 1 };
    this.pairs.set(key, pair);
    increment(this.portsPerHost, host, 1);
    increment(this.hostsPerPort, portKey, 1);
    if (keyPort(portKey) >= FIRST_UNPRIVILEGED_PORT && portKey >>> 16 !== T_ECHO) this.highPortPairs++;
    return pair;
  }

  /** Insert a pair as the compact stage held it (CompactAttempts.upgrade), oldest first. */
  restorePair(host: HostKey, portKey: number, probes: number, lastMicros: number): void {
    this.pairs.set(pairKey(host, portKey), { host, portKey, lastMicros, probes });
    increment(this.portsPerHost, host, 1);
    increment(this.hostsPerPort, portKey, 1);
    increment(this.probesPerPort, portKey, probes);
    if (keyPort(portKey) >= FIRST_UNPRIVILEGED_PORT && portKey >>> 16 !== T_ECHO) this.highPortPairs++;
  }

  addAnswered(portKey: number, verdict: number, micros: number): void {
    this.touch(micros);
    this.answered++;
    if (verdict & OPEN && this.openPorts.length < 32) {
      const port = keyPort(portKey);
      if (!this.openPorts.includes(port)) this.openPorts.push(port);
    }
  }

  private touch(micros: number): void {
    if (micros > this.lastMicros) this.lastMicros = micros;
    if (micros < this.firstMicros) this.firstMicros = micros;
  }


  /** The most reused source port and its (lower-bound) count of attempts. */
  topSrcPort(): { port: number; count: number } | undefined {
    let best = -1;
    for (let i = 0; i < SRC_PORT_SLOTS; i++) if (this.srcPortCounts[i]! > 0 && (best < 0 || this.srcPortCounts[i]! > this.srcPortCounts[best]!)) best = i;
    return best < 0 ? undefined : { port: this.srcPortKeys[best]!, count: this.srcPortCounts[best]! };
  }

  /**
   * "Peer-like": each failed port was tried on about one host and each host on about one
   * port (the ports are the peers' own listening ports), and they are mostly unprivileged.
   * A scanner reuses its ports across hosts (address scan) or its hosts across ports
   * (port scan). See docs/detectors.md, p2p.activity.
   */
  peerLike(maxPairsPerPort: number, maxPairsPerHost: number, minHighPortShare: number): boolean {
    const n = this.pairs.size;
    if (n === 0) return false;
    return (
      n <= maxPairsPerPort * this.hostsPerPort.size &&
      n <= maxPairsPerHost * this.portsPerHost.size &&
      this.highPortPairs >= minHighPortShare * n
    );
  }
}

/**
 * An IPv4 pair is one exact number (32-bit host x 2^18 + port key < 2^53): no string is
 * built per attempt; an IPv6 pair keeps the text key.
 */
export function pairKey(host: HostKey, portKey: number): number | string {
  return typeof host === 'number' ? (host >>> 0) * 262_144 + portKey : `${host}|${portKey}`;
}

function increment<K>(map: Map<K, number>, key: K, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
function decrement<K>(map: Map<K, number>, key: K, by: number): void {
  const v = (map.get(key) ?? 0) - by;
  if (v <= 0) map.delete(key);
  else map.set(key, v);
}

/** The top `n` port keys by probe count: [portKey, probes] pairs. Alert time only. */
export function topPorts(probesPerPort: Map<number, number>, n: number): [number, number][] {
  return [...probesPerPort.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, n);
}

/** compactAdd() results besides the index of a new pair. */
export const COMPACT_REPEAT = -1;
/** The pair is new and the compact stage cannot take it: upgrade to a SourceWindow first. */
export const COMPACT_UPGRADE = -2;
/** Pairs a source may hold before it needs a full SourceWindow (with default thresholds). */
export const COMPACT_MAX_PAIRS = 24;
/** Open ports kept (SourceWindow keeps 32; the compact stage the same). */
const OPEN_PORTS = 32;

/** Records per chunk of CompactAttempts. */
const CHUNK_SHIFT = 8;
const CHUNK_SLOTS = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_SLOTS - 1;
// A CompactAttempts record, in int32 words (float64 fields at even words; records have an
// even length, so every record starts on a float64 boundary):
const W_FIRST = 0; // float64
const W_LAST = 2; // float64
const W_COUNT = 4; // pairs held
const W_FAILED = 5;
const W_ANSWERED = 6;
const W_RST = 7;
const W_UNREACH = 8;
const W_OPEN_COUNT = 9;
const W_SRC_KEYS = 10; // SRC_PORT_SLOTS words
const W_SRC_COUNTS = 14; // SRC_PORT_SLOTS words
const W_OPEN = 18; // OPEN_PORTS uint16 = 16 words
const W_PAIRS = 34; // pairsPerSlot pairs of PAIR_WORDS
// A pair, 16 bytes: host (int32 IPv4 key; 0 when the host is IPv6 text, kept beside the
// records), a key word (port key in bits 0-17, the text flag in bit 18, probes in bits
// 19-31), last seen (float64). Pairs were 24 bytes (text flag and probes a word each):
// 712-byte records at 24 pairs, now 520. The churn bench has 65,536 sources in each of
// scan and p2p: a replay's page faults (each page touched for the first time, ~10 us on
// this VM) 85-89k -> 79k, and a pair scan reads a third fewer cache lines; whole replay,
// 6 alternating rounds, median 3.68 -> 3.59 s (faster in 5).
const PAIR_WORDS = 4;
const P_HOST = 0;
const P_KEY = 1;
const P_LAST = 2;
/** Port keys are below 2^18 (transport index < 4 times 65,536 plus the port). */
const KEY_PORT_MASK = 0x3_ffff;
const KEY_TEXT = 1 << 18;
const KEY_PROBES_SHIFT = 19;
/** Probes a compact pair can count (13 bits); one more needs the full window (add). */
const MAX_COMPACT_PROBES = (1 << 13) - 1;

/**
 * The compact stage of a source's failed attempts, one fixed-size record per slot (the
 * slot number is the value of the source's entry in the table of shared-attempts.ts),
 * kept until the source needs a full SourceWindow: a count would reach an alert
 * threshold (the detector checks sameHost/samePort after each new pair), or more than
 * `pairsPerSlot` distinct pairs. Most sources fail a few times and never get there:
 * on the churn bench 65,536 sources fail ~12 times each, and a SourceWindow (five Maps, an
 * object per pair, string keys) per source cost ~3.6 us per flow in the scan detector and
 * 4.6 us in p2p, most of it allocation and GC; this stage allocates nothing per flow.
 * A spoofed flood's one-attempt sources cost one slot each (520 B at 24 pairs).
 *
 * A slot's counters and pairs sit together in one record of int32 words (layout below),
 * so a flow touches a few neighbouring cache lines. They were a dozen parallel arrays
 * indexed by slot, one cache miss each once 65,536 sources outgrow the cache: on the
 * churn bench's 1,000,099 records through the flow-end stage (one thread, two runs each),
 * scan 1108-1134 -> 770-825 and p2p 898-1062 -> 713-742 ns per flow. Records come in
 * chunks of CHUNK_SLOTS, allocated as sources arrive and never copied.
 *
 * Same semantics as SourceWindow (upgrade() hands over an identical window): pairs are
 * kept in last-seen order, a repeat moves its pair to the end, expiry drops old pairs from
 * the front and resets the counters once the window is empty.
 */
export class CompactAttempts {
  /** Int32 words per record. */
  private readonly words: number;
  private top = 0;
  private readonly freeSlots: number[] = [];
  // Per chunk: the records as int32, float64 and uint16 views of one buffer.
  private readonly i32: Int32Array[] = [];
  private readonly f64: Float64Array[] = [];
  private readonly u16: Uint16Array[] = [];
  /** Where the chunks come from (util/slab.ts: huge pages). */
  private readonly slab = new Slab();
  /** IPv6 hosts (text) by chunk, CHUNK_SLOTS x pairsPerSlot; made at a chunk's first one. */
  private readonly text: (string | undefined)[][] = [];

  constructor(readonly pairsPerSlot: number) {
    if (!(pairsPerSlot >= 1)) throw new Error(`CompactAttempts: pairsPerSlot must be >= 1, got ${pairsPerSlot}`);
    this.words = W_PAIRS + PAIR_WORDS * pairsPerSlot;
  }

  /**
   * A slot for a new source, counters at zero. The source's text is not kept: upgrade()
   * is given it by the flow that upgrades (the same source), so a source seen once, as
   * each of a spoofed flood's are, never has its address made into text.
   */
  alloc(micros: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.top++;
      if (slot >> CHUNK_SHIFT === this.i32.length) {
        const words = CHUNK_SLOTS * this.words;
        const { buffer, byteOffset } = this.slab.take(words * 4);
        this.i32.push(new Int32Array(buffer, byteOffset, words));
        this.f64.push(new Float64Array(buffer, byteOffset, words / 2));
        this.u16.push(new Uint16Array(buffer, byteOffset, words * 2));
      }
    }
    this.start(slot, micros);
    return slot;
  }

  free(slot: number): void {
    this.clearText(slot);
    this.i32[slot >> CHUNK_SHIFT]![this.recordOf(slot) + W_COUNT] = 0;
    this.freeSlots.push(slot);
  }

  /** A slot in use made as alloc() makes a new one: no pairs, counters at zero. */
  empty(slot: number, micros: number): void {
    this.clearText(slot);
    this.start(slot, micros);
  }

  private start(slot: number, micros: number): void {
    const r = this.recordOf(slot);
    this.i32[slot >> CHUNK_SHIFT]![r + W_COUNT] = 0;
    this.reset(slot, micros);
    this.f64[slot >> CHUNK_SHIFT]![(r + W_LAST) >> 1] = micros;
  }

  private clearText(slot: number): void {
    const text = this.text[slot >> CHUNK_SHIFT];
    if (text !== undefined) text.fill(undefined, this.textOf(slot), this.textOf(slot) + this.pairsPerSlot);
  }

  /** Slots in use (tests). */
  get size(): number {
    return this.top - this.freeSlots.length;
  }

  pairs(slot: number): number {
    return this.i32[slot >> CHUNK_SHIFT]![this.recordOf(slot) + W_COUNT]!;
  }

  /** SourceWindow.expire for a slot. */
  expire(slot: number, nowMicros: number, windowMicros: number): void {
    const cutoff = nowMicros - windowMicros;
    const rec = this.i32[slot >> CHUNK_SHIFT]!;
    const recF = this.f64[slot >> CHUNK_SHIFT]!;
    const r = this.recordOf(slot);
    const n = rec[r + W_COUNT]!;
    let drop = 0;
    while (drop < n && recF[(r + W_PAIRS + drop * PAIR_WORDS + P_LAST) >> 1]! < cutoff) drop++;
    if (drop > 0) this.removeFront(slot, drop);
    if (rec[r + W_COUNT] === 0 && recF[(r + W_LAST) >> 1]! < cutoff) this.reset(slot, nowMicros);
  }

  /** SourceWindow.addAnswered for a slot. */
  addAnswered(slot: number, portKey: number, verdict: number, micros: number): void {
    const rec = this.i32[slot >> CHUNK_SHIFT]!;
    const r = this.recordOf(slot);
    this.touch(slot, micros);
    rec[r + W_ANSWERED]!++;
    const n = rec[r + W_OPEN_COUNT]!;
    if (verdict & OPEN && n < OPEN_PORTS) {
      const port = keyPort(portKey);
      const open = this.u16[slot >> CHUNK_SHIFT]!;
      const o = (r + W_OPEN) * 2;
      for (let i = 0; i < n; i++) if (open[o + i] === port) return;
      open[o + n] = port;
      rec[r + W_OPEN_COUNT] = n + 1;
    }
  }

  /**
   * For the last add() that counted a new pair: how many other pairs of the window were on
   * its host, and on its port, before it. A detector with thresholds (scan) compares them
   * with its own, the same for every detector sharing the slot (shared-attempts.ts).
   */
  sameHost = 0;
  samePort = 0;

  /**
   * SourceWindow.addFailure for a slot, unless the pair is new and the slot is full, or
   * its probe count is at the compact limit: then nothing is counted and COMPACT_UPGRADE is
   * returned. Otherwise COMPACT_REPEAT or the new pair's index (and sameHost/samePort).
   */
  add(slot: number, host: HostKey, portKey: number, srcPort: number, verdict: number, micros: number): number {
    const c = slot >> CHUNK_SHIFT;
    const rec = this.i32[c]!;
    const r = this.recordOf(slot);
    const n = rec[r + W_COUNT]!;
    const isText = typeof host !== 'number';
    const text = this.text[c];
    const t0 = this.textOf(slot);
    let found = -1;
    let sameHost = 0;
    let samePort = 0;
    for (let i = 0, p = r + W_PAIRS; i < n; i++, p += PAIR_WORDS) {
      const key = rec[p + P_KEY]!;
      const h = isText ? (key & KEY_TEXT) !== 0 && text![t0 + i] === host : (key & KEY_TEXT) === 0 && rec[p + P_HOST] === host;
      const q = (key & KEY_PORT_MASK) === portKey;
      if (h && q) { found = i; break; }
      if (h) sameHost++;
      if (q) samePort++;
    }
    if (found < 0 && n === this.pairsPerSlot) return COMPACT_UPGRADE;
    if (found >= 0 && rec[r + W_PAIRS + found * PAIR_WORDS + P_KEY]! >>> KEY_PROBES_SHIFT === MAX_COMPACT_PROBES) {
      return COMPACT_UPGRADE;
    }
    this.touch(slot, micros);
    rec[r + W_FAILED]!++;
    if (verdict & RST_RECEIVED) rec[r + W_RST]!++;
    if (verdict & ICMP_UNREACH) rec[r + W_UNREACH]!++;
    if (portKey >>> 16 !== T_ECHO) countSrcPort(rec, r + W_SRC_KEYS, rec, r + W_SRC_COUNTS, srcPort);
    const recF = this.f64[c]!;
    if (found >= 0) {
      const p = r + W_PAIRS + found * PAIR_WORDS;
      rec[p + P_KEY] = rec[p + P_KEY]! + (1 << KEY_PROBES_SHIFT);
      if (micros > recF[(p + P_LAST) >> 1]!) {
        // Move to the end: keeps the front the oldest (as SourceWindow's Map order).
        const probes = rec[p + P_KEY]! >>> KEY_PROBES_SHIFT;
        const end = r + W_PAIRS + n * PAIR_WORDS;
        rec.copyWithin(p, p + PAIR_WORDS, end);
        if (text !== undefined) text.copyWithin(t0 + found, t0 + found + 1, t0 + n);
        this.putPair(slot, n - 1, host, portKey, probes, micros);
      }
      return COMPACT_REPEAT;
    }
    this.putPair(slot, n, host, portKey, 1, micros);
    rec[r + W_COUNT] = n + 1;
    this.sameHost = sameHost;
    this.samePort = samePort;
    return n;
  }

  /** The full window of `sourceIp` with everything its slot holds; the slot stays allocated (free it). */
  upgrade(slot: number, sourceIp: string, local: boolean): SourceWindow {
    const c = slot >> CHUNK_SHIFT;
    const rec = this.i32[c]!;
    const recF = this.f64[c]!;
    const r = this.recordOf(slot);
    const text = this.text[c];
    const t0 = this.textOf(slot);
    const w = new SourceWindow(sourceIp, local, recF[(r + W_FIRST) >> 1]!);
    for (let i = 0, p = r + W_PAIRS; i < rec[r + W_COUNT]!; i++, p += PAIR_WORDS) {
      const key = rec[p + P_KEY]!;
      const host = key & KEY_TEXT ? text![t0 + i]! : rec[p + P_HOST]!;
      w.restorePair(host, key & KEY_PORT_MASK, key >>> KEY_PROBES_SHIFT, recF[(p + P_LAST) >> 1]!);
    }
    w.firstMicros = recF[(r + W_FIRST) >> 1]!;
    w.lastMicros = recF[(r + W_LAST) >> 1]!;
    w.failed = rec[r + W_FAILED]!;
    w.answered = rec[r + W_ANSWERED]!;
    w.rstReceived = rec[r + W_RST]!;
    w.icmpUnreachReceived = rec[r + W_UNREACH]!;
    const open = this.u16[c]!;
    for (let i = 0; i < rec[r + W_OPEN_COUNT]!; i++) w.openPorts.push(open[(r + W_OPEN) * 2 + i]!);
    w.srcPortKeys.set(rec.subarray(r + W_SRC_KEYS, r + W_SRC_KEYS + SRC_PORT_SLOTS));
    w.srcPortCounts.set(rec.subarray(r + W_SRC_COUNTS, r + W_SRC_COUNTS + SRC_PORT_SLOTS));
    return w;
  }

  /** Word offset of a slot's record in its chunk. */
  private recordOf(slot: number): number {
    return (slot & CHUNK_MASK) * this.words;
  }

  /** Index of a slot's first pair in its chunk's text array. */
  private textOf(slot: number): number {
    return (slot & CHUNK_MASK) * this.pairsPerSlot;
  }

  private putPair(slot: number, i: number, host: HostKey, portKey: number, probes: number, micros: number): void {
    const c = slot >> CHUNK_SHIFT;
    const rec = this.i32[c]!;
    const p = this.recordOf(slot) + W_PAIRS + i * PAIR_WORDS;
    if (typeof host === 'number') {
      rec[p + P_HOST] = host;
      rec[p + P_KEY] = portKey | (probes << KEY_PROBES_SHIFT);
      const text = this.text[c];
      if (text !== undefined) text[this.textOf(slot) + i] = undefined;
    } else {
      rec[p + P_HOST] = 0;
      rec[p + P_KEY] = portKey | KEY_TEXT | (probes << KEY_PROBES_SHIFT);
      (this.text[c] ??= new Array<string | undefined>(CHUNK_SLOTS * this.pairsPerSlot).fill(undefined))[this.textOf(slot) + i] = host;
    }
    this.f64[c]![(p + P_LAST) >> 1] = micros;
  }

  private reset(slot: number, micros: number): void {
    const rec = this.i32[slot >> CHUNK_SHIFT]!;
    const r = this.recordOf(slot);
    this.f64[slot >> CHUNK_SHIFT]![(r + W_FIRST) >> 1] = micros;
    rec[r + W_FAILED] = rec[r + W_ANSWERED] = rec[r + W_RST] = rec[r + W_UNREACH] = 0;
    rec[r + W_OPEN_COUNT] = 0;
    rec.fill(-1, r + W_SRC_KEYS, r + W_SRC_KEYS + SRC_PORT_SLOTS);
    rec.fill(0, r + W_SRC_COUNTS, r + W_SRC_COUNTS + SRC_PORT_SLOTS);
  }

  private touch(slot: number, micros: number): void {
    const recF = this.f64[slot >> CHUNK_SHIFT]!;
    const r = this.recordOf(slot);
    if (micros > recF[(r + W_LAST) >> 1]!) recF[(r + W_LAST) >> 1] = micros;
    if (micros < recF[(r + W_FIRST) >> 1]!) recF[(r + W_FIRST) >> 1] = micros;
  }

  private removeFront(slot: number, k: number): void {
    const c = slot >> CHUNK_SHIFT;
    const rec = this.i32[c]!;
    const r = this.recordOf(slot);
    const n = rec[r + W_COUNT]!;
    const first = r + W_PAIRS;
    rec.copyWithin(first, first + k * PAIR_WORDS, first + n * PAIR_WORDS);
    const text = this.text[c];
    if (text !== undefined) {
      const t0 = this.textOf(slot);
      text.copyWithin(t0, t0 + k, t0 + n);
      text.fill(undefined, t0 + n - k, t0 + n);
    }
    rec[r + W_COUNT] = n - k;
  }
}
