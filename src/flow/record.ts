/**
 * A finished flow as handed to detectors and flow sinks. The flow table fills one reused
 * FlowRecord from its typed arrays when a flow expires and calls every subscriber
 * synchronously; a subscriber that keeps anything must copy it (strings and numbers are
 * safe to keep; the address arrays are overwritten by the next record).
 */
import { formatAddr, formatIPv4 } from '../util/ip.js';

export const END_REASONS = ['idle', 'active', 'fin', 'rst', 'capacity', 'shutdown'] as const;
export type EndReason = (typeof END_REASONS)[number];

/** Zeek conn_state subset derivable from flags (SPEC §3). */
export const CONN_STATES = ['S0', 'REJ', 'S1', 'SF', 'RSTO', 'RSTR', 'SH', 'SHR', 'OTH'] as const;
export type ConnState = (typeof CONN_STATES)[number];

/** The vlans of every untagged flow (no array per record). */
export const NO_VLANS: readonly number[] = Object.freeze([]);

export class FlowRecord {
  startMicros = 0;
  endMicros = 0;
  ipVersion = 0;
  /** IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmp6, ...). */
  proto = 0;
  /** Initiator ("src") and responder ("dst") as words (see DecodedPacket). */
  readonly srcAddr = new Uint32Array(4);
  readonly dstAddr = new Uint32Array(4);
  /**
   * Text forms of srcAddr and dstAddr (util/ip.ts formatAddr), made on first read and kept
   * until the words change (addressesChanged). Most records never need them: detectors
   * key hosts by the words (srcHostKey) and ask locality from them (DetectorContext
   * .srcIsLocal), and the flow log writes IPv4 from the words. Made for every record, two
   * strings per flow in each flow-end worker cost ~420 ns a flow where the addresses are
   * new (1M one-packet flows from 1M sources: reading a slot back 457 -> 35 ns a flow,
   * much of it the scavenges copying the strings util/ip.ts's text cache holds). Whole
   * replays, median of 4 alternating rounds: churn bench 3.90 -> 3.24 s, those 1M
   * one-packet flows 5.26 -> 4.08 s, a 1.2M-packet spoofed SYN flood 4.48 -> 3.68 s; the
   * real and header-only benches unchanged (bench/RESULTS.md, session 10).
   */
  get srcIp(): string {
    return (this.srcText ??= formatAddr(this.srcAddr, this.ipVersion));
  }
  set srcIp(text: string) {
    this.srcText = text;
  }
  get dstIp(): string {
    return (this.dstText ??= formatAddr(this.dstAddr, this.ipVersion));
  }
  set dstIp(text: string) {
    this.dstText = text;
  }
  // '' until the first addressesChanged(), as a new record's text was before.
  private srcText: string | null = '';
  private dstText: string | null = '';

  /** srcAddr, dstAddr or ipVersion were overwritten: the text forms are made again when read. */
  addressesChanged(): void {
    this.srcText = null;
    this.dstText = null;
  }
  srcPort = 0;
  dstPort = 0;
  pktsToServer = 0;
  pktsToClient = 0;
  /** Bytes = IP total length, per direction. */
  bytesToServer = 0;
  bytesToClient = 0;
  /** Transport payload bytes per direction (data transferred, for severity). */
  payloadToServer = 0;
  payloadToClient = 0;
  firstTalker: 'src' | 'dst' = 'src';
  lastTalker: 'src' | 'dst' = 'src';
  /** OR of TCP flag bytes: overall, to server (sent by src), to client (sent by dst). */
  tcpFlags = 0;
  tcpFlagsToServer = 0;
  tcpFlagsToClient = 0;
  state: ConnState = 'OTH';
  endReason: EndReason = 'idle';
  /** VLAN ids outer first; empty when untagged (one shared empty array: never mutate). */
  vlans: readonly number[] = NO_VLANS;
  /** ICMP flows: type/code of the first packet from src; -1 otherwise. */
  icmpType = -1;
  icmpCode = -1;
  /** Lowest and highest IP TTL / hop limit of packets to server. */
  ttlMinToServer = 0;
  ttlMaxToServer = 0;
  /**
   * ICMP errors that answered this flow (attributed through their quoted header): how
   * many, the type/code of the last one and who sent it (a router or the responder).
   */
  icmpErrors = 0;
  icmpErrorType = -1;
  icmpErrorCode = -1;
  icmpErrorFrom = '';
  /**
   * Orphan ICMP-error flows (the error's own flow was not in the table, SPEC §3): what the
   * quoted header says. src of such a flow is the host that sent the error; the quoted src
   * is the host that caused it. Empty / -1 for every other flow.
   */
  icmpQuotedSrcIp = '';
  icmpQuotedDstIp = '';
  icmpQuotedProto = -1;
  icmpQuotedDstPort = -1;
}

const FLAG_LETTERS = 'FSRPAUEC';

/** TCP flag byte -> letters in SPEC order FSRPAUEC ("SRA" style: only set flags). */
export function tcpFlagString(flags: number): string {
  let s = '';
  for (let i = 0; i < 8; i++) if (flags & (1 << i)) s += FLAG_LETTERS[i];
  return s;
}

export function protoName(proto: number): string {
  switch (proto) {
    case 6: return 'tcp';
    case 17: return 'udp';
    case 1: return 'icmp';
    case 58: return 'icmp6';
    default: return String(proto);
  }
}

export type FlowSubscriber = (flow: FlowRecord) => void;

/**
 * A cheap Map/table key for the flow's src or dst host: an IPv4 address as its int32
 * (a small integer in V8, hashed without a string), an IPv6 address as its text. The two
 * kinds never collide (number vs string). Per-host detector tables use it instead of the
 * text form: on the churn bench a string key cost a hash of ~12 characters per lookup.
 */
export type HostKey = number | string;

export function srcHostKey(f: FlowRecord): HostKey {
  return f.ipVersion === 4 ? f.srcAddr[3]! | 0 : f.srcIp;
}

export function dstHostKey(f: FlowRecord): HostKey {
  return f.ipVersion === 4 ? f.dstAddr[3]! | 0 : f.dstIp;
}

/** Text of a host key (alert time only). */
export function hostKeyText(k: HostKey): string {
  return typeof k === 'string' ? k : formatIPv4(k);
}
