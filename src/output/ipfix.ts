/**
 * IPFIX export of finished flows (RFC 7011) over UDP, one biflow record per flow with the
 * reverse direction in RFC 5103 reverse elements (PEN 29305), so a collector such as
 * nfcapd gets what the NDJSON flow log has: both directions' packets, bytes and TCP flags,
 * the end reason and the VLAN ids.
 *
 * Two parts:
 * - `IpfixEncoder` writes records straight into a reused message buffer (no object per
 *   flow): message header, an optional template set, then data sets. It knows nothing of
 *   sockets, so the byte layout is tested by decoding its output (test/output/ipfix.test.ts).
 * - `IpfixExporter` owns a connected UDP socket, a bounded queue of finished messages, a
 *   token bucket that paces the sends, and the counters. It never throws on a send error:
 *   a collector that is down (ECONNREFUSED on loopback, ICMP port unreachable elsewhere)
 *   costs the records of that message and a counter, never the run.
 *
 * The flow table calls `write` once per finished flow (not per packet); nothing here runs
 * per packet.
 */
import type dgram from 'node:dgram';
import type { EndReason, FlowRecord } from '../flow/record.js';
import { UserError } from '../util/errors.js';
import { lazyModule } from '../util/lazy-module.js';

/**
 * node:dgram, node:dns and node:net, loaded on first use (a --ipfix target to check or an
 * exporter to open): every replay and every flow-end worker imports this module, and
 * loading those three cost 5-7 ms of start-up per thread on the session 8 VM.
 */
const dgramModule = lazyModule<typeof import('node:dgram')>('node:dgram');
const dnsModule = lazyModule<typeof import('node:dns')>('node:dns');
const netModule = lazyModule<typeof import('node:net')>('node:net');

/** IANA port for IPFIX over UDP (RFC 7011 §10.3.4; nfcapd's own default is 9995). */
export const IPFIX_DEFAULT_PORT = 4739;
/** RFC 5103 §6: the Private Enterprise Number of the reverse information elements. */
export const REVERSE_PEN = 29305;

export const IPFIX_VERSION = 10;
export const SET_ID_TEMPLATE = 2;

/** Template ids (>= 256, RFC 7011 §3.4.1): one per address family and ICMP-or-not. */
export const TEMPLATE_V4 = 256;
export const TEMPLATE_V6 = 257;
export const TEMPLATE_V4_ICMP = 258;
export const TEMPLATE_V6_ICMP = 259;

/**
 * flowEndReason values (IANA IPFIX registry, IE 136): 1 idle timeout, 2 active timeout,
 * 3 end of flow detected (FIN/RST), 4 forced end (shutdown), 5 lack of resources (the
 * table was full and the LRU flow had to leave).
 */
export const FLOW_END_REASON: Readonly<Record<EndReason, number>> = {
  idle: 1,
  active: 2,
  fin: 3,
  rst: 3,
  shutdown: 4,
  capacity: 5,
};

// What a template field is filled from (a switch in writeRecord; one table, no closures).
const K_SRC4 = 0;
const K_DST4 = 1;
const K_SRC6 = 2;
const K_DST6 = 3;
const K_SRC_PORT = 4;
const K_DST_PORT = 5;
const K_PROTO = 6;
const K_START_MS = 7;
const K_END_MS = 8;
const K_BYTES = 9;
const K_PKTS = 10;
const K_REV_BYTES = 11;
const K_REV_PKTS = 12;
const K_FLAGS_UNION = 13;
const K_REV_FLAGS = 14;
const K_END_REASON = 15;
const K_VLAN = 16;
const K_VLAN_INNER = 17;
const K_ICMP_TYPE_CODE = 18;

export interface TemplateField {
  /** Information element id (without the enterprise bit). */
  readonly ie: number;
  /** Private Enterprise Number; 0 for IANA elements. */
  readonly pen: number;
  readonly length: number;
  readonly name: string;
  readonly kind: number;
}

