/**
 * The flow table (SPEC §3): bidirectional flows keyed by both addresses, both ports, the
 * IP protocol and (optionally) the VLAN ids, expired on packet time.
 *
 * Layout, chosen for the per-packet path (STYLE.md figures, measured with throw-away
 * prototypes on this machine): string keys ran 2-3x slower than a numeric hash key with a
 * collision check, and one object per flow cost ~255 B of heap against ~170 B for a slot
 * index into typed arrays. So:
 * - a 30-bit hash of the canonical 5-tuple finds the flow's slot in an open-addressing
 *   index (util/probe-index.ts: linear probing over an Int32Array of slots, backward-shift
 *   deletion, load <= 1/2; the probe loop with the tuple compare is `lookup` here).
 *   This is the per-packet path, so it is hand-written: it was an lru-cache (peek per
 *   packet, set and delete per flow), and lru-cache's per-call overhead (options
 *   destructuring, diagnostics-channel checks, stale checks) was ~1.0 s
 *   of a 2.2 s churn replay without detectors (4M peeks + 1M sets + 1M deletes, ~125-250
 *   ns each) and ~0.25 s of the mix replay; the probe loop is ~20 ns. The LRU order is the
 *   expiry lists below, which keep every flow in last-packet order: the capacity victim
 *   is the oldest of their heads. lru-cache keeps the per-host detector tables and the
 *   fragment table, which are not per packet;
 * - every field of a flow lives in typed arrays indexed by slot (struct of arrays), grown
 *   by doubling up to `maxFlows`, so a flow costs no JS object at all;
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

/** Rare per-flow details kept off the typed arrays: only flows that met ICMP errors. */
interface SideInfo {
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

const INITIAL_SLOTS = 1 << 14;
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

  /** Fill srcIp/dstIp of emitted records (subscribers that only copy words turn it off). */
  textAddresses = true;
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
  private readonly hashOf = (slot: number): number => this.hash[slot]!;
  private live = 0;
  private readonly side = new Map<number, SideInfo>();
  // (src, dst, proto, IP id) hash -> flow of the first fragment, for later fragments.
  // Made at the first fragment: lru-cache allocates for `max` up front (5-14 ms), and
  // most captures carry no fragments at all.
  private frags: LRUCache<number, FragEntry> | null = null;

  // Slot storage (struct of arrays).
  private capacity = 0;
  private freeTop = 0;
  private free = new Int32Array(0);
  private serialCounter = 0;
  private serial = new Float64Array(0);
  private hash = new Int32Array(0);
  private addrSrc = new Uint32Array(0); // 4 words per slot: initiator
  private addrDst = new Uint32Array(0);
  private portSrc = new Uint16Array(0);
  private portDst = new Uint16Array(0);
  private proto = new Uint8Array(0);
  private ipVersion = new Uint8Array(0);
  private vlanCount = new Uint8Array(0);
  private vlanOuter = new Uint16Array(0);
  private vlanInner = new Uint16Array(0);
  private startUs = new Float64Array(0);
  private lastUs = new Float64Array(0);
  private pktsToServer = new Uint32Array(0);
  private pktsToClient = new Uint32Array(0);
  private bytesToServer = new Float64Array(0);
  private bytesToClient = new Float64Array(0);
  private payloadToServer = new Float64Array(0);
  private payloadToClient = new Float64Array(0);
  private flagsToServer = new Uint8Array(0);
  private flagsToClient = new Uint8Array(0);
  private history = new Uint16Array(0);
  private bits = new Uint8Array(0);
  private icmpType = new Uint8Array(0);
  private icmpCode = new Uint8Array(0);
  private ttlMin = new Uint8Array(0);
  private ttlMax = new Uint8Array(0);
  private icmpErrors = new Uint32Array(0);
  private icmpErrType = new Uint8Array(0);
  private icmpErrCode = new Uint8Array(0);
  private cls = new Uint8Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
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
    this.grow(Math.min(o.maxFlows + 1, INITIAL_SLOTS));
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

