/**
 * The flow table (SPEC §3): bidirectional flows keyed by both addresses, both ports, the
 * IP protocol and (optionally) the VLAN ids, expired on packet time.
 *
 * Layout, chosen for the per-packet path (STYLE.md figures, measured with throw-away
 * prototypes on this machine): string keys ran 2-3x slower than a numeric hash key with a
 * collision check, and one object per flow cost ~255 B of heap against ~170 B for a slot
 * index into typed arrays. So:
 * - a 30-bit hash of the canonical 5-tuple finds the flow's slot in an open-addressing
 *   index (util/probe-index.ts: linear probing over an Int32Array of (slot, hash) pairs,
 *   backward-shift deletion, load <= 1/2; the probe loop with the tuple compare is
 *   `lookup` here).
 *   This is the per-packet path, so it is hand-written: it was an lru-cache (peek per
 *   packet, set and delete per flow), and lru-cache's per-call overhead (options
 *   destructuring, diagnostics-channel checks, stale checks) was ~1.0 s
 *   of a 2.2 s churn replay without detectors (4M peeks + 1M sets + 1M deletes, ~125-250
 *   ns each) and ~0.25 s of the mix replay; the probe loop is ~20 ns. The LRU order is the
 *   expiry lists below, which keep every flow in last-packet order: the capacity victim
 *   is the oldest of their heads. lru-cache keeps the fragment table, which is not per
 *   packet (the detector tables have their own, detect/lru-table.ts);
 * - a flow is one 128-byte record in a buffer indexed by slot, read through typed-array
 *   views (layout below), reserved for `maxFlows` at start, so a flow costs no JS
 *   object at all. It was one typed array per field (struct of arrays): a packet then
 *   touched some twenty arrays and a flow's end read thirty, each a cache miss once the
 *   table outgrows the cache. Decode plus flow table over the churn bench's 2M packets in
 *   memory (440k flows live at the end): 965-1075 -> 834-930 ms, and emitting the 440k
 *   live flows 177-193 -> 130-142 ms; the mix bench (~10k live flows) is unchanged
 *   (574-690 ms either way). 148.6 bytes per live flow at 1M flows (147.6 before; 157.0
 *   since the index keeps each hash beside its slot, util/probe-index.ts);
 * - two live flows with one hash are told apart by the tuple compare in the probe loop;
 * - expiry is not a timer per flow: each timeout class (embryonic TCP, established TCP,
 *   UDP, ICMP, other, closed) keeps an intrusive list ordered by last packet time, so the
 *   sweep only looks at list heads (undici's coarse timer idea; YAF keeps per-timeout
 *   queues the same way).
 */