const f = (ie: number, pen: number, length: number, name: string, kind: number): TemplateField => ({ ie, pen, length, name, kind });

function fieldsFor(v6: boolean, icmp: boolean): TemplateField[] {
  const out: TemplateField[] = v6
    ? [f(27, 0, 16, 'sourceIPv6Address', K_SRC6), f(28, 0, 16, 'destinationIPv6Address', K_DST6)]
    : [f(8, 0, 4, 'sourceIPv4Address', K_SRC4), f(12, 0, 4, 'destinationIPv4Address', K_DST4)];
  // ICMP flows carry no ports: the tool's flow key uses the echo identifier as a port, but
  // IPFIX has no element for it, and nfdump shows ICMP type/code in the port column.
  if (!icmp) out.push(f(7, 0, 2, 'sourceTransportPort', K_SRC_PORT), f(11, 0, 2, 'destinationTransportPort', K_DST_PORT));
  out.push(
    f(4, 0, 1, 'protocolIdentifier', K_PROTO),
    f(152, 0, 8, 'flowStartMilliseconds', K_START_MS),
    f(153, 0, 8, 'flowEndMilliseconds', K_END_MS),
    f(1, 0, 8, 'octetDeltaCount', K_BYTES),
    f(2, 0, 8, 'packetDeltaCount', K_PKTS),
    f(1, REVERSE_PEN, 8, 'reverseOctetDeltaCount', K_REV_BYTES),
    f(2, REVERSE_PEN, 8, 'reversePacketDeltaCount', K_REV_PKTS),
  );
  if (!icmp) {
    // The reverse flags come before the forward ones on purpose: nfdump 1.7 maps reverse
    // elements it has no reverse slot for (everything but the counters) onto the forward
    // element, so the value written last wins; this order leaves nfdump's flags column
    // with the union, as the NDJSON `tcp_flags` has it. Two octets: RFC 7125 made
    // tcpControlBits 16 bits wide (flags in the low byte).
    out.push(f(6, REVERSE_PEN, 2, 'reverseTcpControlBits', K_REV_FLAGS), f(6, 0, 2, 'tcpControlBits', K_FLAGS_UNION));
  }
  out.push(
    f(136, 0, 1, 'flowEndReason', K_END_REASON),
    f(58, 0, 2, 'vlanId', K_VLAN),
    f(245, 0, 2, 'dot1qCustomerVlanId', K_VLAN_INNER),
  );
  if (icmp) out.push(v6 ? f(139, 0, 2, 'icmpTypeCodeIPv6', K_ICMP_TYPE_CODE) : f(32, 0, 2, 'icmpTypeCodeIPv4', K_ICMP_TYPE_CODE));
  return out;
}

export interface Template {
  readonly id: number;
  readonly fields: readonly TemplateField[];
  /** Bytes of one data record. */
  readonly recordLength: number;
}

function makeTemplate(id: number, v6: boolean, icmp: boolean): Template {
  const fields = fieldsFor(v6, icmp);
  return { id, fields, recordLength: fields.reduce((s, x) => s + x.length, 0) };
}

/** The four templates, by id. */
export const TEMPLATES: readonly Template[] = [
  makeTemplate(TEMPLATE_V4, false, false),
  makeTemplate(TEMPLATE_V6, true, false),
  makeTemplate(TEMPLATE_V4_ICMP, false, true),
  makeTemplate(TEMPLATE_V6_ICMP, true, true),
];

function templateRecordBytes(t: Template): number {
  let n = 4;
  for (const x of t.fields) n += x.pen ? 8 : 4;
  return n;
}

/** The template set as sent: set header plus the four template records. */
const TEMPLATE_SET_BYTES = 4 + TEMPLATES.reduce((s, t) => s + templateRecordBytes(t), 0);

const HEADER_BYTES = 16;
const SET_HEADER_BYTES = 4;
const TWO_32 = 4294967296;

