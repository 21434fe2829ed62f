/**
 * Flow records as text: NDJSON with the field names of SPEC §3 (a contract users' scripts
 * rely on), or IPAudit's whitespace columns.
 *
 * Records are built as bytes (ASCII, UTF-8 past it), not strings: `flowWriter` writes each
 * one straight into the sink's buffer, and flowToJson / flowToIpaudit build it in a
 * scratch buffer for callers that want the text. The template-literal formatter this
 * replaces (kept in test/output/flow-format.test.ts as the reference the writers are
 * checked against) cost ~2 us a record with the sink: the template's cons string, two
 * formatMicros and three tcpFlagString strings, then flattening and UTF-8 encoding 256 KiB
 * of joined records. Written in place, a record costs ~0.4 us, a third of it the kernel's
 * copy (full churn bench, 1M records, 387 MB: 2.0 s -> 0.42 s of CPU over the replay
 * without flow output; through flowToJson and TextSink#write, 0.77 s).
 */
import { formatMicros, secondPrefix } from '../util/time.js';
import { CONN_STATES, END_REASONS, protoName, tcpFlagString, type FlowRecord, type FlowSubscriber } from '../flow/record.js';
import type { TextSink } from './sink.js';

export type FlowsFormat = 'json' | 'ipaudit';

/** One NDJSON record, newline included. */
export function flowToJson(f: FlowRecord): string {
  const room = jsonRoom(f);
  const buf = room <= scratch.length ? scratch : Buffer.allocUnsafe(room);
  return buf.toString('utf8', 0, flowJsonBytes(buf, 0, f));
}

/**
 * IPAudit's columns: ip1 ip2 proto port1 port2 bytes1 bytes2 pkts1 pkts2 first_time
 * last_time first_talker last_talker. As IPAudit writes them: protocol as a number, times
 * as HH:MM:SS.ffff (here in UTC, from packet time), talkers as 1 (ip1) or 2 (ip2). One
 * line, newline included.
 */
export function flowToIpaudit(f: FlowRecord): string {
  const room = ipauditRoom(f);
  const buf = room <= scratch.length ? scratch : Buffer.allocUnsafe(room);
  return buf.toString('utf8', 0, flowIpauditBytes(buf, 0, f));
}

/** Where flowToJson and flowToIpaudit build a record before it becomes a string. */
const scratch = Buffer.allocUnsafeSlow(16 * 1024);

// ---- Byte writers -------------------------------------------------------------------
//
// The same records as bytes, built in the sink's buffer through a DataView: constant text
// is stored four bytes at a time from pre-encoded words, numbers below 10,000 and IPv4
// octets are one word from a table. A word store may run up to 3 bytes past the text it
// writes; what follows overwrites them, and sinks reserve room for the overrun.

/**
 * Constant ASCII text as little-endian 32-bit words (the last one zero padded), for
 * DataView stores, and as bytes, for one copy of longer text.
 */
interface Ascii {
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  readonly length: number;
}

function ascii(text: string): Ascii {
  const words = new Int32Array(Math.ceil(text.length / 4));
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    words[i >> 2]! |= c << (8 * (i & 3));
    bytes[i] = c;
  }
  return { words, bytes, length: text.length };
}

/**
 * Short constant text, a word at a time: a 17-byte key costs ~5 ns this way against ~16
 * ns for Uint8Array#set (whose call dominates below ~100 bytes) and ~19 ns byte by byte.
 */
function put(v: DataView, off: number, c: Ascii): number {
  const w = c.words;
  for (let i = 0; i < w.length; i++) v.setInt32(off + 4 * i, w[i]!, true);
  return off + c.length;
}