import { LRUCache } from 'lru-cache';
import {
  DecodedPacket,
  FRAG_FIRST,
  FRAG_LATER,
  PROTO_ICMP,
  PROTO_ICMP6,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from '../decode/packet.js';
import { R_FRAGMENT_WITHOUT_FIRST, R_OK } from '../decode/reasons.js';
import { formatAddr } from '../util/ip.js';
import { EMPTY, ProbeIndex } from '../util/probe-index.js';
import { FlowRecord, NO_VLANS, type EndReason, type FlowSubscriber } from './record.js';
import {
  connState,
  H_FIN_ORIG,
  H_FIN_RESP,
  H_FIRST_RST_ORIG,
  H_RESP_NON_RST,
  H_RESP_SPOKE,
  H_RST_ORIG,
  H_RST_RESP,
  H_SYN_ORIG,
  H_SYNACK_RESP,
} from './state.js';

export interface FlowTableOptions {
  /** Hard maximum of concurrent flows; the least recently used is emitted beyond it. */
  maxFlows: number;
  /** Keep flows on different VLANs apart (SPEC §3: configurable). */
  vlanInKey: boolean;
  tcpIdleSeconds: number;
  /** TCP flows that never completed a handshake (S0 and friends). */
  tcpEmbryonicSeconds: number;
  udpIdleSeconds: number;
  icmpIdleSeconds: number;
  otherIdleSeconds: number;
  /** Grace after FIN both ways or RST, so the final ACK still counts. */
  closedGraceSeconds: number;
  /** Long flows are cut into records of at most this length (IPAudit periods, YAF). */
  activeSeconds: number;
}

/** SPEC §3 defaults. */
export const DEFAULT_FLOW_OPTIONS: FlowTableOptions = {
  maxFlows: 1_000_000,
  vlanInKey: true,
  tcpIdleSeconds: 300,
  tcpEmbryonicSeconds: 30,
  udpIdleSeconds: 60,
  icmpIdleSeconds: 60,
  otherIdleSeconds: 60,
  closedGraceSeconds: 5,
  activeSeconds: 1800,
};

// Timeout classes, one expiry list each.
const C_TCP_EMBRYONIC = 0;
const C_TCP_ESTABLISHED = 1;
const C_UDP = 2;
const C_ICMP = 3;
const C_OTHER = 4;
const C_CLOSED = 5;
const CLASS_COUNT = 6;

// Per-slot flag bits (Uint8Array `bits`).
const B_CLOSED_BY_RST = 1;
const B_FIRST_TALKER_DST = 2;
const B_LAST_TALKER_DST = 4;
const B_HAS_SIDE = 8; // an entry in `side` (ICMP error details)
const B_SHARED_HASH = 16; // another live flow had this hash first (counters.hashCollisions)
/** The VLAN tags of the flow's first packet (0, 1, or 2 for two or more), in bits 5-6. */
const B_VLAN_SHIFT = 5;
const B_VLAN_MASK = 3 << B_VLAN_SHIFT;

// A flow's record: REC_BYTES per slot in one buffer, read through typed-array views
// (index = slot * R<bits> + field). Fields by view, at their byte offsets:
//   f64 0-47: start, last packet, bytes and payload each way
//   u32 48-95: serial, initiator and responder address (4 words each), packets each way,
//       ICMP errors
//   i32 96-107: tuple hash, expiry list prev/next
//   u16 108-117: ports, VLAN ids, TCP history
//   u8 118-127: proto, IP version, flags each way, bits (with the VLAN count), ICMP
//       type/code, TTL min/max, timeout class
// 128 bytes, two cache lines. It was 136 (a float64 serial, the VLAN count in a byte of its
// own, the last ICMP error's type and code in the record rather than beside the error's
// other details in `side`): 8 MB less at 1M live flows, 156.9 -> 148.7 bytes per live
// flow (src/bench/flow-memory.ts); page faults of a churn replay 73.2-74.8k -> 72.6-73.5k
// (4 alternating runs), wall time within the noise. Flow logs, alert logs and stats are
// unchanged on the 122 captures of ../shared, the demo, the header-only bench capture and
// a 1.2M-SYN flood.
const REC_BYTES = 128;
const R64 = REC_BYTES / 8;
const R32 = REC_BYTES / 4;
const R16 = REC_BYTES / 2;
const R8 = REC_BYTES;
const F64_START = 0;
const F64_LAST = 1;
const F64_BYTES_TS = 2;
const F64_BYTES_TC = 3;
const F64_PAYLOAD_TS = 4;
const F64_PAYLOAD_TC = 5;
/** Numbers each record anew (0: a free slot): a fragment's entry names its flow by slot and serial. */
const U32_SERIAL = 12;
const U32_SRC = 13;
const U32_DST = 17;
const U32_PKTS_TS = 21;
const U32_PKTS_TC = 22;
const U32_ICMP_ERRORS = 23;
const I32_HASH = 24;
const I32_PREV = 25;
const I32_NEXT = 26;
const U16_PORT_SRC = 54;
const U16_PORT_DST = 55;
const U16_VLAN_OUTER = 56;
const U16_VLAN_INNER = 57;
const U16_HISTORY = 58;
const U8_PROTO = 118;
const U8_VERSION = 119;
const U8_FLAGS_TS = 120;
const U8_FLAGS_TC = 121;
const U8_BITS = 122;
const U8_ICMP_TYPE = 123;
const U8_ICMP_CODE = 124;
const U8_TTL_MIN = 125;
const U8_TTL_MAX = 126;
const U8_CLS = 127;

/** Rare per-flow details kept off the typed arrays: only flows that met ICMP errors. */
interface SideInfo {
  /** The last attributed error's ICMP type and code. */
  errorType: number;
  errorCode: number;
  errorFrom: string;
  quotedSrcIp: string;
  quotedDstIp: string;
  quotedProto: number;
  quotedDstPort: number;
}

interface FragEntry {
  slot: number;
  serial: number;
}

/** Index buckets at start (doubled as flows arrive; at most half full); slots when the reservation is refused. */
const INITIAL_SLOTS = 1 << 14;
/**
 * Slot records reserved at start, at most (maxFlows + 1 up to this; beyond it the buffer
 * grows by doubling). A reservation is address space only: the kernel backs a page when a
 * slot on it is first written, and slots are handed out lowest first, so a small capture
 * touches a few pages of it. Reserving the whole table (128 MB at the default 1M flows)
 * replaced growth by doubling, which made every generation's pages anew and copied the
 * old records over: on the churn bench (524,288 slots at the end) ~15,000 more page
 * faults (107k -> 92k a run) and 71 MB of copying, ~0.3 s of a 4.4 s replay on the
 * session 7 VM, where a first touch of a 4 KiB page costs ~11 us (142 MB touched in 390
 * ms; see bench/RESULTS.md, "Page faults"). The cap, 2^23 slots (1.1 GB of address
 * space), is for a huge --max-flows; a refused reservation falls back to growing.
 */
const RESERVED_SLOTS_MAX = 1 << 23;
const NO_SLOT = -1;

export interface FlowTableCounters {
  /** Packets counted into flows (ICMP errors attributed to a flow count there). */
  flowPackets: number;
  /** Flow records emitted, by end reason. */
  flowsByReason: Record<EndReason, number>;
  /** ICMP errors attributed to the flow they answer. */
  icmpErrorsAttributed: number;
  /** Live flows beyond the first with their 30-bit hash (sum over hashes of n - 1). */
  hashCollisions: number;
}

export class FlowTable {
  readonly options: FlowTableOptions;
  private readonly subscribers: FlowSubscriber[] = [];
  private readonly record = new FlowRecord();

  /** Packet clock: the highest timestamp seen, so time never runs backwards. */
  clockMicros = -Infinity;
  private nextSweepMicros = -Infinity;
  private readonly timeoutMicros = new Float64Array(CLASS_COUNT);
  private readonly activeMicros: number;

  readonly counters: FlowTableCounters = {
    flowPackets: 0,
    flowsByReason: { idle: 0, active: 0, fin: 0, rst: 0, capacity: 0, shutdown: 0 },
    icmpErrorsAttributed: 0,
    hashCollisions: 0,
  };

  // hash -> slot (util/probe-index.ts: linear probing, backward-shift deletion).
  private readonly index = new ProbeIndex(INITIAL_SLOTS * 2);
  private live = 0;
  private readonly side = new Map<number, SideInfo>();
  // (src, dst, proto, IP id) hash -> flow of the first fragment, for later fragments.
  // Made at the first fragment: lru-cache allocates for `max` up front (5-14 ms), and
  // most captures carry no fragments at all.
  private frags: LRUCache<number, FragEntry> | null = null;

  // Slot storage: one record of REC_BYTES per slot (layout above), read through five
  // views of one buffer reserved at start (RESERVED_SLOTS_MAX).
  private capacity = 0;
  /** Slots below this have been handed out at least once; the rest were never used. */
  private fresh = 0;
  /** Freed slots, reused last-freed first before a fresh one. */
  private freeTop = 0;
  /** The flow of the last packet add() counted; NO_SLOT once that flow ends. */
  private lastSlot = NO_SLOT;
  /** Its packet's ports, (source << 16) | destination: most other packets fail this test alone. */
  private lastPorts = -1;
  private free = new Int32Array(0);
  /** The last record number handed out (U32_SERIAL): 1 to 2^32 - 1, then 1 again. */
  private serialCounter = 0;
  private f64 = new Float64Array(0);
  private u32 = new Uint32Array(0);
  private i32 = new Int32Array(0);
  private u16 = new Uint16Array(0);
  private u8 = new Uint8Array(0);
  private readonly head = new Int32Array(CLASS_COUNT).fill(NO_SLOT);
  private readonly tail = new Int32Array(CLASS_COUNT).fill(NO_SLOT);

  constructor(options: Partial<FlowTableOptions> = {}, onFlowEnd?: FlowSubscriber) {
    this.options = { ...DEFAULT_FLOW_OPTIONS, ...options };
    const o = this.options;
    if (!(o.maxFlows >= 1)) throw new RangeError('maxFlows must be >= 1');
    this.timeoutMicros[C_TCP_EMBRYONIC] = o.tcpEmbryonicSeconds * 1e6;
    this.timeoutMicros[C_TCP_ESTABLISHED] = o.tcpIdleSeconds * 1e6;
    this.timeoutMicros[C_UDP] = o.udpIdleSeconds * 1e6;
    this.timeoutMicros[C_ICMP] = o.icmpIdleSeconds * 1e6;
    this.timeoutMicros[C_OTHER] = o.otherIdleSeconds * 1e6;
    this.timeoutMicros[C_CLOSED] = o.closedGraceSeconds * 1e6;
    this.activeMicros = o.activeSeconds * 1e6;
    try {
      this.grow(Math.min(o.maxFlows + 1, RESERVED_SLOTS_MAX));
    } catch (e) {
      // A system that refuses the address space (vm.overcommit_memory=2, a ulimit -v):
      // start small and grow by doubling as before.
      if (!(e instanceof RangeError)) throw e;
      this.grow(Math.min(o.maxFlows + 1, INITIAL_SLOTS));
    }
    if (onFlowEnd) this.subscribers.push(onFlowEnd);
  }

  /** Every expired flow goes to every subscriber, synchronously, in order. */
  subscribe(fn: FlowSubscriber): void {
    this.subscribers.push(fn);
  }

  /** Live flows. */
  get size(): number {
    return this.live;
  }

  /**
   * Count one decoded IP packet into its flow. Returns R_OK, or the reason it made no flow
   * (a later fragment whose first fragment was not seen).
   */
  add(p: DecodedPacket): number {
    const ts = p.tsMicros;
    if (ts > this.clockMicros) this.clockMicros = ts;
    const now = this.clockMicros;
    if (now >= this.nextSweepMicros) {
      // Sweep at most once per packet-time second (plus whenever time jumps forward).
      this.expireIdle(now);
      this.nextSweepMicros = now + 1e6;
    }

    if (p.fragment === FRAG_LATER) return this.addLaterFragment(p, now);
    if (p.icmpError && this.addIcmpError(p, now)) return R_OK;

    // The flow of the packet before, checked against its record (hot in cache) before any
    // hashing: in real captures most packets follow one of their own flow (a burst of
    // segments, its ACKs).
    let slot = this.lastSlot;
    let h: number;
    const ports = (p.srcPort << 16) | p.dstPort;
    const portsReversed = (p.dstPort << 16) | p.srcPort;
    if (slot !== NO_SLOT && (ports === this.lastPorts || portsReversed === this.lastPorts) &&
      this.sameTuple(slot, p.src, p.srcPort, p.dst, p.dstPort, p.proto, p)) {
      h = this.i32[slot * R32 + I32_HASH]!;
    } else {
      h = this.tupleHash(p.src, p.srcPort, p.dst, p.dstPort, p.proto, p);
      slot = this.lookup(h, p.src, p.srcPort, p.dst, p.dstPort, p.proto, p);
    }
    let toServer: boolean;
    if (slot === NO_SLOT) {
      slot = this.create(h, p, now);
      toServer = this.isFromSrc(slot, p); // false when a SYN/ACK came first
    } else {
      toServer = this.isFromSrc(slot, p);
      if (p.proto === PROTO_TCP && this.u8[slot * R8 + U8_CLS] === C_CLOSED && (p.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
        // A new SYN on a closed connection: port reuse. The old record ends, a new one starts.
        this.expire(slot, this.u8[slot * R8 + U8_BITS]! & B_CLOSED_BY_RST ? 'rst' : 'fin');
        slot = this.create(h, p, now);
        toServer = true;
      } else if (now - this.f64[slot * R64 + F64_START]! >= this.activeMicros) {
        this.cutActive(slot, now);
      }
    }
    if (p.fragment === FRAG_FIRST) this.rememberFragment(p, slot);
    if (p.icmpError) this.rememberQuoted(slot, p);
    this.count(slot, p, toServer, now);
    this.lastSlot = slot;
    this.lastPorts = ports;
    return R_OK;
  }

  /** Emit every live flow with the given reason (end of replay, SIGTERM). */
  expireAll(reason: EndReason = 'shutdown'): void {
    // What expire() does per flow, with the index emptied in one wipe at the end instead
    // of each flow taken out of it (a random bucket, then its probe run shifted back).
    // Same records in the same order, and the table is left as empty as expire() leaves
    // it (the same free slots in the same order).
    for (let c = 0; c < CLASS_COUNT; c++) {
      for (let s = this.head[c]!; s !== NO_SLOT;) {
        const next = this.i32[s * R32 + I32_NEXT]!;
        this.emit(s, reason);
        this.release(s);
        s = next;
      }
      this.head[c] = this.tail[c] = NO_SLOT;
    }
    this.index.clear();
    this.side.clear();
    this.counters.hashCollisions = 0;
    this.live = 0;
    this.lastSlot = NO_SLOT;
  }

  /** Expire flows idle past their class timeout at packet time `now`. */
  expireIdle(now: number): void {
    for (let c = 0; c < CLASS_COUNT; c++) {
      const timeout = this.timeoutMicros[c]!;
      let s = this.head[c]!;
      while (s !== NO_SLOT && this.f64[s * R64 + F64_LAST]! + timeout <= now) {
        const nextSlot = this.i32[s * R32 + I32_NEXT]!;
        const reason: EndReason = c === C_CLOSED ? (this.u8[s * R8 + U8_BITS]! & B_CLOSED_BY_RST ? 'rst' : 'fin') : 'idle';
        this.expire(s, reason);
        s = nextSlot;
      }
    }
  }

  // ---- keys ---------------------------------------------------------------------------

  /**
   * 30-bit hash of the canonical (ordered) tuple, so both directions meet. Murmur3-style
   * mixing with Math.imul; 30 bits keep the key a V8 small integer (no boxing in the Map).
   */
  private tupleHash(a: Uint32Array, portA: number, b: Uint32Array, portB: number, proto: number, p: DecodedPacket): number {
    // Two IPv4 addresses (the IPv4-mapped form, packet.ts) hash by their last words only:
    // six mixing rounds less for most packets. Decided by the words themselves, so a
    // tuple hashes the same wherever it comes from (a packet, an ICMP error's quote).
    const v4 = a[2] === 0xffff && b[2] === 0xffff && a[0] === 0 && a[1] === 0 && b[0] === 0 && b[1] === 0;
    // Order endpoints: lower (address, port) first.
    let swap = false;
    if (v4) {
      swap = a[3] !== b[3] ? a[3]! > b[3]! : portA > portB;
    } else {
      for (let i = 0; i < 4; i++) {
        if (a[i] !== b[i]) { swap = a[i]! > b[i]!; break; }
        if (i === 3) swap = portA > portB;
      }
    }
    const x = swap ? b : a;
    const y = swap ? a : b;
    const px = swap ? portB : portA;
    const py = swap ? portA : portB;
    let h = 0x9747b28c ^ proto;
    if (v4) {
      h = mix(h, x[3]!);
      h = mix(h, y[3]!);
    } else {
      h = mix(h, x[0]!); h = mix(h, x[1]!); h = mix(h, x[2]!); h = mix(h, x[3]!);
      h = mix(h, y[0]!); h = mix(h, y[1]!); h = mix(h, y[2]!); h = mix(h, y[3]!);
    }
    h = mix(h, (px << 16) | py);
    if (this.options.vlanInKey) h = mix(h, (p.vlanOuter << 16) | p.vlanInner);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return h & 0x3fffffff;
  }

  private sameTuple(
    slot: number, a: Uint32Array, portA: number, b: Uint32Array, portB: number, proto: number, p: DecodedPacket,
  ): boolean {
    if (this.u8[slot * R8 + U8_PROTO] !== proto) return false;
    if (this.options.vlanInKey) {
      if (this.u16[slot * R16 + U16_VLAN_OUTER] !== p.vlanOuter || this.u16[slot * R16 + U16_VLAN_INNER] !== p.vlanInner) return false;
    }
    const s = this.u32;
    const o = slot * R32 + U32_SRC;
    const od = slot * R32 + U32_DST;
    if (this.u16[slot * R16 + U16_PORT_SRC] === portA && this.u16[slot * R16 + U16_PORT_DST] === portB &&
      s[o] === a[0] && s[o + 1] === a[1] && s[o + 2] === a[2] && s[o + 3] === a[3] &&
      s[od] === b[0] && s[od + 1] === b[1] && s[od + 2] === b[2] && s[od + 3] === b[3]) return true;
    return this.u16[slot * R16 + U16_PORT_SRC] === portB && this.u16[slot * R16 + U16_PORT_DST] === portA &&
      s[o] === b[0] && s[o + 1] === b[1] && s[o + 2] === b[2] && s[o + 3] === b[3] &&
      s[od] === a[0] && s[od + 1] === a[1] && s[od + 2] === a[2] && s[od + 3] === a[3];
  }

  /** Find the flow of a tuple: probe from the hash's bucket to the first empty one. */
  private lookup(h: number, a: Uint32Array, portA: number, b: Uint32Array, portB: number, proto: number, p: DecodedPacket): number {
    const buckets = this.index.buckets;
    const mask = this.index.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = buckets[2 * i]!;
      if (s === EMPTY) return NO_SLOT;
      if (buckets[2 * i + 1] === h && this.sameTuple(s, a, portA, b, portB, proto, p)) return s;
    }
  }

  /** The flow's initiator has this address. */
  private srcAddrIs(slot: number, a: Uint32Array): boolean {
    const s = this.u32;
    const o = slot * R32 + U32_SRC;
    return s[o] === a[0] && s[o + 1] === a[1] && s[o + 2] === a[2] && s[o + 3] === a[3];
  }

  private isFromSrc(slot: number, p: DecodedPacket): boolean {
    return this.u16[slot * R16 + U16_PORT_SRC] === p.srcPort && this.srcAddrIs(slot, p.src);
  }

  // ---- flow life ----------------------------------------------------------------------

  private create(h: number, p: DecodedPacket, now: number): number {
    if (this.live >= this.options.maxFlows) this.evictLeastRecent();
    const slot = this.allocSlot();
    this.i32[slot * R32 + I32_HASH] = h;
    this.u32[slot * R32 + U32_SERIAL] = this.nextSerial();
    // Initiator (SPEC §3): the sender, except that a SYN/ACK seen first names its receiver.
    const swapped = p.proto === PROTO_TCP && (p.tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
    const srcWords = swapped ? p.dst : p.src;
    const dstWords = swapped ? p.src : p.dst;
    const w = slot * R32;
    for (let i = 0; i < 4; i++) {
      this.u32[w + U32_SRC + i] = srcWords[i]!;
      this.u32[w + U32_DST + i] = dstWords[i]!;
    }
    this.u16[slot * R16 + U16_PORT_SRC] = swapped ? p.dstPort : p.srcPort;
    this.u16[slot * R16 + U16_PORT_DST] = swapped ? p.srcPort : p.dstPort;
    this.u8[slot * R8 + U8_PROTO] = p.proto;
    this.u8[slot * R8 + U8_VERSION] = p.ipVersion;
    this.u16[slot * R16 + U16_VLAN_OUTER] = p.vlanOuter;
    this.u16[slot * R16 + U16_VLAN_INNER] = p.vlanInner;
    this.f64[slot * R64 + F64_START] = now;
    this.f64[slot * R64 + F64_LAST] = now;
    this.resetCounters(slot);
    this.u16[slot * R16 + U16_HISTORY] = 0;
    // Two VLAN ids are kept (the key's); a deeper stack counts as two.
    const vlans = p.vlanCount > 2 ? 2 : p.vlanCount;
    this.u8[slot * R8 + U8_BITS] = (swapped ? B_FIRST_TALKER_DST : 0) | (vlans << B_VLAN_SHIFT);
    this.u8[slot * R8 + U8_TTL_MIN] = 255;
    this.u8[slot * R8 + U8_TTL_MAX] = 0;
    this.u8[slot * R8 + U8_ICMP_TYPE] = p.icmpType < 0 ? 0 : p.icmpType;
    this.u8[slot * R8 + U8_ICMP_CODE] = p.icmpCode < 0 ? 0 : p.icmpCode;
    const c = p.proto === PROTO_TCP ? C_TCP_EMBRYONIC
      : p.proto === PROTO_UDP ? C_UDP
        : p.proto === PROTO_ICMP || p.proto === PROTO_ICMP6 ? C_ICMP : C_OTHER;
    this.u8[slot * R8 + U8_CLS] = c;
    this.listAppend(c, slot);

    this.indexInsert(slot, h);
    return slot;
  }

  private resetCounters(slot: number): void {
    this.u32[slot * R32 + U32_PKTS_TS] = 0;
    this.u32[slot * R32 + U32_PKTS_TC] = 0;
    this.f64[slot * R64 + F64_BYTES_TS] = 0;
    this.f64[slot * R64 + F64_BYTES_TC] = 0;
    this.f64[slot * R64 + F64_PAYLOAD_TS] = 0;
    this.f64[slot * R64 + F64_PAYLOAD_TC] = 0;
    this.u8[slot * R8 + U8_FLAGS_TS] = 0;
    this.u8[slot * R8 + U8_FLAGS_TC] = 0;
    this.u32[slot * R32 + U32_ICMP_ERRORS] = 0;
  }

  private count(slot: number, p: DecodedPacket, toServer: boolean, now: number): void {
    this.counters.flowPackets++;
    const flags = p.tcpFlags;
    let hist = this.u16[slot * R16 + U16_HISTORY]!;
    if (toServer) {
      this.u32[slot * R32 + U32_PKTS_TS]!++;
      this.f64[slot * R64 + F64_BYTES_TS] += p.ipLen;
      this.f64[slot * R64 + F64_PAYLOAD_TS] += p.payloadLen;
      this.u8[slot * R8 + U8_FLAGS_TS] |= flags;
      if (p.ttl < this.u8[slot * R8 + U8_TTL_MIN]!) this.u8[slot * R8 + U8_TTL_MIN] = p.ttl;
      if (p.ttl > this.u8[slot * R8 + U8_TTL_MAX]!) this.u8[slot * R8 + U8_TTL_MAX] = p.ttl;
      this.u8[slot * R8 + U8_BITS] &= ~B_LAST_TALKER_DST;
      if (p.proto === PROTO_TCP) {
        if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) hist |= H_SYN_ORIG;
        if (flags & TCP_FIN) hist |= H_FIN_ORIG;
        if (flags & TCP_RST) {
          if (!(hist & (H_RST_ORIG | H_RST_RESP))) hist |= H_FIRST_RST_ORIG;
          hist |= H_RST_ORIG;
        }
      }
    } else {
      this.u32[slot * R32 + U32_PKTS_TC]!++;
      this.f64[slot * R64 + F64_BYTES_TC] += p.ipLen;
      this.f64[slot * R64 + F64_PAYLOAD_TC] += p.payloadLen;
      this.u8[slot * R8 + U8_FLAGS_TC] |= flags;
      this.u8[slot * R8 + U8_BITS] |= B_LAST_TALKER_DST;
      hist |= H_RESP_SPOKE;
      if (p.proto === PROTO_TCP) {
        if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) hist |= H_SYNACK_RESP;
        if (flags & TCP_FIN) hist |= H_FIN_RESP;
        if (flags & TCP_RST) hist |= H_RST_RESP;
        else hist |= H_RESP_NON_RST;
      } else {
        hist |= H_RESP_NON_RST;
      }
    }
    this.u16[slot * R16 + U16_HISTORY] = hist;
    this.f64[slot * R64 + F64_LAST] = now;

    // Move to the tail of its expiry list, changing class when the connection's phase did.
    let c = this.u8[slot * R8 + U8_CLS]!;
    if (p.proto === PROTO_TCP && c !== C_CLOSED) {
      if (hist & (H_RST_ORIG | H_RST_RESP)) {
        c = C_CLOSED;
        this.u8[slot * R8 + U8_BITS] |= B_CLOSED_BY_RST;
      } else if ((hist & H_FIN_ORIG) && (hist & H_FIN_RESP)) {
        c = C_CLOSED;
      } else if (c === C_TCP_EMBRYONIC && (hist & H_RESP_NON_RST)) {
        // Answered: established (or midstream traffic both ways) gets the long timeout.
        c = C_TCP_ESTABLISHED;
      }
    }
    this.listRemove(slot);
    this.u8[slot * R8 + U8_CLS] = c;
    this.listAppend(c, slot);
  }

  /** Cut a long flow: emit what it has so far (reason active) and go on in the same slot. */
  private cutActive(slot: number, now: number): void {
    this.emit(slot, 'active');
    this.f64[slot * R64 + F64_START] = now;
    this.resetCounters(slot);
    this.u8[slot * R8 + U8_TTL_MIN] = 255;
    this.u8[slot * R8 + U8_TTL_MAX] = 0;
    // History stays: the continuation is still the same (established) connection.
    if (this.u8[slot * R8 + U8_BITS]! & B_HAS_SIDE) { this.side.delete(slot); this.u8[slot * R8 + U8_BITS] &= ~B_HAS_SIDE; }
    this.u32[slot * R32 + U32_SERIAL] = this.nextSerial();
  }

  private nextSerial(): number {
    this.serialCounter = this.serialCounter === 0xffff_ffff ? 1 : this.serialCounter + 1;
    return this.serialCounter;
  }

  private evictLeastRecent(): void {
    // The least recently used flow is the one whose last packet is oldest: the oldest head
    // of the expiry lists (each list is in last-packet order).
    let victim = NO_SLOT;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const s = this.head[c]!;
      if (s !== NO_SLOT && (victim === NO_SLOT || this.f64[s * R64 + F64_LAST]! < this.f64[victim * R64 + F64_LAST]!)) victim = s;
    }
    if (victim !== NO_SLOT) this.expire(victim, 'capacity');
  }

  /** Emit a flow and free its slot. */
  private expire(slot: number, reason: EndReason): void {
    if (slot === this.lastSlot) this.lastSlot = NO_SLOT;
    this.emit(slot, reason);
    this.listRemove(slot);
    this.indexRemove(slot);
    if (this.u8[slot * R8 + U8_BITS]! & B_HAS_SIDE) this.side.delete(slot);
    this.release(slot);
  }

  /** Back on the free stack, its bits and serial cleared (a stale fragment entry no longer matches it). */
  private release(slot: number): void {
    this.u8[slot * R8 + U8_BITS] = 0;
    this.u32[slot * R32 + U32_SERIAL] = 0;
    this.free[this.freeTop++] = slot;
  }

  private emit(slot: number, reason: EndReason): void {
    this.counters.flowsByReason[reason]++;
    if (this.subscribers.length === 0) return;
    const r = this.record;
    const v = this.u8[slot * R8 + U8_VERSION]!;
    const w = slot * R32;
    for (let i = 0; i < 4; i++) {
      r.srcAddr[i] = this.u32[w + U32_SRC + i]!;
      r.dstAddr[i] = this.u32[w + U32_DST + i]!;
    }
    r.ipVersion = v;
    r.addressesChanged();
    r.startMicros = this.f64[slot * R64 + F64_START]!;
    r.endMicros = this.f64[slot * R64 + F64_LAST]!;
    const proto = this.u8[slot * R8 + U8_PROTO]!;
    r.proto = proto;
    r.srcPort = this.u16[slot * R16 + U16_PORT_SRC]!;
    r.dstPort = this.u16[slot * R16 + U16_PORT_DST]!;
    r.pktsToServer = this.u32[slot * R32 + U32_PKTS_TS]!;
    r.pktsToClient = this.u32[slot * R32 + U32_PKTS_TC]!;
    r.bytesToServer = this.f64[slot * R64 + F64_BYTES_TS]!;
    r.bytesToClient = this.f64[slot * R64 + F64_BYTES_TC]!;
    r.payloadToServer = this.f64[slot * R64 + F64_PAYLOAD_TS]!;
    r.payloadToClient = this.f64[slot * R64 + F64_PAYLOAD_TC]!;
    const bits = this.u8[slot * R8 + U8_BITS]!;
    r.firstTalker = bits & B_FIRST_TALKER_DST ? 'dst' : 'src';
    r.lastTalker = bits & B_LAST_TALKER_DST ? 'dst' : 'src';
    r.tcpFlagsToServer = this.u8[slot * R8 + U8_FLAGS_TS]!;
    r.tcpFlagsToClient = this.u8[slot * R8 + U8_FLAGS_TC]!;
    r.tcpFlags = r.tcpFlagsToServer | r.tcpFlagsToClient;
    r.state = connState(this.u16[slot * R16 + U16_HISTORY]!, proto);
    r.endReason = reason;
    const vc = (bits & B_VLAN_MASK) >>> B_VLAN_SHIFT;
    r.vlans = vc === 0 ? NO_VLANS : vc === 1 ? [this.u16[slot * R16 + U16_VLAN_OUTER]!] : [this.u16[slot * R16 + U16_VLAN_OUTER]!, this.u16[slot * R16 + U16_VLAN_INNER]!];
    const isIcmp = proto === PROTO_ICMP || proto === PROTO_ICMP6;
    r.icmpType = isIcmp ? this.u8[slot * R8 + U8_ICMP_TYPE]! : -1;
    r.icmpCode = isIcmp ? this.u8[slot * R8 + U8_ICMP_CODE]! : -1;
    r.ttlMinToServer = r.pktsToServer > 0 ? this.u8[slot * R8 + U8_TTL_MIN]! : 0;
    r.ttlMaxToServer = this.u8[slot * R8 + U8_TTL_MAX]!;
    const errors = this.u32[slot * R32 + U32_ICMP_ERRORS]!;
    r.icmpErrors = errors;
    const side = bits & B_HAS_SIDE ? this.side.get(slot) : undefined;
    r.icmpErrorType = side && errors > 0 ? side.errorType : -1;
    r.icmpErrorCode = side && errors > 0 ? side.errorCode : -1;
    r.icmpErrorFrom = side && errors > 0 ? side.errorFrom : '';
    r.icmpQuotedSrcIp = side ? side.quotedSrcIp : '';
    r.icmpQuotedDstIp = side ? side.quotedDstIp : '';
    r.icmpQuotedProto = side ? side.quotedProto : -1;
    r.icmpQuotedDstPort = side ? side.quotedDstPort : -1;
    for (let i = 0; i < this.subscribers.length; i++) this.subscribers[i]!(r);
  }

  // ---- ICMP errors --------------------------------------------------------------------

  /**
   * An ICMP error joins the flow its quoted header names (as Suricata does), in the
   * direction it travels. Returns false when that flow is not in the table: the caller
   * then makes the error an ICMP flow of its own.
   */
  private addIcmpError(p: DecodedPacket, now: number): boolean {
    const h = this.tupleHash(p.innerSrc, p.innerSrcPort, p.innerDst, p.innerDstPort, p.innerProto, p);
    const slot = this.lookup(h, p.innerSrc, p.innerSrcPort, p.innerDst, p.innerDstPort, p.innerProto, p);
    if (slot === NO_SLOT) return false;
    // The error goes back towards whoever sent the quoted packet.
    const toServer = !(this.u16[slot * R16 + U16_PORT_SRC] === p.innerSrcPort && this.srcAddrIs(slot, p.innerSrc));
    this.counters.flowPackets++;
    this.counters.icmpErrorsAttributed++;
    if (toServer) {
      this.u32[slot * R32 + U32_PKTS_TS]!++;
      this.f64[slot * R64 + F64_BYTES_TS] += p.ipLen;
      this.u8[slot * R8 + U8_BITS] &= ~B_LAST_TALKER_DST;
    } else {
      this.u32[slot * R32 + U32_PKTS_TC]!++;
      this.f64[slot * R64 + F64_BYTES_TC] += p.ipLen;
      this.u8[slot * R8 + U8_BITS] |= B_LAST_TALKER_DST;
    }
    this.u32[slot * R32 + U32_ICMP_ERRORS]!++;
    // The last error's type and code, the first error's sender (text made once per flow,
    // not per packet).
    const side = this.sideOf(slot);
    side.errorType = p.icmpType;
    side.errorCode = p.icmpCode;
    if (side.errorFrom === '') side.errorFrom = formatAddr(p.src, p.ipVersion);
    this.f64[slot * R64 + F64_LAST] = now;
    const c = this.u8[slot * R8 + U8_CLS]!;
    this.listRemove(slot);
    this.listAppend(c, slot);
    return true;
  }

  private sideOf(slot: number): SideInfo {
    let side = this.u8[slot * R8 + U8_BITS]! & B_HAS_SIDE ? this.side.get(slot) : undefined;
    if (side === undefined) {
      side = { errorType: -1, errorCode: -1, errorFrom: '', quotedSrcIp: '', quotedDstIp: '', quotedProto: -1, quotedDstPort: -1 };
      this.side.set(slot, side);
      this.u8[slot * R8 + U8_BITS] |= B_HAS_SIDE;
    }
    return side;
  }

  /** An orphan ICMP error flow keeps what the first error it carried quoted. */
  private rememberQuoted(slot: number, p: DecodedPacket): void {
    const side = this.sideOf(slot);
    if (side.quotedProto !== -1) return;
    side.quotedSrcIp = formatAddr(p.innerSrc, p.innerVersion);
    side.quotedDstIp = formatAddr(p.innerDst, p.innerVersion);
    side.quotedProto = p.innerProto;
    side.quotedDstPort = p.innerDstPort;
  }

  // ---- fragments ----------------------------------------------------------------------

  private fragHash(p: DecodedPacket): number {
    let h = 0x3c6ef372 ^ p.proto;
    for (let i = 0; i < 4; i++) h = mix(h, p.src[i]!);
    for (let i = 0; i < 4; i++) h = mix(h, p.dst[i]!);
    h = mix(h, p.ipId);
    h ^= h >>> 15;
    return h & 0x3fffffff;
  }

  private rememberFragment(p: DecodedPacket, slot: number): void {
    this.frags ??= new LRUCache<number, FragEntry>({ max: 65_536 });
    this.frags.set(this.fragHash(p), { slot, serial: this.u32[slot * R32 + U32_SERIAL]! });
  }

  private addLaterFragment(p: DecodedPacket, now: number): number {
    const e = this.frags?.get(this.fragHash(p));
    if (e === undefined || this.u32[e.slot * R32 + U32_SERIAL] !== e.serial || this.u8[e.slot * R8 + U8_PROTO] !== p.proto) return R_FRAGMENT_WITHOUT_FIRST;
    this.count(e.slot, p, this.srcAddrIs(e.slot, p.src), now);
    return R_OK;
  }

  // ---- slots and lists ----------------------------------------------------------------

  private allocSlot(): number {
    if (this.freeTop > 0) return this.free[--this.freeTop]!;
    if (this.fresh === this.capacity) this.grow(Math.min(this.capacity * 2, this.options.maxFlows + 1));
    return this.fresh++;
  }

  /** Room for `newCapacity` slots (only past RESERVED_SLOTS_MAX once the table was made). */
  private grow(newCapacity: number): void {
    const old = this.capacity;
    if (newCapacity <= old) throw new Error('flow table: no free slot below maxFlows (bug)');
    const buffer = new ArrayBuffer(newCapacity * REC_BYTES);
    const u8 = new Uint8Array(buffer);
    if (old > 0) u8.set(this.u8);
    this.u8 = u8;
    this.u16 = new Uint16Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    // The free stack never holds more than the slots: made as large, touched as used.
    const free = new Int32Array(newCapacity);
    free.set(this.free.subarray(0, this.freeTop));
    this.free = free;
    this.capacity = newCapacity;
  }

  // ---- index ----------------------------------------------------------------------------

  /** Index a new flow's slot; count it when another live flow has its 30-bit hash. */
  private indexInsert(slot: number, h: number): void {
    const index = this.index;
    if ((this.live + 1) * 2 > index.size) index.rehash(index.size * 2);
    if (this.hashTaken(h)) {
      this.u8[slot * R8 + U8_BITS] |= B_SHARED_HASH;
      this.counters.hashCollisions++;
    }
    index.insert(slot, h);
    this.live++;
  }

  /** A live flow with hash `h` is in the index (its probe run is short: at most half full). */
  private hashTaken(h: number): boolean {
    const buckets = this.index.buckets;
    const mask = this.index.mask;
    for (let i = h & mask; buckets[2 * i] !== EMPTY; i = (i + 1) & mask) if (buckets[2 * i + 1] === h) return true;
    return false;
  }

  /** Take a flow's slot out of the index, keeping hashCollisions right. */
  private indexRemove(slot: number): void {
    const h = this.i32[slot * R32 + I32_HASH]!;
    if (this.u8[slot * R8 + U8_BITS]! & B_SHARED_HASH) {
      this.counters.hashCollisions--;
    } else if (this.counters.hashCollisions > 0) {
      // The first flow of its hash leaves: another with the same hash (if any) takes over.
      const buckets = this.index.buckets;
      const mask = this.index.mask;
      for (let j = h & mask; buckets[2 * j] !== EMPTY; j = (j + 1) & mask) {
        const other = buckets[2 * j]!;
        if (other !== slot && buckets[2 * j + 1] === h && this.u8[other * R8 + U8_BITS]! & B_SHARED_HASH) {
          this.u8[other * R8 + U8_BITS] &= ~B_SHARED_HASH;
          this.counters.hashCollisions--;
          break;
        }
      }
    }
    if (!this.index.remove(slot, h)) throw new Error('flow table: expired slot not in the index (bug)');
    this.live--;
  }

  private listAppend(c: number, slot: number): void {
    const t = this.tail[c]!;
    this.i32[slot * R32 + I32_PREV] = t;
    this.i32[slot * R32 + I32_NEXT] = NO_SLOT;
    if (t === NO_SLOT) this.head[c] = slot;
    else this.i32[t * R32 + I32_NEXT] = slot;
    this.tail[c] = slot;
  }

  private listRemove(slot: number): void {
    const c = this.u8[slot * R8 + U8_CLS]!;
    const p = this.i32[slot * R32 + I32_PREV]!;
    const n = this.i32[slot * R32 + I32_NEXT]!;
    if (p === NO_SLOT) this.head[c] = n;
    else this.i32[p * R32 + I32_NEXT] = n;
    if (n === NO_SLOT) this.tail[c] = p;
    else this.i32[n * R32 + I32_PREV] = p;
  }
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