/**
 * 1400 bytes keeps a message inside one 1500-byte Ethernet frame with room for IP/UDP
 * headers and a tunnel header (RFC 7011 §10.3.3: an IPFIX message over UDP must not be
 * fragmented, so it stays under the path MTU). 19 IPv4 or 14 IPv6 biflow records fit.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1400;

export interface IpfixEncoderOptions {
  observationDomainId: number;
  maxMessageBytes: number;
  /** Templates go out with the first message and then every this many messages ... */
  templateRefreshMessages: number;
  /** ... or when this many seconds have passed since they last went out, whichever first. */
  templateRefreshSeconds: number;
}

/**
 * Builds IPFIX messages. `add` writes one record; when a message is full it is handed to
 * `onMessage(buf, length, records)` and the encoder starts the next one in a buffer from
 * `takeBuffer()` (so the exporter can keep the finished one until its send completes).
 */
export class IpfixEncoder {
  readonly options: IpfixEncoderOptions;
  /** RFC 7011 §3.1: data records sent before this message, modulo 2^32. */
  sequence = 0;
  /** Messages finished so far. */
  messages = 0;
  private buf: Buffer;
  private pos = 0;
  private setStart = -1;
  private setTemplate = 0;
  private recordsInMessage = 0;
  private messagesSinceTemplates = Infinity;
  private templatesSentAtMs = -Infinity;
  /** Wall time (ms) the current message got its first record, for the flush timer. */
  firstRecordAtMs = 0;

  constructor(
    options: IpfixEncoderOptions,
    private readonly takeBuffer: () => Buffer,
    private readonly onMessage: (buf: Buffer, length: number, records: number) => void,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.options = options;
    const minBytes = HEADER_BYTES + TEMPLATE_SET_BYTES + SET_HEADER_BYTES + Math.max(...TEMPLATES.map((t) => t.recordLength));
    if (options.maxMessageBytes < minBytes || options.maxMessageBytes > 65535) {
      throw new RangeError(`IPFIX maxMessageBytes must be ${minBytes}..65535`);
    }
    this.buf = takeBuffer();
  }

  /** Records in the message being built (not yet handed on). */
  get pendingRecords(): number {
    return this.recordsInMessage;
  }

  add(flow: FlowRecord): void {
    const icmp = flow.proto === 1 || flow.proto === 58;
    const t = TEMPLATES[(flow.ipVersion === 6 ? 1 : 0) + (icmp ? 2 : 0)]!;
    const need = t.recordLength + (this.setTemplate === t.id ? 0 : SET_HEADER_BYTES);
    if (this.pos === 0) this.begin();
    else if (this.pos + need > this.options.maxMessageBytes) {
      this.finishMessage();
      this.begin();
    }
    if (this.setTemplate !== t.id) this.openSet(t.id);
    if (this.recordsInMessage === 0) this.firstRecordAtMs = this.nowMs();
    this.pos = writeRecord(this.buf, this.pos, t, flow);
    this.recordsInMessage++;
  }

  /** Hand on the message being built, if it has any record. */
  flush(): void {
    if (this.recordsInMessage > 0) this.finishMessage();
  }

  private begin(): void {
    this.pos = HEADER_BYTES;
    this.setStart = -1;
    this.setTemplate = 0;
    this.recordsInMessage = 0;
    const now = this.nowMs();
    const o = this.options;
    if (this.messagesSinceTemplates >= o.templateRefreshMessages || now - this.templatesSentAtMs >= o.templateRefreshSeconds * 1000) {
      this.pos = writeTemplateSet(this.buf, this.pos);
      this.messagesSinceTemplates = 0;
      this.templatesSentAtMs = now;
    }
  }

  private openSet(templateId: number): void {
    this.closeSet();
    this.setStart = this.pos;
    this.setTemplate = templateId;
    this.buf.writeUInt16BE(templateId, this.pos);
    this.pos += SET_HEADER_BYTES; // length filled by closeSet
  }

  private closeSet(): void {
    if (this.setStart >= 0) this.buf.writeUInt16BE(this.pos - this.setStart, this.setStart + 2);
    this.setStart = -1;
  }