    const h = this.tupleHash(p.src, p.srcPort, p.dst, p.dstPort, p.proto, p);
    let slot = this.lookup(h, p.src, p.srcPort, p.dst, p.dstPort, p.proto, p);
    let toServer: boolean;
    if (slot === NO_SLOT) {
      slot = this.create(h, p, now);
      toServer = this.isFromSrc(slot, p); // false when a SYN/ACK came first
    } else {
      toServer = this.isFromSrc(slot, p);
      if (p.proto === PROTO_TCP && this.cls[slot] === C_CLOSED && (p.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
        // A new SYN on a closed connection: port reuse. The old record ends, a new one starts.
        this.expire(slot, this.bits[slot]! & B_CLOSED_BY_RST ? 'rst' : 'fin');
        slot = this.create(h, p, now);
        toServer = true;
      } else if (now - this.startUs[slot]! >= this.activeMicros) {
        this.cutActive(slot, now);
      }
    }
    if (p.fragment === FRAG_FIRST) this.rememberFragment(p, slot);
    if (p.icmpError) this.rememberQuoted(slot, p);
    this.count(slot, p, toServer, now);
    return R_OK;
  }

  /** Emit every live flow with the given reason (end of replay, SIGTERM). */
  expireAll(reason: EndReason = 'shutdown'): void {
    for (let c = 0; c < CLASS_COUNT; c++) {
      while (this.head[c] !== NO_SLOT) this.expire(this.head[c]!, reason);
    }
  }

