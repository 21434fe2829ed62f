/**
 * Finished flows as fixed-size binary slots in a shared ring, so the flow table (main
 * thread) can hand them to the flow-end stage (detectors, flow log, alert log, IPFIX) in
 * a worker thread: src/offload.ts. One slot = one FlowRecord, or a clock tick, or the end.
 *
 * Fixed 256-byte slots read through typed-array views of one SharedArrayBuffer: no
 * allocation, no structured clone, no message per flow. A slot is two halves: its
 * numbers (128 bytes) in the buffer's first half, its strings (128 bytes, ICMP errors
 * only) at the same index in the second. Addresses travel as words; in the
 * worker the record makes their text only if something reads it (FlowRecord.srcIp).
 * ICMP details that are text in the record (error sender, quoted addresses) travel as
 * latin1 bytes (at most 39 characters, an IPv6 address).
 */
import { CONN_STATES, END_REASONS, NO_VLANS, type FlowRecord } from './record.js';

export const SLOT_BYTES = 256;
/** Bytes of a slot's numbers; its strings are as many, in the buffer's second half. */
const NUM_BYTES = 128;
// A slot's numbers in each view's units (index = slot * N<bits> + field).
const N64 = NUM_BYTES / 8;
const N32 = NUM_BYTES / 4;
const N16 = NUM_BYTES / 2;
export const KIND_FLOW = 1;
export const KIND_TICK = 2;
export const KIND_END = 3;
/** SIGHUP: reopen the logs here, after every flow before it (f64 field: unused). */
export const KIND_REOPEN = 4;
/** Flush the outputs and post stats (f64 field: the request id). */
export const KIND_FLUSH = 5;

// Float64 fields (index in the slot's f64 view: slot * N64 + i).
const F_START = 0;
const F_END = 1;
const F_BYTES_TS = 2;
const F_BYTES_TC = 3;
const F_PAYLOAD_TS = 4;
const F_PAYLOAD_TC = 5;
/** Tick / end: the packet clock. */
const F_CLOCK = 0;
// Uint32 fields (slot * N32 + i): bytes 48..96.
const U_SRC = 12; // 4 words
const U_DST = 16; // 4 words
const U_PKTS_TS = 20;
const U_PKTS_TC = 21;
const U_ICMP_ERRORS = 22;
const I_QUOTED_PORT = 23; // int32 view
// Uint16 fields (slot * N16 + i): bytes 96..104.
const H_SRC_PORT = 48;
const H_DST_PORT = 49;
const H_VLAN0 = 50;
const H_VLAN1 = 51;
// Int16 fields for values that may be -1 (slot * N16 + i): bytes 104..114.
const S_ICMP_TYPE = 52;
const S_ICMP_CODE = 53;
const S_ERR_TYPE = 54;
const S_ERR_CODE = 55;
const S_QUOTED_PROTO = 56;
// Bytes (slot * NUM_BYTES + i): 114..128.
const B_KIND = 114;
const B_VERSION = 115;
const B_PROTO = 116;
const B_TALKERS = 117; // bit 0: first talker dst, bit 1: last talker dst
const B_FLAGS_TS = 118;
const B_FLAGS_TC = 119;
const B_STATE = 120;
const B_REASON = 121;
const B_VLANS = 122;
const B_TTL_MIN = 123;
const B_TTL_MAX = 124;
/**
 * 1 when any of the three strings below is set (ICMP errors only). The numbers fill two
 * cache lines; the strings, else, are neither written nor read: a slot written on one
 * core and read on another moves each line it touches between them. Packet thread CPU
 * over the churn bench 1.30-1.31 -> 1.21-1.22 s (two runs each, per-thread CPU from
 * /proc); the workers' and the wall time moved within their noise. Since the strings
 * moved to the buffer's second half (they shared each page with the numbers), their
 * pages are not touched either: a page's first touch is a fault (~6-11 us on the bench
 * VM), one per 16 slots: per replay, page faults 16.6-17.4k -> 16.0-16.2k on the
 * header-only bench capture, 76.4-81.2k -> 73.4-73.8k on churn (3 alternating runs; wall
 * time within the noise).
 */
const B_STRINGS = 125;
// Three strings of 1 length byte + up to 39 latin1 bytes, in the slot's string half.
const STR_ERROR_FROM = 0;
const STR_QUOTED_SRC = 40;
const STR_QUOTED_DST = 80;
const STR_MAX = 39;