  private finishMessage(): void {
    this.closeSet();
    const b = this.buf;
    b.writeUInt16BE(IPFIX_VERSION, 0);
    b.writeUInt16BE(this.pos, 2);
    // Export time: when the message leaves (RFC 7011 §3.1), wall clock in seconds.
    b.writeUInt32BE(Math.floor(this.nowMs() / 1000) >>> 0, 4);
    b.writeUInt32BE(this.sequence, 8);
    b.writeUInt32BE(this.options.observationDomainId >>> 0, 12);
    const length = this.pos;
    const records = this.recordsInMessage;
    this.sequence = (this.sequence + records) >>> 0;
    this.messages++;
    this.messagesSinceTemplates++;
    this.pos = 0;
    this.recordsInMessage = 0;
    this.setTemplate = 0;
    this.onMessage(b, length, records);
    this.buf = this.takeBuffer();
  }
}

function writeTemplateSet(b: Buffer, at: number): number {
  b.writeUInt16BE(SET_ID_TEMPLATE, at);
  b.writeUInt16BE(TEMPLATE_SET_BYTES, at + 2);
  let p = at + 4;
  for (const t of TEMPLATES) {
    b.writeUInt16BE(t.id, p);
    b.writeUInt16BE(t.fields.length, p + 2);
    p += 4;
    for (const x of t.fields) {
      b.writeUInt16BE(x.pen ? x.ie | 0x8000 : x.ie, p);
      b.writeUInt16BE(x.length, p + 2);
      p += 4;
      if (x.pen) {
        b.writeUInt32BE(x.pen, p);
        p += 4;
      }
    }
  }
  return p;
}

/** An unsigned 64-bit field from a JS number (exact below 2^53) without a BigInt. */
function writeU64(b: Buffer, at: number, v: number): void {
  const n = v > 0 ? Math.floor(v) : 0;
  b.writeUInt32BE(Math.floor(n / TWO_32) >>> 0, at);
  b.writeUInt32BE(n % TWO_32, at + 4);
}

function writeAddr6(b: Buffer, at: number, w: Uint32Array): void {
  b.writeUInt32BE(w[0]!, at);
  b.writeUInt32BE(w[1]!, at + 4);
  b.writeUInt32BE(w[2]!, at + 8);
  b.writeUInt32BE(w[3]!, at + 12);
}

function writeRecord(b: Buffer, at: number, t: Template, flow: FlowRecord): number {
  let p = at;
  for (const x of t.fields) {
    switch (x.kind) {
      case K_SRC4: b.writeUInt32BE(flow.srcAddr[3]!, p); break;
      case K_DST4: b.writeUInt32BE(flow.dstAddr[3]!, p); break;
      case K_SRC6: writeAddr6(b, p, flow.srcAddr); break;
      case K_DST6: writeAddr6(b, p, flow.dstAddr); break;
      case K_SRC_PORT: b.writeUInt16BE(flow.srcPort & 0xffff, p); break;
      case K_DST_PORT: b.writeUInt16BE(flow.dstPort & 0xffff, p); break;
      case K_PROTO: b[p] = flow.proto; break;
      // Milliseconds since the epoch, truncated (the flow log keeps the microseconds).
      case K_START_MS: writeU64(b, p, flow.startMicros / 1000); break;
      case K_END_MS: writeU64(b, p, flow.endMicros / 1000); break;
      case K_BYTES: writeU64(b, p, flow.bytesToServer); break;
      case K_PKTS: writeU64(b, p, flow.pktsToServer); break;
      case K_REV_BYTES: writeU64(b, p, flow.bytesToClient); break;
      case K_REV_PKTS: writeU64(b, p, flow.pktsToClient); break;
      case K_FLAGS_UNION: b.writeUInt16BE(flow.tcpFlags & 0xff, p); break;
      case K_REV_FLAGS: b.writeUInt16BE(flow.tcpFlagsToClient & 0xff, p); break;
      case K_END_REASON: b[p] = FLOW_END_REASON[flow.endReason]; break;
      case K_VLAN: b.writeUInt16BE(flow.vlans.length > 0 ? flow.vlans[0]! & 0xfff : 0, p); break;
      case K_VLAN_INNER: b.writeUInt16BE(flow.vlans.length > 1 ? flow.vlans[1]! & 0xfff : 0, p); break;
      case K_ICMP_TYPE_CODE:
        b.writeUInt16BE(flow.icmpType >= 0 ? ((flow.icmpType & 0xff) << 8) | (flow.icmpCode & 0xff) : 0, p);
        break;
      default: throw new Error(`IPFIX template field kind ${x.kind} has no writer`);
    }
    p += x.length;
  }
  return p;
}