  /** Expire flows idle past their class timeout at packet time `now`. */
  expireIdle(now: number): void {
    for (let c = 0; c < CLASS_COUNT; c++) {
      const timeout = this.timeoutMicros[c]!;
      let s = this.head[c]!;
      while (s !== NO_SLOT && this.lastUs[s]! + timeout <= now) {
        const nextSlot = this.next[s]!;
        const reason: EndReason = c === C_CLOSED ? (this.bits[s]! & B_CLOSED_BY_RST ? 'rst' : 'fin') : 'idle';
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
    // Order endpoints: lower (address, port) first.
    let swap = false;
    for (let i = 0; i < 4; i++) {
      if (a[i] !== b[i]) { swap = a[i]! > b[i]!; break; }
      if (i === 3) swap = portA > portB;
    }
    const x = swap ? b : a;
    const y = swap ? a : b;
    const px = swap ? portB : portA;
    const py = swap ? portA : portB;
    let h = 0x9747b28c ^ proto;
    h = mix(h, x[0]!); h = mix(h, x[1]!); h = mix(h, x[2]!); h = mix(h, x[3]!);
    h = mix(h, y[0]!); h = mix(h, y[1]!); h = mix(h, y[2]!); h = mix(h, y[3]!);
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
    if (this.proto[slot] !== proto) return false;
    if (this.options.vlanInKey) {
      if (this.vlanOuter[slot] !== p.vlanOuter || this.vlanInner[slot] !== p.vlanInner) return false;
    }
    const o = slot * 4;
    const s = this.addrSrc;
    const d = this.addrDst;
    if (this.portSrc[slot] === portA && this.portDst[slot] === portB &&
      s[o] === a[0] && s[o + 1] === a[1] && s[o + 2] === a[2] && s[o + 3] === a[3] &&
      d[o] === b[0] && d[o + 1] === b[1] && d[o + 2] === b[2] && d[o + 3] === b[3]) return true;
    return this.portSrc[slot] === portB && this.portDst[slot] === portA &&
      s[o] === b[0] && s[o + 1] === b[1] && s[o + 2] === b[2] && s[o + 3] === b[3] &&
      d[o] === a[0] && d[o + 1] === a[1] && d[o + 2] === a[2] && d[o + 3] === a[3];
  }

  /** Find the flow of a tuple: probe from the hash's bucket to the first empty one. */
  private lookup(h: number, a: Uint32Array, portA: number, b: Uint32Array, portB: number, proto: number, p: DecodedPacket): number {
    const buckets = this.index.buckets;
    const mask = this.index.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = buckets[i]!;
      if (s === EMPTY) return NO_SLOT;
      if (this.hash[s] === h && this.sameTuple(s, a, portA, b, portB, proto, p)) return s;
    }
  }

  /** The flow's initiator has this address. */
  private srcAddrIs(slot: number, a: Uint32Array): boolean {
    const o = slot * 4;
    const s = this.addrSrc;
    return s[o] === a[0] && s[o + 1] === a[1] && s[o + 2] === a[2] && s[o + 3] === a[3];
  }

  private isFromSrc(slot: number, p: DecodedPacket): boolean {
    return this.portSrc[slot] === p.srcPort && this.srcAddrIs(slot, p.src);
  }

  // ---- flow life ----------------------------------------------------------------------

  private create(h: number, p: DecodedPacket, now: number): number {
    if (this.live >= this.options.maxFlows) this.evictLeastRecent();
    const slot = this.allocSlot();
    this.hash[slot] = h;
    this.serial[slot] = ++this.serialCounter;
    // Initiator (SPEC §3): the sender, except that a SYN/ACK seen first names its receiver.
    const swapped = p.proto === PROTO_TCP && (p.tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
    const o = slot * 4;
    const srcWords = swapped ? p.dst : p.src;
    const dstWords = swapped ? p.src : p.dst;
    for (let i = 0; i < 4; i++) {
      this.addrSrc[o + i] = srcWords[i]!;
      this.addrDst[o + i] = dstWords[i]!;
    }
    this.portSrc[slot] = swapped ? p.dstPort : p.srcPort;
    this.portDst[slot] = swapped ? p.srcPort : p.dstPort;
    this.proto[slot] = p.proto;
    this.ipVersion[slot] = p.ipVersion;
    this.vlanCount[slot] = p.vlanCount;
    this.vlanOuter[slot] = p.vlanOuter;
    this.vlanInner[slot] = p.vlanInner;
    this.startUs[slot] = now;
    this.lastUs[slot] = now;
    this.resetCounters(slot);
    this.history[slot] = 0;
    this.bits[slot] = swapped ? B_FIRST_TALKER_DST : 0;
    this.ttlMin[slot] = 255;
    this.ttlMax[slot] = 0;
    this.icmpType[slot] = p.icmpType < 0 ? 0 : p.icmpType;
    this.icmpCode[slot] = p.icmpCode < 0 ? 0 : p.icmpCode;
    const c = p.proto === PROTO_TCP ? C_TCP_EMBRYONIC
      : p.proto === PROTO_UDP ? C_UDP
        : p.proto === PROTO_ICMP || p.proto === PROTO_ICMP6 ? C_ICMP : C_OTHER;
    this.cls[slot] = c;
    this.listAppend(c, slot);

    this.indexInsert(slot, h);
    return slot;
  }

  private resetCounters(slot: number): void {
    this.pktsToServer[slot] = 0;
    this.pktsToClient[slot] = 0;
    this.bytesToServer[slot] = 0;
    this.bytesToClient[slot] = 0;
    this.payloadToServer[slot] = 0;
    this.payloadToClient[slot] = 0;
    this.flagsToServer[slot] = 0;
    this.flagsToClient[slot] = 0;
    this.icmpErrors[slot] = 0;
    this.icmpErrType[slot] = 0;
    this.icmpErrCode[slot] = 0;
  }

  private count(slot: number, p: DecodedPacket, toServer: boolean, now: number): void {
    this.counters.flowPackets++;
    const flags = p.tcpFlags;
    let hist = this.history[slot]!;
    if (toServer) {
      this.pktsToServer[slot]!++;
      this.bytesToServer[slot] += p.ipLen;
      this.payloadToServer[slot] += p.payloadLen;
      this.flagsToServer[slot] |= flags;
      if (p.ttl < this.ttlMin[slot]!) this.ttlMin[slot] = p.ttl;
      if (p.ttl > this.ttlMax[slot]!) this.ttlMax[slot] = p.ttl;
      this.bits[slot] &= ~B_LAST_TALKER_DST;
      if (p.proto === PROTO_TCP) {
        if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) hist |= H_SYN_ORIG;
        if (flags & TCP_FIN) hist |= H_FIN_ORIG;
        if (flags & TCP_RST) {
          if (!(hist & (H_RST_ORIG | H_RST_RESP))) hist |= H_FIRST_RST_ORIG;
          hist |= H_RST_ORIG;
        }
      }
    } else {
      this.pktsToClient[slot]!++;
      this.bytesToClient[slot] += p.ipLen;
      this.payloadToClient[slot] += p.payloadLen;
      this.flagsToClient[slot] |= flags;
      this.bits[slot] |= B_LAST_TALKER_DST;
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
    this.history[slot] = hist;
    this.lastUs[slot] = now;

    // Move to the tail of its expiry list, changing class when the connection's phase did.
    let c = this.cls[slot]!;
    if (p.proto === PROTO_TCP && c !== C_CLOSED) {
      if (hist & (H_RST_ORIG | H_RST_RESP)) {
        c = C_CLOSED;
        this.bits[slot] |= B_CLOSED_BY_RST;
      } else if ((hist & H_FIN_ORIG) && (hist & H_FIN_RESP)) {
        c = C_CLOSED;
      } else if (c === C_TCP_EMBRYONIC && (hist & H_RESP_NON_RST)) {
        // Answered: established (or midstream traffic both ways) gets the long timeout.
        c = C_TCP_ESTABLISHED;
      }
    }
    this.listRemove(slot);
    this.cls[slot] = c;
    this.listAppend(c, slot);
  }

  /** Cut a long flow: emit what it has so far (reason active) and go on in the same slot. */
  private cutActive(slot: number, now: number): void {
    this.emit(slot, 'active');
    this.startUs[slot] = now;
    this.resetCounters(slot);
    this.ttlMin[slot] = 255;
    this.ttlMax[slot] = 0;
    // History stays: the continuation is still the same (established) connection.
    if (this.bits[slot]! & B_HAS_SIDE) { this.side.delete(slot); this.bits[slot] &= ~B_HAS_SIDE; }
    this.serial[slot] = ++this.serialCounter;
  }

  private evictLeastRecent(): void {
    // The least recently used flow is the one whose last packet is oldest: the oldest head
    // of the expiry lists (each list is in last-packet order).
    let victim = NO_SLOT;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const s = this.head[c]!;
      if (s !== NO_SLOT && (victim === NO_SLOT || this.lastUs[s]! < this.lastUs[victim]!)) victim = s;
    }
    if (victim !== NO_SLOT) this.expire(victim, 'capacity');
  }

  /** Emit a flow and free its slot. */
  private expire(slot: number, reason: EndReason): void {
    this.emit(slot, reason);
    this.listRemove(slot);
    this.indexRemove(slot);
    if (this.bits[slot]! & B_HAS_SIDE) this.side.delete(slot);
    this.bits[slot] = 0;
    this.serial[slot] = 0;
    this.free[this.freeTop++] = slot;
  }

  private emit(slot: number, reason: EndReason): void {
    this.counters.flowsByReason[reason]++;
    if (this.subscribers.length === 0) return;
    const r = this.record;
    const o = slot * 4;
    const v = this.ipVersion[slot]!;
    for (let i = 0; i < 4; i++) {
      r.srcAddr[i] = this.addrSrc[o + i]!;
      r.dstAddr[i] = this.addrDst[o + i]!;
    }
    r.ipVersion = v;
    // Off when the flows go to a worker, which makes the text itself (src/offload.ts).
    if (this.textAddresses) {
      r.srcIp = formatAddr(r.srcAddr, v);
      r.dstIp = formatAddr(r.dstAddr, v);
    }
    r.startMicros = this.startUs[slot]!;
    r.endMicros = this.lastUs[slot]!;
    const proto = this.proto[slot]!;
    r.proto = proto;
    r.srcPort = this.portSrc[slot]!;
    r.dstPort = this.portDst[slot]!;
    r.pktsToServer = this.pktsToServer[slot]!;
    r.pktsToClient = this.pktsToClient[slot]!;
    r.bytesToServer = this.bytesToServer[slot]!;
    r.bytesToClient = this.bytesToClient[slot]!;
    r.payloadToServer = this.payloadToServer[slot]!;
    r.payloadToClient = this.payloadToClient[slot]!;
    const bits = this.bits[slot]!;
    r.firstTalker = bits & B_FIRST_TALKER_DST ? 'dst' : 'src';
    r.lastTalker = bits & B_LAST_TALKER_DST ? 'dst' : 'src';
    r.tcpFlagsToServer = this.flagsToServer[slot]!;
    r.tcpFlagsToClient = this.flagsToClient[slot]!;
    r.tcpFlags = r.tcpFlagsToServer | r.tcpFlagsToClient;
    r.state = connState(this.history[slot]!, proto);
    r.endReason = reason;
    const vc = this.vlanCount[slot]!;
    r.vlans = vc === 0 ? NO_VLANS : vc === 1 ? [this.vlanOuter[slot]!] : [this.vlanOuter[slot]!, this.vlanInner[slot]!];
    const isIcmp = proto === PROTO_ICMP || proto === PROTO_ICMP6;
    r.icmpType = isIcmp ? this.icmpType[slot]! : -1;
    r.icmpCode = isIcmp ? this.icmpCode[slot]! : -1;
    r.ttlMinToServer = r.pktsToServer > 0 ? this.ttlMin[slot]! : 0;
    r.ttlMaxToServer = this.ttlMax[slot]!;
    const errors = this.icmpErrors[slot]!;
    r.icmpErrors = errors;
    r.icmpErrorType = errors > 0 ? this.icmpErrType[slot]! : -1;
    r.icmpErrorCode = errors > 0 ? this.icmpErrCode[slot]! : -1;
    const side = bits & B_HAS_SIDE ? this.side.get(slot) : undefined;
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
    const toServer = !(this.portSrc[slot] === p.innerSrcPort && this.srcAddrIs(slot, p.innerSrc));
    this.counters.flowPackets++;
    this.counters.icmpErrorsAttributed++;
    if (toServer) {
      this.pktsToServer[slot]!++;
      this.bytesToServer[slot] += p.ipLen;
      this.bits[slot] &= ~B_LAST_TALKER_DST;
    } else {
      this.pktsToClient[slot]!++;
      this.bytesToClient[slot] += p.ipLen;
      this.bits[slot] |= B_LAST_TALKER_DST;
    }
    this.icmpErrors[slot]!++;
    this.icmpErrType[slot] = p.icmpType;
    this.icmpErrCode[slot] = p.icmpCode;
    // The first error's sender is kept (text made once per flow, not per packet).
    const side = this.sideOf(slot);
    if (side.errorFrom === '') side.errorFrom = formatAddr(p.src, p.ipVersion);
    this.lastUs[slot] = now;
    const c = this.cls[slot]!;
    this.listRemove(slot);
    this.listAppend(c, slot);
    return true;
  }

  private sideOf(slot: number): SideInfo {
    let side = this.bits[slot]! & B_HAS_SIDE ? this.side.get(slot) : undefined;
    if (side === undefined) {
      side = { errorFrom: '', quotedSrcIp: '', quotedDstIp: '', quotedProto: -1, quotedDstPort: -1 };
      this.side.set(slot, side);
      this.bits[slot] |= B_HAS_SIDE;
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
    this.frags.set(this.fragHash(p), { slot, serial: this.serial[slot]! });
  }

  private addLaterFragment(p: DecodedPacket, now: number): number {
    const e = this.frags?.get(this.fragHash(p));
    if (e === undefined || this.serial[e.slot] !== e.serial || this.proto[e.slot] !== p.proto) return R_FRAGMENT_WITHOUT_FIRST;
    this.count(e.slot, p, this.srcAddrIs(e.slot, p.src), now);
    return R_OK;
  }

  // ---- slots and lists ----------------------------------------------------------------

  private allocSlot(): number {
    if (this.freeTop === 0) this.grow(Math.min(this.capacity * 2, this.options.maxFlows + 1));
    return this.free[--this.freeTop]!;
  }

  private grow(newCapacity: number): void {
    const old = this.capacity;
    if (newCapacity <= old) throw new Error('flow table: no free slot below maxFlows (bug)');
    const g = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(newCapacity * per);
      b.set(a);
      return b;
    };
    this.serial = g(this.serial);
    this.hash = g(this.hash);
    this.addrSrc = g(this.addrSrc, 4);
    this.addrDst = g(this.addrDst, 4);
    this.portSrc = g(this.portSrc);
    this.portDst = g(this.portDst);
    this.proto = g(this.proto);
    this.ipVersion = g(this.ipVersion);
    this.vlanCount = g(this.vlanCount);
    this.vlanOuter = g(this.vlanOuter);
    this.vlanInner = g(this.vlanInner);
    this.startUs = g(this.startUs);
    this.lastUs = g(this.lastUs);
    this.pktsToServer = g(this.pktsToServer);
    this.pktsToClient = g(this.pktsToClient);
    this.bytesToServer = g(this.bytesToServer);
    this.bytesToClient = g(this.bytesToClient);
    this.payloadToServer = g(this.payloadToServer);
    this.payloadToClient = g(this.payloadToClient);
    this.flagsToServer = g(this.flagsToServer);
    this.flagsToClient = g(this.flagsToClient);
    this.history = g(this.history);
    this.bits = g(this.bits);
    this.icmpType = g(this.icmpType);
    this.icmpCode = g(this.icmpCode);
    this.ttlMin = g(this.ttlMin);
    this.ttlMax = g(this.ttlMax);
    this.icmpErrors = g(this.icmpErrors);
    this.icmpErrType = g(this.icmpErrType);
    this.icmpErrCode = g(this.icmpErrCode);
    this.cls = g(this.cls);
    this.prev = g(this.prev);
    this.next = g(this.next);
    const free = new Int32Array(newCapacity);
    free.set(this.free.subarray(0, this.freeTop));
    // New slots are handed out lowest first.
    for (let s = newCapacity - 1; s >= old; s--) free[this.freeTop++] = s;
    this.free = free;
    this.capacity = newCapacity;
  }

  // ---- index ----------------------------------------------------------------------------

  /** Index a new flow's slot; count it when another live flow has its 30-bit hash. */
  private indexInsert(slot: number, h: number): void {
    const index = this.index;
    if ((this.live + 1) * 2 > index.buckets.length) index.rehash(index.buckets.length * 2, this.hashOf);
    if (this.hashTaken(h)) {
      this.bits[slot] |= B_SHARED_HASH;
      this.counters.hashCollisions++;
    }
    index.insert(slot, h);
    this.live++;
  }

  /** A live flow with hash `h` is in the index (its probe run is short: at most half full). */
  private hashTaken(h: number): boolean {
    const buckets = this.index.buckets;
    const mask = this.index.mask;
    for (let i = h & mask; buckets[i] !== EMPTY; i = (i + 1) & mask) if (this.hash[buckets[i]!] === h) return true;
    return false;
  }

  /** Take a flow's slot out of the index, keeping hashCollisions right. */
  private indexRemove(slot: number): void {
    const h = this.hash[slot]!;
    if (this.bits[slot]! & B_SHARED_HASH) {
      this.counters.hashCollisions--;
    } else if (this.counters.hashCollisions > 0) {
      // The first flow of its hash leaves: another with the same hash (if any) takes over.
      const buckets = this.index.buckets;
      const mask = this.index.mask;
      for (let j = h & mask; buckets[j] !== EMPTY; j = (j + 1) & mask) {
        const other = buckets[j]!;
        if (other !== slot && this.hash[other] === h && this.bits[other]! & B_SHARED_HASH) {
          this.bits[other] &= ~B_SHARED_HASH;
          this.counters.hashCollisions--;
          break;
        }
      }
    }
    if (!this.index.remove(slot, h, this.hashOf)) throw new Error('flow table: expired slot not in the index (bug)');
    this.live--;
  }

  private listAppend(c: number, slot: number): void {
    const t = this.tail[c]!;
    this.prev[slot] = t;
    this.next[slot] = NO_SLOT;
    if (t === NO_SLOT) this.head[c] = slot;
    else this.next[t] = slot;
    this.tail[c] = slot;
  }

  private listRemove(slot: number): void {
    const c = this.cls[slot]!;
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p === NO_SLOT) this.head[c] = n;
    else this.next[p] = n;
    if (n === NO_SLOT) this.tail[c] = p;
    else this.prev[n] = p;
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