/** "0" to "9999" as one little-endian word each, and their lengths. */
const SMALL = new Int32Array(10000);
const SMALL_LEN = new Uint8Array(10000);
/** "0000" to "9999" (zero padded), as words. */
const PAD4 = new Int32Array(10000);
/** "0." to "255." (an IPv4 octet and its dot), as words; lengths in OCTET_LEN. */
const OCTET = new Int32Array(256);
const OCTET_LEN = new Uint8Array(256);
// Filled digit by digit: n counts up while a, b, c, d are its four digits' character
// codes (the word's bytes from the lowest, so the text's order); dropping leading zeros
// is a shift. Building them from String(n) and padStart ran at every start of every thread
// that loads this module (the packet thread and each flow-end worker), interpreted:
// 5-8.6 ms against 0.7 ms (three runs each, session 12 VM).
{
  let n = 0;
  for (let a = 48; a < 58; a++) {
    for (let b = 48; b < 58; b++) {
      for (let c = 48; c < 58; c++) {
        const abc = a | (b << 8) | (c << 16);
        for (let d = 48; d < 58; d++, n++) {
          const w = abc | (d << 24);
          const len = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : 4;
          PAD4[n] = w;
          SMALL[n] = w >>> (32 - 8 * len);
          SMALL_LEN[n] = len;
        }
      }
    }
  }
}
for (let k = 0; k < 256; k++) {
  OCTET[k] = SMALL[k]! | (46 << (8 * SMALL_LEN[k]!)); // the octet, then "."
  OCTET_LEN[k] = SMALL_LEN[k]! + 1;
}

/** The DataView over the last buffer written to (a sink keeps one buffer). */
let viewBuf: Uint8Array | null = null;
let view: DataView = new DataView(new ArrayBuffer(0));

function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewBuf) {
    viewBuf = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return view;
}

/** A string's characters; outside ASCII, its UTF-8 bytes (as the text sink would write). */
function putText(buf: Buffer, v: DataView, off: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return off + buf.write(s, off);
    v.setUint8(off + i, c);
  }
  return off + n;
}

/** A number as String(n) prints it. */
function putNumber(buf: Buffer, v: DataView, off: number, n: number): number {
  if (n < 10000 && n >>> 0 === n) {
    v.setInt32(off, SMALL[n]!, true);
    return off + SMALL_LEN[n]!;
  }
  if (n >>> 0 !== n) return putText(buf, v, off, String(n));
  // Up to 10 digits: the groups of four below the lead as zero-padded words.
  const high = (n / 10000) >>> 0;
  const low = n - high * 10000;
  if (high < 10000) {
    v.setInt32(off, SMALL[high]!, true);
    off += SMALL_LEN[high]!;
  } else {
    const top = (high / 10000) >>> 0;
    v.setInt32(off, SMALL[top]!, true);
    off += SMALL_LEN[top]!;
    v.setInt32(off, PAD4[high - top * 10000]!, true);
    off += 4;
  }
  v.setInt32(off, PAD4[low]!, true);
  return off + 4;
}

/** A constant key (ending in ':'), then a number: most fields of a JSON record. */
function putField(buf: Buffer, v: DataView, off: number, key: Ascii, n: number): number {
  return putNumber(buf, v, put(v, off, key), n);
}

/** An IPv4 address (a word) in dotted decimal. */
function putIPv4(v: DataView, off: number, a: number): number {
  let o = a >>> 24;
  v.setInt32(off, OCTET[o]!, true);
  off += OCTET_LEN[o]!;
  o = (a >>> 16) & 255;
  v.setInt32(off, OCTET[o]!, true);
  off += OCTET_LEN[o]!;
  o = (a >>> 8) & 255;
  v.setInt32(off, OCTET[o]!, true);
  off += OCTET_LEN[o]!;
  o = a & 255;
  v.setInt32(off, OCTET[o]!, true);
  return off + OCTET_LEN[o]! - 1; // the dot is overwritten by what follows
}

/** IPAudit's clock: formatMicros' text from the 'T' on, HH:MM:SS.ffff (UTC). */
function clock(micros: number): string {
  const iso = formatMicros(micros); // ...THH:MM:SS.ffffffZ
  const t = iso.indexOf('T');
  return iso.slice(t + 1, t + 14);
}

/**
 * A constant lead, then a timestamp: formatMicros' text ('iso') or IPAudit's clock. Each
 * writer keeps the bytes of lead + "YYYY-MM-DDTHH:MM:SS." (or lead + "HH:MM:SS.") for up
 * to SECOND_CACHE seconds, direct-mapped by the second's low bits: a record's end is
 * near the packet clock, but its start can be anything up to the active timeout before
 * it (the mix bench's flows last seconds; its 10,216 records at the end of the file
 * start across 100 s). With the last two seconds only, building the bytes on a miss
 * (Date, toISOString, encoding) took ~40 ms of the mix replay's flow-end worker.
 */