// ---------------------------------------------------------------------------------------
// The exporter: socket, queue, pacing, counters.

export interface IpfixTarget {
  host: string;
  port: number;
}

export interface IpfixExporterOptions extends IpfixTarget, Partial<IpfixEncoderOptions> {
  /**
   * Sends are paced to at most this many messages per second (a token bucket of
   * `burstMessages`). UDP has no flow control and a collector's socket buffer is small
   * (Linux default 208 KiB: ~90 datagrams of 1400 bytes), so the pacer is the exporter's
   * only brake. The default, 20,000 messages/s (~380,000 flows/s), is above anything a
   * replay produced here: nfcapd on this 2-core box took a 200,000-flow churn replay and a
   * 10,004-flow end-of-run burst unpaced without losing a record (docs/ipfix.md), so the
   * pacer is a safety cap for slower collectors and links, not a measured necessity.
   * 0 = unpaced.
   */
  messagesPerSecond?: number;
  burstMessages?: number;
  /** Finished messages waiting for the pacer; beyond this, new messages are dropped and counted. */
  maxQueuedMessages?: number;
  /** A partly filled message leaves at most this long after its first record (live sensor). */
  flushIntervalMs?: number;
}

/** Defaults; docs/ipfix.md has the loss and overhead figures measured with them. */
export const DEFAULT_EXPORTER_OPTIONS = {
  observationDomainId: 1,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  // RFC 6728 recommends a 600 s templateRefreshTimeout; the message count (20, the
  // NetStream v9 default) makes a collector restarted mid-replay learn them again soon.
  templateRefreshMessages: 20,
  templateRefreshSeconds: 600,
  messagesPerSecond: 20_000,
  burstMessages: 32,
  maxQueuedMessages: 8192,
  flushIntervalMs: 1000,
};

export interface IpfixStats {
  collector: string;
  messages_sent: number;
  records_sent: number;
  /** Messages whose send failed (collector down: ECONNREFUSED, unreachable, ...). */
  send_errors: number;
  /** errno code -> failures. */
  send_error_codes: Record<string, number>;
  /** Records lost: in failed sends and in messages dropped on a full queue. */
  records_lost: number;
  messages_dropped_queue_full: number;
}

/** "HOST:PORT", "[v6]:PORT", "HOST" (port 4739) -> target; a bad one is a UserError. */
export function parseIpfixTarget(text: string, what = '--ipfix'): IpfixTarget {
  let host = text;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if (text.split(':').length === 2) {
    [host, portText] = text.split(':') as [string, string];
  } else if (text.includes(':') && netModule().isIPv6(text)) {
    host = text;
  }
  const port = portText === undefined ? IPFIX_DEFAULT_PORT : Number(portText);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError('E_USAGE', `${what} must be HOST:PORT (e.g. 127.0.0.1:4739 or [::1]:4739), got "${text}"`);
  }
  return { host, port };
}