const STATE_INDEX = new Map(CONN_STATES.map((s, i) => [s, i]));
const REASON_INDEX = new Map(END_REASONS.map((r, i) => [r, i]));

/** Typed-array views of a ring's slot area. */
export class SlotViews {
  readonly f64: Float64Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly u16: Uint16Array;
  readonly i16: Int16Array;
  readonly u8: Uint8Array;
  readonly slots: number;
  /** Byte offset of the string half. */
  private readonly strings: number;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer) {
    this.f64 = new Float64Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.i16 = new Int16Array(buffer);
    this.u8 = new Uint8Array(buffer);
    this.slots = buffer.byteLength / SLOT_BYTES;
    this.strings = this.slots * NUM_BYTES;
  }

  /** A copy in a new buffer of `slots` slots (not fewer than these), every slot kept. */
  grown(slots: number): SlotViews {
    const bigger = new SlotViews(new ArrayBuffer(Math.max(slots, this.slots) * SLOT_BYTES));
    bigger.u8.set(this.u8.subarray(0, this.strings));
    bigger.u8.set(this.u8.subarray(this.strings), bigger.strings);
    return bigger;
  }

  kind(slot: number): number {
    return this.u8[slot * NUM_BYTES + B_KIND]!;
  }

  clock(slot: number): number {
    return this.f64[slot * N64 + F_CLOCK]!;
  }

  writeMark(slot: number, kind: number, clockMicros: number): void {
    this.u8[slot * NUM_BYTES + B_KIND] = kind;
    this.f64[slot * N64 + F_CLOCK] = clockMicros;
  }

  writeFlow(slot: number, r: FlowRecord): void {
    const f = slot * N64;
    const w = slot * N32;
    const h = slot * N16;
    const b = slot * NUM_BYTES;
    const { f64, u32, u16, i16, u8 } = this;
    f64[f + F_START] = r.startMicros;
    f64[f + F_END] = r.endMicros;
    f64[f + F_BYTES_TS] = r.bytesToServer;
    f64[f + F_BYTES_TC] = r.bytesToClient;
    f64[f + F_PAYLOAD_TS] = r.payloadToServer;
    f64[f + F_PAYLOAD_TC] = r.payloadToClient;
    for (let i = 0; i < 4; i++) {
      u32[w + U_SRC + i] = r.srcAddr[i]!;
      u32[w + U_DST + i] = r.dstAddr[i]!;
    }
    u32[w + U_PKTS_TS] = r.pktsToServer;
    u32[w + U_PKTS_TC] = r.pktsToClient;
    u32[w + U_ICMP_ERRORS] = r.icmpErrors;
    this.i32[w + I_QUOTED_PORT] = r.icmpQuotedDstPort;
    u16[h + H_SRC_PORT] = r.srcPort;
    u16[h + H_DST_PORT] = r.dstPort;
    const vc = r.vlans.length;
    u16[h + H_VLAN0] = vc > 0 ? r.vlans[0]! : 0;
    u16[h + H_VLAN1] = vc > 1 ? r.vlans[1]! : 0;
    i16[h + S_ICMP_TYPE] = r.icmpType;
    i16[h + S_ICMP_CODE] = r.icmpCode;
    i16[h + S_ERR_TYPE] = r.icmpErrorType;
    i16[h + S_ERR_CODE] = r.icmpErrorCode;
    i16[h + S_QUOTED_PROTO] = r.icmpQuotedProto;
    u8[b + B_KIND] = KIND_FLOW;
    u8[b + B_VERSION] = r.ipVersion;
    u8[b + B_PROTO] = r.proto;
    u8[b + B_TALKERS] = (r.firstTalker === 'dst' ? 1 : 0) | (r.lastTalker === 'dst' ? 2 : 0);
    u8[b + B_FLAGS_TS] = r.tcpFlagsToServer;
    u8[b + B_FLAGS_TC] = r.tcpFlagsToClient;
    u8[b + B_STATE] = STATE_INDEX.get(r.state)!;
    u8[b + B_REASON] = REASON_INDEX.get(r.endReason)!;
    u8[b + B_VLANS] = vc > 2 ? 2 : vc;
    u8[b + B_TTL_MIN] = r.ttlMinToServer;
    u8[b + B_TTL_MAX] = r.ttlMaxToServer;
    const strings = r.icmpErrorFrom !== '' || r.icmpQuotedSrcIp !== '' || r.icmpQuotedDstIp !== '';
    u8[b + B_STRINGS] = strings ? 1 : 0;
    if (strings) {
      const at = this.strings + b;
      this.writeString(at + STR_ERROR_FROM, r.icmpErrorFrom);
      this.writeString(at + STR_QUOTED_SRC, r.icmpQuotedSrcIp);
      this.writeString(at + STR_QUOTED_DST, r.icmpQuotedDstIp);
    }
  }

  /** Fill `r` from a flow slot (its address text is made if a reader asks for it). */
  readFlow(slot: number, r: FlowRecord): void {
    const f = slot * N64;
    const w = slot * N32;
    const h = slot * N16;
    const b = slot * NUM_BYTES;
    const { f64, u32, u16, i16, u8 } = this;
    r.startMicros = f64[f + F_START]!;
    r.endMicros = f64[f + F_END]!;
    r.bytesToServer = f64[f + F_BYTES_TS]!;
    r.bytesToClient = f64[f + F_BYTES_TC]!;
    r.payloadToServer = f64[f + F_PAYLOAD_TS]!;
    r.payloadToClient = f64[f + F_PAYLOAD_TC]!;
    for (let i = 0; i < 4; i++) {
      r.srcAddr[i] = u32[w + U_SRC + i]!;
      r.dstAddr[i] = u32[w + U_DST + i]!;
    }
    r.pktsToServer = u32[w + U_PKTS_TS]!;
    r.pktsToClient = u32[w + U_PKTS_TC]!;
    r.icmpErrors = u32[w + U_ICMP_ERRORS]!;
    r.icmpQuotedDstPort = this.i32[w + I_QUOTED_PORT]!;
    r.srcPort = u16[h + H_SRC_PORT]!;
    r.dstPort = u16[h + H_DST_PORT]!;
    const vc = u8[b + B_VLANS]!;
    r.vlans = vc === 0 ? NO_VLANS : vc === 1 ? [u16[h + H_VLAN0]!] : [u16[h + H_VLAN0]!, u16[h + H_VLAN1]!];
    r.icmpType = i16[h + S_ICMP_TYPE]!;
    r.icmpCode = i16[h + S_ICMP_CODE]!;
    r.icmpErrorType = i16[h + S_ERR_TYPE]!;
    r.icmpErrorCode = i16[h + S_ERR_CODE]!;
    r.icmpQuotedProto = i16[h + S_QUOTED_PROTO]!;
    const v = u8[b + B_VERSION]!;
    r.ipVersion = v;
    r.proto = u8[b + B_PROTO]!;
    const talkers = u8[b + B_TALKERS]!;
    r.firstTalker = talkers & 1 ? 'dst' : 'src';
    r.lastTalker = talkers & 2 ? 'dst' : 'src';
    r.tcpFlagsToServer = u8[b + B_FLAGS_TS]!;
    r.tcpFlagsToClient = u8[b + B_FLAGS_TC]!;
    r.tcpFlags = r.tcpFlagsToServer | r.tcpFlagsToClient;
    r.state = CONN_STATES[u8[b + B_STATE]!]!;
    r.endReason = END_REASONS[u8[b + B_REASON]!]!;
    r.ttlMinToServer = u8[b + B_TTL_MIN]!;
    r.ttlMaxToServer = u8[b + B_TTL_MAX]!;
    if (u8[b + B_STRINGS] === 1) {
      const at = this.strings + b;
      r.icmpErrorFrom = this.readString(at + STR_ERROR_FROM);
      r.icmpQuotedSrcIp = this.readString(at + STR_QUOTED_SRC);
      r.icmpQuotedDstIp = this.readString(at + STR_QUOTED_DST);
    } else {
      r.icmpErrorFrom = r.icmpQuotedSrcIp = r.icmpQuotedDstIp = '';
    }
    r.addressesChanged();
  }

  private writeString(at: number, s: string): void {
    const n = s.length > STR_MAX ? STR_MAX : s.length;
    this.u8[at] = n;
    for (let i = 0; i < n; i++) this.u8[at + 1 + i] = s.charCodeAt(i);
  }

  private readString(at: number): string {
    const n = this.u8[at]!;
    if (n === 0) return '';
    return String.fromCharCode.apply(null, this.u8.subarray(at + 1, at + 1 + n) as unknown as number[]);
  }
}