class TimestampWriter {
  private readonly lead: string;
  private readonly clock: boolean;
  private readonly seconds = new Float64Array(SECOND_CACHE).fill(NaN);
  private readonly bytes: (Ascii | undefined)[] = new Array<Ascii | undefined>(SECOND_CACHE).fill(undefined);

  constructor(lead: string, style: 'iso' | 'clock') {
    this.lead = lead;
    this.clock = style === 'clock';
  }

  write(buf: Buffer, v: DataView, off: number, micros: number): number {
    const second = Math.floor(micros / 1e6);
    const i = second & (SECOND_CACHE - 1);
    const p = this.seconds[i] === second ? this.bytes[i]! : this.miss(second, i);
    const frac = Math.floor(micros - second * 1e6);
    // Out of Date's range, or rounding at the edge of a double's precision: as the text.
    if (p === null || !(frac >= 0 && frac < 1e6)) {
      return putText(buf, v, off, this.lead + (this.clock ? clock(micros) : formatMicros(micros)));
    }
    off = put(v, off, p);
    if (this.clock) {
      v.setInt32(off, PAD4[(frac / 100) | 0]!, true);
      return off + 4;
    }
    const high = (frac / 10000) | 0; // two digits, then four
    v.setInt16(off, PAD4[high]! >>> 16, true);
    v.setInt32(off + 2, PAD4[frac - high * 10000]!, true);
    v.setUint8(off + 6, 0x5a); // 'Z'
    return off + 7;
  }

  private miss(second: number, i: number): Ascii | null {
    const prefix = secondPrefix(second);
    if (prefix === null) return null;
    const bytes = ascii(this.lead + (this.clock ? prefix.slice(prefix.indexOf('T') + 1) : prefix));
    this.seconds[i] = second;
    this.bytes[i] = bytes;
    return bytes;
  }
}

/** Seconds each TimestampWriter keeps the bytes of (a power of two). */
const SECOND_CACHE = 256;

const J_START = new TimestampWriter('{"start":"', 'iso');
const J_END = new TimestampWriter('","end":"', 'iso');
const J_SRC_PORT = ascii('","src_port":');
const J_DST_IP = ascii(',"dst_ip":"');
const J_DST_PORT = ascii('","dst_port":');
const J_PKTS_TS = ascii(',"pkts_toserver":');
const J_PKTS_TC = ascii(',"pkts_toclient":');
const J_BYTES_TS = ascii(',"bytes_toserver":');
const J_BYTES_TC = ascii(',"bytes_toclient":');
const J_ICMP_TYPE = ascii(',"icmp_type":');
const J_ICMP_CODE = ascii(',"icmp_code":');
const J_ERRORS = ascii(',"icmp_errors":');
const J_ERROR_TYPE = ascii(',"icmp_error_type":');
const J_ERROR_CODE = ascii(',"icmp_error_code":');
const J_ERROR_FROM = ascii(',"icmp_error_from":"');
const J_QUOTED_SRC = ascii(',"icmp_quoted":{"src_ip":"');
const J_QUOTED_DST = ascii('","dst_ip":"');
const J_QUOTED_PROTO = ascii('","proto":"');
const J_QUOTED_PORT = ascii('","dst_port":');
/** '","proto":"tcp","src_ip":"' for each protocol number. */
const J_PROTO: Ascii[] = Array.from({ length: 256 }, (_, p) => ascii(`","proto":"${protoName(p)}","src_ip":"`));

/**
 * The middle of a record, from ',"first_talker"' to '"vlan":[' (~150 bytes), takes its
 * values from few enumerations: talkers, flag bytes, state, end reason. Each combination
 * seen is kept as bytes, keyed by one small integer, and copied with one
 * Uint8Array#set: 16 stores and a flag-letter loop become a Map lookup and a copy (a
 * churn capture shows a handful of combinations). Random flags could make millions: the
 * map starts over at MAX_MIDDLES.
 */
const middles = new Map<number, Ascii>();
const MAX_MIDDLES = 4096;