export class IpfixExporter {
  readonly target: IpfixTarget;
  readonly encoder: IpfixEncoder;
  private socket: dgram.Socket | null = null;
  /** The connected socket; null until connected, and for good if connecting failed. */
  private sendSocket: dgram.Socket | null = null;
  private ready = false;
  private closed = false;
  private readonly maxMessageBytes: number;
  private readonly pool: Buffer[] = [];
  // Finished messages, oldest first (waiting for the pacer or the socket).
  private readonly queue: Buffer[] = [];
  private readonly queueLengths: number[] = [];
  private readonly queueRecords: number[] = [];
  // Sent and not yet called back; libuv completes UDP sends in order, so one bound callback
  // releases the oldest (no closure per send).
  private readonly inFlight: Buffer[] = [];
  private readonly inFlightRecords: number[] = [];
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxQueued: number;
  private tokens: number;
  private lastRefillMs = 0;
  private drainTimer: NodeJS.Timeout | null = null;
  private readonly flushTimer: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];
  private readonly stats_: IpfixStats;

  constructor(options: IpfixExporterOptions) {
    const o = { ...DEFAULT_EXPORTER_OPTIONS, ...stripUndefined(options) };
    this.target = { host: options.host, port: options.port };
    this.maxMessageBytes = o.maxMessageBytes;
    this.rate = o.messagesPerSecond;
    this.burst = Math.max(1, o.burstMessages);
    this.tokens = this.burst;
    this.maxQueued = o.maxQueuedMessages;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.stats_ = {
      collector: `${host}:${options.port}`,
      messages_sent: 0,
      records_sent: 0,
      send_errors: 0,
      send_error_codes: {},
      records_lost: 0,
      messages_dropped_queue_full: 0,
    };
    this.encoder = new IpfixEncoder(
      {
        observationDomainId: o.observationDomainId,
        maxMessageBytes: o.maxMessageBytes,
        templateRefreshMessages: o.templateRefreshMessages,
        templateRefreshSeconds: o.templateRefreshSeconds,
      },
      this.takeBuffer,
      this.enqueue,
    );
    // One coarse timer for the whole exporter (not one per message): a live sensor with
    // few flows still gets each record out within about flushIntervalMs.
    const interval = o.flushIntervalMs;
    this.flushTimer = setInterval(() => {
      if (this.encoder.pendingRecords > 0 && Date.now() - this.encoder.firstRecordAtMs >= interval) {
        this.encoder.flush();
      }
    }, Math.max(50, Math.floor(interval / 2)));
    this.flushTimer.unref();
    this.open();
  }

  /** The flow-table subscriber: one record per finished flow. */
  readonly write = (flow: FlowRecord): void => {
    if (this.closed) return;
    this.encoder.add(flow);
  };

  stats(): IpfixStats {
    return { ...this.stats_, send_error_codes: { ...this.stats_.send_error_codes } };
  }

  /** Send what is left, wait for every send to complete, close the socket. Never throws. */
  async close(): Promise<IpfixStats> {
    if (!this.closed) {
      this.encoder.flush();
      this.closed = true;
      clearInterval(this.flushTimer);
      await this.waitIdle();
      if (this.drainTimer) clearTimeout(this.drainTimer);
      const s = this.socket;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    return this.stats();
  }

  private open(): void {
    const { host, port } = this.target;
    const dgram = dgramModule();
    const dns = dnsModule();
    const net = netModule();
    const connect = (address: string, family: number) => {
      const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      this.socket = s;
      // Asynchronous errors (ICMP port unreachable reported on a connected socket) arrive
      // here; they are counted, never fatal.
      s.on('error', (err: NodeJS.ErrnoException) => {
        this.countError(err, 0);
        if (!this.ready) {
          // connect() itself failed: nothing can be sent; what is queued counts as lost.
          this.sendSocket = null;
          this.ready = true;
          this.drain();
        }
      });
      s.connect(port, address, () => {
        this.sendSocket = s;
        this.ready = true;
        this.drain();
      });
    };
    const family = net.isIP(host);
    if (family) {
      connect(host, family);
      return;
    }
    dns.lookup(host, (err, address, fam) => {
      if (err) {
        // Nothing can be sent: every queued and later message counts as lost.
        this.countError(err, 0);
        this.ready = true;
        this.drain();
        return;
      }
      connect(address, fam);
    });
  }

  private readonly takeBuffer = (): Buffer => this.pool.pop() ?? Buffer.allocUnsafe(this.maxMessageBytes);

  private readonly enqueue = (buf: Buffer, length: number, records: number): void => {
    if (this.queue.length >= this.maxQueued) {
      this.stats_.messages_dropped_queue_full++;
      this.stats_.records_lost += records;
      this.pool.push(buf);
      return;
    }
    this.queue.push(buf);
    this.queueLengths.push(length);
    this.queueRecords.push(records);
    this.drain();
  };

  private refill(): void {
    if (this.rate <= 0) {
      this.tokens = Infinity;
      return;
    }
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefillMs) * this.rate) / 1000);
    this.lastRefillMs = now;
  }

  private readonly drain = (): void => {
    this.drainTimer = null;
    if (!this.ready) return;
    const s = this.sendSocket;
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      const buf = this.queue.shift()!;
      const length = this.queueLengths.shift()!;
      const records = this.queueRecords.shift()!;
      this.tokens -= 1;
      if (!s) {
        // The collector's name did not resolve or connect failed: counted as lost.
        this.stats_.records_lost += records;
        this.pool.push(buf);
        continue;
      }
      this.inFlight.push(buf);
      this.inFlightRecords.push(records);
      try {
        s.send(buf, 0, length, this.onSent);
      } catch (err) {
        this.onSent(err as Error);
      }
    }
    if (this.queue.length > 0 && !this.drainTimer) {
      // Wait for one token (at least 1 ms: a timer cannot be finer).
      this.drainTimer = setTimeout(this.drain, Math.max(1, Math.ceil(1000 / this.rate)));
    }
    this.checkIdle();
  };

  private readonly onSent = (err: Error | null): void => {
    const buf = this.inFlight.shift();
    const records = this.inFlightRecords.shift() ?? 0;
    if (buf) this.pool.push(buf);
    if (err) this.countError(err as NodeJS.ErrnoException, records);
    else {
      this.stats_.messages_sent++;
      this.stats_.records_sent += records;
    }
    this.checkIdle();
  };

  private countError(err: NodeJS.ErrnoException, records: number): void {
    const code = err.code ?? 'ERROR';
    this.stats_.send_errors++;
    this.stats_.send_error_codes[code] = (this.stats_.send_error_codes[code] ?? 0) + 1;
    this.stats_.records_lost += records;
  }

  private waitIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.drain();
    });
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.inFlight.length === 0;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of w) resolve();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * The exporter options of a command: `--ipfix HOST:PORT` (and `--ipfix-domain N`) over the
 * config's `outputs.ipfix`; null when neither asks for export. For replay and live alike.
 */
