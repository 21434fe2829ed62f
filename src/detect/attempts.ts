/**
 * What the scan and P2P detectors share: the verdict on one finished flow ("failed or
 * unanswered attempt", "answered", "not an attempt") and a per-source sliding window of
 * the distinct (host, port) pairs a source failed on. Both detectors keep their own
 * windows in their own bounded tables (ctx.table), so each module stays independent.
 */
import type { FlowRecord } from '../flow/record.js';
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

const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

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
  host: string;
  portKey: number;
  reported: number;
}

/** One distinct (host, port) pair a source failed on, with its probe count. */
export interface FailedPair {
  host: string;
  portKey: number;
  lastMicros: number;
  probes: number;
}

/**
 * A source's first failed attempt, kept instead of a full SourceWindow until a second
 * distinct (host, port) arrives: a spoofed flood makes tens of thousands of one-attempt
 * sources, and no threshold can be crossed with one pair (every minimum is >= 2).
 * Measured on the 37,623-source StopDDoS SYN flood (heap after the run, scan + p2p + flood
 * enabled minus disabled): 155 MB with a full window per source, 17 MB with this (about
 * 230 bytes per source per module, LRU entry included).
 */
export class FirstFailure {
  probes = 1;
  answered = 0;
  constructor(
    readonly host: string,
    readonly portKey: number,
    readonly srcPort: number,
    readonly verdict: number,
    readonly micros: number,
  ) {}

  /** The full window, with this attempt (and its repeats) replayed into it. */
  upgrade(sourceIp: string, local: boolean, maxPairs: number): SourceWindow {
    const w = new SourceWindow(sourceIp, local, this.micros);
    for (let i = 0; i < this.probes; i++) w.addFailure(this.host, this.portKey, this.srcPort, this.verdict, this.micros, maxPairs);
    w.answered = this.answered;
    return w;
  }
}

/** Misra-Gries heavy-hitter slots for the source port (k = 4: fixed arrays, no allocation). */
const SRC_PORT_SLOTS = 4;

/**
 * The sliding window of one source's failed attempts: distinct (host, port) pairs in the
 * last windowSeconds (by packet time), the distinct ports per host and hosts per port
 * derived from them, and evidence counters since the window last emptied.
 */
export class SourceWindow {
  /** Insertion order = last-seen order (a repeat is moved to the end), so expiry pops from the head. */
  readonly pairs = new Map<string, FailedPair>();
  readonly portsPerHost = new Map<string, number>();
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
  addFailure(host: string, portKey: number, srcPort: number, verdict: number, micros: number, maxPairs: number): FailedPair | undefined {
    this.touch(micros);
    this.failed++;
    if (verdict & RST_RECEIVED) this.rstReceived++;
    if (verdict & ICMP_UNREACH) this.icmpUnreachReceived++;
    if (portKey >>> 16 !== T_ECHO) this.countSrcPort(srcPort);
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

  /** Misra-Gries: the most reused source port survives in one of the k slots. */
  private countSrcPort(port: number): void {
    const keys = this.srcPortKeys;
    const counts = this.srcPortCounts;
    let free = -1;
    for (let i = 0; i < SRC_PORT_SLOTS; i++) {
      if (keys[i] === port) { counts[i]!++; return; }
      if (counts[i] === 0 && free < 0) free = i;
    }
    if (free >= 0) { keys[free] = port; counts[free] = 1; return; }
    for (let i = 0; i < SRC_PORT_SLOTS; i++) if (--counts[i]! === 0) keys[i] = -1;
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

export function pairKey(host: string, portKey: number): string {
  return `${host}|${portKey}`;
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