function middleKey(f: FlowRecord): number {
  const ts = f.tcpFlagsToServer;
  const tc = f.tcpFlagsToClient;
  if ((ts | tc) !== f.tcpFlags || ts >>> 0 !== ts || tc >>> 0 !== tc || ts > 255 || tc > 255) return -1;
  const state = CONN_STATES.indexOf(f.state);
  const reason = END_REASONS.indexOf(f.endReason);
  if (state < 0 || reason < 0) return -1;
  const first = f.firstTalker === 'src' ? 0 : f.firstTalker === 'dst' ? 1 : -1;
  const last = f.lastTalker === 'src' ? 0 : f.lastTalker === 'dst' ? 1 : -1;
  if (first < 0 || last < 0) return -1;
  return ts | (tc << 8) | (state << 16) | (reason << 20) | (first << 24) | (last << 25);
}

function middleText(f: FlowRecord): string {
  return `,"first_talker":"${f.firstTalker}","last_talker":"${f.lastTalker}"` +
    `,"tcp_flags":"${tcpFlagString(f.tcpFlags)}","tcp_flags_ts":"${tcpFlagString(f.tcpFlagsToServer)}"` +
    `,"tcp_flags_tc":"${tcpFlagString(f.tcpFlagsToClient)}","state":"${f.state}","end_reason":"${f.endReason}"` +
    ',"vlan":[';
}

/**
 * Room flowJsonBytes needs for `f`, word overrun included: under 1 KiB for the constant
 * text and 24 characters for each number (String(n) of any double), plus 3 bytes per
 * character of the strings that are copied (IPv6 text, ICMP fields).
 */
function jsonRoom(f: FlowRecord): number {
  let n = 2048 + 3 * (f.state.length + f.endReason.length + f.firstTalker.length + f.lastTalker.length) +
    25 * f.vlans.length;
  if (f.ipVersion !== 4) n += 3 * (f.srcIp.length + f.dstIp.length);
  if (f.icmpErrors > 0) n += 3 * f.icmpErrorFrom.length;
  if (f.icmpQuotedProto >= 0) n += 3 * (f.icmpQuotedSrcIp.length + f.icmpQuotedDstIp.length);
  return n;
}

/**
 * flowToJson(f) as bytes into `buf` from `off` (room: jsonRoom(f)); returns the end.
 * IPv4 addresses are written from the words (srcIp/dstIp are their text, FlowTable.emit).
 */
export function flowJsonBytes(buf: Buffer, off: number, f: FlowRecord): number {
  const v = viewOf(buf);
  off = J_START.write(buf, v, off, f.startMicros);
  off = J_END.write(buf, v, off, f.endMicros);
  const proto = f.proto;
  if (proto >>> 0 === proto && proto < 256) off = put(v, off, J_PROTO[proto]!);
  else off = putText(buf, v, off, `","proto":"${protoName(proto)}","src_ip":"`);
  const v4 = f.ipVersion === 4;
  off = v4 ? putIPv4(v, off, f.srcAddr[3]!) : putText(buf, v, off, f.srcIp);
  off = putField(buf, v, off, J_SRC_PORT, f.srcPort);
  off = put(v, off, J_DST_IP);
  off = v4 ? putIPv4(v, off, f.dstAddr[3]!) : putText(buf, v, off, f.dstIp);
  off = putField(buf, v, off, J_DST_PORT, f.dstPort);
  off = putField(buf, v, off, J_PKTS_TS, f.pktsToServer);
  off = putField(buf, v, off, J_PKTS_TC, f.pktsToClient);
  off = putField(buf, v, off, J_BYTES_TS, f.bytesToServer);
  off = putField(buf, v, off, J_BYTES_TC, f.bytesToClient);
  const key = middleKey(f);
  let middle = key < 0 ? undefined : middles.get(key);
  if (middle === undefined) {
    const text = middleText(f);
    if (key < 0) {
      off = putText(buf, v, off, text);
    } else {
      if (middles.size >= MAX_MIDDLES) middles.clear();
      middle = ascii(text);
      middles.set(key, middle);
    }
  }
  if (middle !== undefined) {
    buf.set(middle.bytes, off);
    off += middle.length;
  }
  const vlans = f.vlans;
  for (let i = 0; i < vlans.length; i++) {
    if (i > 0) v.setUint8(off++, 0x2c); // ','
    off = putNumber(buf, v, off, vlans[i]!);
  }
  v.setUint8(off++, 0x5d); // ']'
  if (f.icmpType >= 0) {
    off = putField(buf, v, off, J_ICMP_TYPE, f.icmpType);
    off = putField(buf, v, off, J_ICMP_CODE, f.icmpCode);
  }
  if (f.icmpErrors > 0) {
    off = putField(buf, v, off, J_ERRORS, f.icmpErrors);
    off = putField(buf, v, off, J_ERROR_TYPE, f.icmpErrorType);
    off = putField(buf, v, off, J_ERROR_CODE, f.icmpErrorCode);
    off = put(v, off, J_ERROR_FROM);
    off = putText(buf, v, off, f.icmpErrorFrom);
    v.setUint8(off++, 0x22); // '"'
  }
  if (f.icmpQuotedProto >= 0) {
    off = put(v, off, J_QUOTED_SRC);
    off = putText(buf, v, off, f.icmpQuotedSrcIp);
    off = put(v, off, J_QUOTED_DST);
    off = putText(buf, v, off, f.icmpQuotedDstIp);
    off = put(v, off, J_QUOTED_PROTO);
    off = putText(buf, v, off, protoName(f.icmpQuotedProto));
    off = putField(buf, v, off, J_QUOTED_PORT, f.icmpQuotedDstPort);
    v.setUint8(off++, 0x7d); // '}'
  }
  v.setInt16(off, 0x0a7d, true); // '}\n'
  return off + 2;
}