export function ipfixOptions(
  command: string,
  config: { collector: string; observationDomainId: number; templateRefreshMessages: number; templateRefreshSeconds: number; messagesPerSecond: number } | null,
  cliTarget: string | undefined,
  cliDomain: string | undefined,
): IpfixExporterOptions | null {
  if (cliTarget === undefined && !config) {
    if (cliDomain !== undefined) throw new UserError('E_USAGE', `${command}: --ipfix-domain needs --ipfix HOST:PORT (or outputs.ipfix in the config)`);
    return null;
  }
  const target = parseIpfixTarget(cliTarget ?? config!.collector, cliTarget !== undefined ? `${command}: --ipfix` : 'outputs.ipfix.collector');
  let observationDomainId = config?.observationDomainId ?? DEFAULT_EXPORTER_OPTIONS.observationDomainId;
  if (cliDomain !== undefined) {
    const n = Number(cliDomain);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new UserError('E_USAGE', `${command}: --ipfix-domain must be an integer 0..4294967295, got "${cliDomain}"`);
    }
    observationDomainId = n;
  }
  return {
    ...target,
    observationDomainId,
    ...(config
      ? {
          templateRefreshMessages: config.templateRefreshMessages,
          templateRefreshSeconds: config.templateRefreshSeconds,
          messagesPerSecond: config.messagesPerSecond,
        }
      : {}),
  };
}