const I_START = new TimestampWriter(' ', 'clock');
const I_END = new TimestampWriter(' ', 'clock');
const I_TALKERS = [ascii(' 1 1\n'), ascii(' 1 2\n'), ascii(' 2 1\n'), ascii(' 2 2\n')];

/** flowToIpaudit(f) as bytes into `buf` from `off` (room: ipauditRoom(f)); returns the end. */
export function flowIpauditBytes(buf: Buffer, off: number, f: FlowRecord): number {
  const v = viewOf(buf);
  const v4 = f.ipVersion === 4;
  off = v4 ? putIPv4(v, off, f.srcAddr[3]!) : putText(buf, v, off, f.srcIp);
  v.setUint8(off++, 0x20);
  off = v4 ? putIPv4(v, off, f.dstAddr[3]!) : putText(buf, v, off, f.dstIp);
  v.setUint8(off++, 0x20);
  off = putNumber(buf, v, off, f.proto);
  v.setUint8(off++, 0x20);
  off = putNumber(buf, v, off, f.srcPort);
  v.setUint8(off++, 0x20);
  off = putNumber(buf, v, off, f.dstPort);
  v.setUint8(off++, 0x20);
  off = putNumber(buf, v, off, f.bytesToServer);
  v.setUint8(off++, 0x20);
  off = putNumber(buf, v, off, f.bytesToClient);
  v.setUint8(off++, 0x20);
  off = putNumber(buf, v, off, f.pktsToServer);
  v.setUint8(off++, 0x20);
  off = putNumber(buf, v, off, f.pktsToClient);
  off = I_START.write(buf, v, off, f.startMicros);
  off = I_END.write(buf, v, off, f.endMicros);
  return put(v, off, I_TALKERS[(f.firstTalker === 'src' ? 0 : 2) + (f.lastTalker === 'src' ? 0 : 1)]!);
}

/** Room flowIpauditBytes needs for `f` (see jsonRoom). */
function ipauditRoom(f: FlowRecord): number {
  return f.ipVersion === 4 ? 512 : 512 + 3 * (f.srcIp.length + f.dstIp.length);
}

/**
 * The flow sink's subscriber: each record written as bytes straight into the sink's
 * buffer (no string per record, nothing to encode at flush).
 */
export function flowWriter(format: FlowsFormat, sink: TextSink): FlowSubscriber {
  if (format === 'ipaudit') {
    return (f) => {
      if (sink.reserve(ipauditRoom(f))) sink.commit(flowIpauditBytes(sink.bytes, sink.length, f));
    };
  }
  return (f) => {
    if (sink.reserve(jsonRoom(f))) sink.commit(flowJsonBytes(sink.bytes, sink.length, f));
  };
}
