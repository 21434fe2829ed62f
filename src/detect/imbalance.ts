/**
 * traffic.imbalance (SPEC §4): a LOCAL host whose outbound volume dwarfs its inbound (or
 * the reverse) over a window, with the likely cause named from its busiest ports.
 *
 * Anchor: JANET CSIRT guidance on "Unusual traffic": a host on a member site sending far
 * more than it receives is typically a compromised web server (command execution, a
 * defacement or a file store), a mail relay sending spam (tcp/25 to many destinations),
 * an FTP server turned warez site (20/21), or a workstation running P2P or a bot.
 *
 * Per local host, per window: bytes out/in, flows, distinct peers, and per-port bytes in
 * a fixed-size heavy-hitter list (Space-Saving, Metwally, Agrawal and El Abbadi, 2005:
 * k counters find every port with more than 1/k of the traffic), so a host talking on
 * thousands of ports costs the same memory as one on two. Evaluated when the window
 * closes on packet time, and at end of input.
 */
import type { z } from 'zod';
import { addrHash32 } from '../util/hash.js';
import { Slab } from '../util/slab.js';
import type { SchemaKit } from '../config/fields.js';
import { dstHostKey, hostKeyText, srcHostKey, type FlowRecord, type HostKey } from '../flow/record.js';
import { humanBytes, transportName } from './human.js';
import type { BoundedTable, Detector, DetectorContext, DetectorModule, Severity } from './types.js';

export function imbalanceSchema({ z, nonNegativeInt, portList, positiveInt, seconds }: SchemaKit) {
  return z.strictObject({
    /** Window, packet time. One hour, as JANET reports and IPAudit's hourly periods. */
    windowSeconds: seconds(3600),
    /**
     * Outbound bytes (IP length) the dominant side needs in the window. 500 MB/h is about
     * 1.1 Mbit/s sustained for a whole hour: far above what a workstation uploads and small
     * next to a university's Gbit/s link, so only hosts that really serve bulk data reach it.
     */
    minOutboundBytes: positiveInt(500_000_000),
    /**
     * Inbound is the normal imbalance of a client (an HD video stream is about 3 GB/h), so
     * the reverse case needs ten times more: 5 GB/h (about 11 Mbit/s for an hour).
     */
    minInboundBytes: positiveInt(5_000_000_000),
    /** How many times the dominant direction must exceed the other ("dwarfs"). */
    minRatio: positiveInt(10),
    /** Distinct peers from which a high-port-heavy host reads as P2P or a bot. */
    p2pMinPeers: positiveInt(50),
    webPorts: portList([80, 443, 8000, 8080, 8443]),
    mailPorts: portList([25, 465, 587]),
    ftpPorts: portList([20, 21]),
    /** Heavy-hitter port counters per host (Space-Saving k). */
    portsPerHost: positiveInt(16),
    /** Peers counted exactly up to this many per host (then reported as "N+"): just above
     * p2pMinPeers is all the cause needs; 1024 cost up to ~670 B per flow of heap on the
     * churn bench (100k hosts x 1024 peer strings), 64 bounds it 16x lower. */
    maxPeersPerHost: nonNegativeInt(64),
    /** Local hosts tracked at once (bounded LRU; evictions counted). */
    maxTrackedHosts: positiveInt(100_000),
  });
}
export type ImbalanceConfig = z.infer<ReturnType<typeof imbalanceSchema>>;

const ROLE_CLIENT = 0;
const ROLE_SERVER = 1;

// A host's totals: a 64-byte record (five float64 fields, then int32 words), its slot
// the value of the host's table entry (the key: srcHostKey/dstHostKey, an int32 for
// IPv4). Its ports and peers: a detail record, made once the host has moved
// DETAIL_SHARE of the smaller alert floor in the window (500 kB at the defaults).
// A host that alerts has moved at least a thousand times that, so its port shares miss
// at most 0.1 % of its bytes and its peers are counted from that point on; the totals
// (bytes, flows, first and last) are exact from the first flow. Most hosts never get
// there: on the churn bench (65,536 local hosts, ~15 small flows each) every flow
// touched three or four cache lines of a 768-byte record (header, port keys, one port's
// counters, the peers): the detector alone took 743-809 ns per flow on one thread (two
// runs), account() most of it; with the totals alone 371-448.
// Float64 fields (index in float64 units from the record's start):
const F_FIRST = 0;
const F_LAST = 1;
const F_BYTES_OUT = 2;
const F_BYTES_IN = 3;
const F_FLOWS = 4;
// Int32 fields:
/** The detail record's slot + 1; 0 while the host has none. */
const I_DETAIL = 10;
/** 1 while the slot holds a host (evaluate() scans the slots before the table). */
const I_LIVE = 11;
/** Int32 words of a totals record (64 bytes). */
const HOST_WORDS = 16;
/** Share of min(minOutboundBytes, minInboundBytes) a host moves before its detail record. */
const DETAIL_SHARE = 1 / 1000;

// A detail record: int32 words (float64 counters at even words); 720 B at the defaults
// ((4 + k + 6 x portsPerHost + min(maxPeersPerHost, 64)) x 4, k rounded up to even).
// Once 65,536 hosts held records of everything, the detector had cost ~2.5 us per flow
// of the 200k-flow churn as an object with five arrays keyed by the address text, ~1.2
// as records; what remains of a detail record's cost is cache misses.
const D_PEERS = 0;
const D_PORTS = 1;
/**
 * 64-bit filter of the peers counted (one bit per peer hash): a clear bit means a new
 * peer without scanning the peer list. Most flows of the churn bench bring a new peer:
 * ~150 ns per flow less on both churn benches (1.34 -> 1.18 us on 200k flows, 1.21 ->
 * 1.07 us on 1M), when every host had its ports and peers counted.
 */
const D_PEER_FILTER = 2;
/** Port slots start here: keys (int32), then per slot float64 bytes out, bytes in, flows. */
const D_PORT_KEYS = 4;
/** Distinct peers counted in the record; beyond it (maxPeersPerHost > 64) a Set per host. */
const INLINE_PEERS = 64;
/**
 * Records come in chunks of 2^CHUNK_SHIFT, allocated as hosts arrive and never copied:
 * one buffer grown by doubling made alloc() ~70 ns per flow of the 1M-flow churn (copying
 * and faulting in 100 MB for 65,536 hosts), chunks ~25 ns.
 */
const CHUNK_SHIFT = 8;
const CHUNK_MASK = (1 << CHUNK_SHIFT) - 1;

/** Fixed-size records in chunks, with a free list: the int32 and float64 views of each chunk. */
class Records {
  readonly i32: Int32Array[] = [];
  readonly f64: Float64Array[] = [];
  private top = 0;
  private readonly free: number[] = [];
  /** Where the chunks come from (util/slab.ts: huge pages). */
  private readonly slab = new Slab();
  constructor(readonly words: number) {}

  /** Slots ever handed out (evaluate() scans them). */
  get used(): number {
    return this.top;
  }

  alloc(): number {
    let s = this.free.pop();
    if (s === undefined) {
      s = this.top++;
      if (s >> CHUNK_SHIFT === this.i32.length) {
        const words = (CHUNK_MASK + 1) * this.words;
        const { buffer, byteOffset } = this.slab.take(words * 4);
        this.i32.push(new Int32Array(buffer, byteOffset, words));
        this.f64.push(new Float64Array(buffer, byteOffset, words / 2));
      }
    }
    return s;
  }

  release(s: number): void {
    this.free.push(s);
  }

  /** Every slot free again: the next window reuses the records from the first. */
  reset(): void {
    this.top = 0;
    this.free.length = 0;
  }
}

/**
 * A peer as an int32: an IPv4 address exactly; an IPv6 address hashed to 32 bits, so two
 * IPv6 peers of one host could count as one (with 64 peers about one host in two
 * million). The count only names the cause (p2pMinPeers) and is shown; it never decides
 * whether an alert is raised.
 */
function peerKey(w: Uint32Array, ipVersion: number): number {
  return ipVersion === 4 ? w[3]! | 0 : addrHash32(w) | 0;
}

export interface PortShare {
  port: number;
  proto: string;
  role: 'server' | 'client';
  bytes_out: number;
  bytes_in: number;
  flows: number;
}

export const imbalanceModule: DetectorModule<ImbalanceConfig> = {
  id: 'imbalance',
  rules: ['traffic.imbalance'],
  schema: imbalanceSchema,
  create(config: ImbalanceConfig, ctx: DetectorContext): Detector {
    const windowMicros = config.windowSeconds * 1e6;
    const k = config.portsPerHost;
    const maxPeers = config.maxPeersPerHost;
    const inlinePeers = Math.min(maxPeers, INLINE_PEERS);
    const detailBytes = Math.min(config.minOutboundBytes, config.minInboundBytes) * DETAIL_SHARE;
    // Detail record layout for k port slots (int32 offsets; float64 fields at even offsets).
    const portCounters = D_PORT_KEYS + k + (k & 1);
    const peersAt = portCounters + 6 * k;

    const totals = new Records(HOST_WORDS);
    const details = new Records(peersAt + inlinePeers + (inlinePeers & 1));
    /** Peers past the record's INLINE_PEERS, by detail slot (only when maxPeersPerHost > 64). */
    const extraPeers = new Map<number, Set<number>>();
    // Host key -> totals slot. An evicted host's slots are reused (onEvict); a new window
    // (clear) starts the slots over.
    const hosts: BoundedTable<HostKey, number> = ctx.table('hosts', config.maxTrackedHosts, (s: number) => {
      const rec = totals.i32[s >> CHUNK_SHIFT]!;
      const r = (s & CHUNK_MASK) * HOST_WORDS;
      rec[r + I_LIVE] = 0;
      const d = rec[r + I_DETAIL]! - 1;
      if (d >= 0) {
        if (extraPeers.size > 0) extraPeers.delete(d);
        details.release(d);
      }
      totals.release(s);
    });
    const web = new Set(config.webPorts);
    const mail = new Set(config.mailPorts);
    const ftp = new Set(config.ftpPorts);
    let windowStartMicros = -1;

    function alloc(start: number, end: number): number {
      const s = totals.alloc();
      const rec = totals.i32[s >> CHUNK_SHIFT]!;
      const recF = totals.f64[s >> CHUNK_SHIFT]!;
      const r = (s & CHUNK_MASK) * HOST_WORDS;
      const f = r / 2;
      recF[f + F_FIRST] = start;
      recF[f + F_LAST] = end;
      recF[f + F_BYTES_OUT] = 0;
      recF[f + F_BYTES_IN] = 0;
      recF[f + F_FLOWS] = 0;
      rec[r + I_DETAIL] = 0;
      rec[r + I_LIVE] = 1;
      return s;
    }

    /** A detail record, no ports or peers yet. */
    function allocDetail(): number {
      const d = details.alloc();
      const rec = details.i32[d >> CHUNK_SHIFT]!;
      const r = (d & CHUNK_MASK) * details.words;
      rec[r + D_PEERS] = 0;
      rec[r + D_PORTS] = 0;
      rec[r + D_PEER_FILTER] = 0;
      rec[r + D_PEER_FILTER + 1] = 0;
      return d;
    }

    function account(host: HostKey, peer: number, role: number, proto: number, port: number,
      out: number, inb: number, start: number, end: number): void {
      let s = hosts.get(host);
      if (s === undefined) {
        s = alloc(start, end);
        hosts.set(host, s);
      }
      const hostRec = totals.i32[s >> CHUNK_SHIFT]!;
      const hostF = totals.f64[s >> CHUNK_SHIFT]!;
      const h = (s & CHUNK_MASK) * HOST_WORDS;
      const f = h / 2;
      if (start < hostF[f + F_FIRST]!) hostF[f + F_FIRST] = start;
      if (end > hostF[f + F_LAST]!) hostF[f + F_LAST] = end;
      const bytesOut = (hostF[f + F_BYTES_OUT] += out);
      const bytesIn = (hostF[f + F_BYTES_IN] += inb);
      hostF[f + F_FLOWS]!++;
      let d = hostRec[h + I_DETAIL]! - 1;
      if (d < 0) {
        if (bytesOut + bytesIn < detailBytes) return;
        d = allocDetail();
        hostRec[h + I_DETAIL] = d + 1;
      }
      const rec = details.i32[d >> CHUNK_SHIFT]!;
      const recF = details.f64[d >> CHUNK_SHIFT]!;
      const r = (d & CHUNK_MASK) * details.words;
      const nPeers = rec[r + D_PEERS]!;
      if (nPeers < maxPeers) addPeer(rec, d, r, nPeers, peer);
      const key = (role << 24) | (proto << 16) | port;
      const nPorts = rec[r + D_PORTS]!;
      let slot = -1;
      for (let i = 0; i < nPorts; i++) if (rec[r + D_PORT_KEYS + i] === key) { slot = i; break; }
      const counters = (r + portCounters) / 2;
      if (slot < 0) {
        if (nPorts < k) {
          slot = nPorts;
          rec[r + D_PORTS] = nPorts + 1;
          recF[counters + 3 * slot] = 0;
          recF[counters + 3 * slot + 1] = 0;
          recF[counters + 3 * slot + 2] = 0;
        } else {
          // Space-Saving: the smallest counter gives up its slot and the newcomer inherits
          // its count (an over-estimate bounded by the smallest count).
          slot = 0;
          for (let i = 1; i < k; i++) {
            if (recF[counters + 3 * i]! + recF[counters + 3 * i + 1]! < recF[counters + 3 * slot]! + recF[counters + 3 * slot + 1]!) slot = i;
          }
        }
        rec[r + D_PORT_KEYS + slot] = key;
      }
      recF[counters + 3 * slot] += out;
      recF[counters + 3 * slot + 1] += inb;
      recF[counters + 3 * slot + 2]!++;
    }

    function addPeer(rec: Int32Array, d: number, r: number, nPeers: number, peer: number): void {
      const bit = Math.imul(peer, 0x9e3779b1) >>> 26;
      const filter = r + D_PEER_FILTER + (bit >>> 5);
      const mask = 1 << (bit & 31);
      if (rec[filter]! & mask) {
        const at = r + peersAt;
        const inline = nPeers < inlinePeers ? nPeers : inlinePeers;
        for (let i = at; i < at + inline; i++) if (rec[i] === peer) return;
        if (nPeers > inlinePeers && extraPeers.get(d)!.has(peer)) return;
      } else {
        rec[filter] = rec[filter]! | mask;
      }
      if (nPeers < inlinePeers) {
        rec[r + peersAt + nPeers] = peer;
      } else {
        let extra = extraPeers.get(d);
        if (extra === undefined) extraPeers.set(d, (extra = new Set()));
        extra.add(peer);
      }
      rec[r + D_PEERS] = nPeers + 1;
    }

    /** The host's detail slot, -1 when it has none (it never moved detailBytes). */
    function detailOf(s: number): number {
      return totals.i32[s >> CHUNK_SHIFT]![(s & CHUNK_MASK) * HOST_WORDS + I_DETAIL]! - 1;
    }

    /** Every port counted in the host's detail record `d` (none without one). Alert time only. */
    function portRows(d: number): PortShare[] {
      const rows: PortShare[] = [];
      if (d < 0) return rows;
      const rec = details.i32[d >> CHUNK_SHIFT]!;
      const recF = details.f64[d >> CHUNK_SHIFT]!;
      const r = (d & CHUNK_MASK) * details.words;
      const counters = (r + portCounters) / 2;
      for (let i = 0; i < rec[r + D_PORTS]!; i++) {
        const key = rec[r + D_PORT_KEYS + i]!;
        rows.push({ port: key & 0xffff, proto: transportName((key >> 16) & 0xff), role: key >> 24 === ROLE_SERVER ? 'server' : 'client',
          bytes_out: recF[counters + 3 * i]!, bytes_in: recF[counters + 3 * i + 1]!, flows: recF[counters + 3 * i + 2]! });
      }
      return rows;
    }

    /** The top five ports of the dominant direction. */
    function topPorts(d: number, outbound: boolean): PortShare[] {
      const rows = portRows(d);
      rows.sort((a, b) => (outbound ? b.bytes_out - a.bytes_out : b.bytes_in - a.bytes_in));
      return rows.slice(0, 5);
    }

    /** Likely cause and severity from the ports carrying the dominant direction (detail record `d`). */
    function cause(d: number, outbound: boolean): { cause: string; hint: string; severity: Severity } {
      if (!outbound) {
        return { cause: 'inbound-flood-or-bulk-download', hint: 'receiving far more than it sends: a flood target or bulk downloads', severity: 2 };
      }
      let total = 0;
      let mailBytes = 0;
      let webBytes = 0;
      let highBytes = 0;
      let ftpServer = false;
      for (const p of portRows(d)) {
        total += p.bytes_out;
        if (mail.has(p.port)) mailBytes += p.bytes_out;
        if (p.role === 'server' && web.has(p.port)) webBytes += p.bytes_out;
        if (p.role === 'server' && ftp.has(p.port)) ftpServer = true;
        if (p.port >= 1024 && !web.has(p.port)) highBytes += p.bytes_out;
      }
      const half = total / 2;
      if (mailBytes >= half) return { cause: 'mail-relay', hint: 'mail relay: possible spam', severity: 3 };
      if (ftpServer) return { cause: 'ftp-server', hint: 'FTP server: possible warez site', severity: 3 };
      if (webBytes >= half) return { cause: 'web-server', hint: 'web server: possible command execution, defacement or file serving', severity: 3 };
      if (peersOf(d) >= config.p2pMinPeers && highBytes >= half) {
        return { cause: 'p2p-or-bot', hint: `many peers on high ports: P2P or bot workstation`, severity: 2 };
      }
      return { cause: 'unclassified', hint: 'cause not recognised from its ports', severity: 2 };
    }

    function peersOf(d: number): number {
      return d < 0 ? 0 : details.i32[d >> CHUNK_SHIFT]![(d & CHUNK_MASK) * details.words + D_PEERS]!;
    }

    /** 1 = outbound, 2 = inbound imbalance, 0 = none. */
    function direction(s: number): number {
      const f = ((s & CHUNK_MASK) * HOST_WORDS) / 2;
      const recF = totals.f64[s >> CHUNK_SHIFT]!;
      const bytesOut = recF[f + F_BYTES_OUT]!;
      const bytesIn = recF[f + F_BYTES_IN]!;
      if (bytesOut >= config.minOutboundBytes && bytesOut >= config.minRatio * bytesIn) return 1;
      return bytesIn >= config.minInboundBytes && bytesIn >= config.minRatio * bytesOut ? 2 : 0;
    }

    function evaluate(): void {
      // Walk the slots first: the table's own walk (most recently used first, the order
      // alerts are written in) follows the recency links and reads each record out of
      // order, ~60 ms for the 65,536 hosts of the churn bench against ~3 ms for the slots
      // in order, and is needed only when some host is imbalanced.
      let any = false;
      for (let s = 0; s < totals.used && !any; s++) any = totals.i32[s >> CHUNK_SHIFT]![(s & CHUNK_MASK) * HOST_WORDS + I_LIVE] === 1 && direction(s) !== 0;
      for (const [key, s] of any ? hosts.entries() : []) {
        const dir = direction(s);
        if (dir === 0) continue;
        const outbound = dir === 1;
        const recF = totals.f64[s >> CHUNK_SHIFT]!;
        const f = ((s & CHUNK_MASK) * HOST_WORDS) / 2;
        const bytesOut = recF[f + F_BYTES_OUT]!;
        const bytesIn = recF[f + F_BYTES_IN]!;
        const ip = hostKeyText(key);
        const firstMicros = recF[f + F_FIRST]!;
        const lastMicros = recF[f + F_LAST]!;
        const d = detailOf(s);
        const nPeers = peersOf(d);
        const c = cause(d, outbound);
        const big = outbound ? bytesOut : bytesIn;
        const small = outbound ? bytesIn : bytesOut;
        const ratio = small === 0 ? null : Math.round((big / small) * 10) / 10;
        const ports = topPorts(d, outbound);
        const lead = ports[0];
        const via = lead ? ` mostly ${lead.role === 'server' ? 'serving' : 'to'} ${lead.proto}/${lead.port}` : '';
        const peers = nPeers >= config.maxPeersPerHost ? `${nPeers}+` : String(nPeers);
        ctx.emit({
          ruleId: 'traffic.imbalance',
          severity: c.severity,
          message: `${ip} sent ${humanBytes(bytesOut)} and received ${humanBytes(bytesIn)} in ${((lastMicros - firstMicros) / 3.6e9).toFixed(1)} h (${ratio === null ? 'nothing back' : `ratio ${ratio}`}),${via} to ${peers} peers: ${c.hint}`,
          timestampMicros: lastMicros,
          startMicros: firstMicros,
          endMicros: lastMicros,
          sourceIp: ip,
          ...(lead ? { destinationPort: lead.port, transport: lead.proto } : {}),
          evidence: {
            direction: outbound ? 'outbound' : 'inbound',
            bytes_out: bytesOut,
            bytes_in: bytesIn,
            ratio,
            flows: recF[f + F_FLOWS]!,
            peers: nPeers,
            top_ports: ports,
            cause: c.cause,
            window_seconds: config.windowSeconds,
          },
          suppressKey: outbound ? 'out' : 'in',
        });
      }
      hosts.clear();
      totals.reset();
      details.reset();
      extraPeers.clear();
    }

    return {
      onFlowEnd(flow: FlowRecord): void {
        if (windowStartMicros < 0) windowStartMicros = flow.endMicros;
        const srcLocal = ctx.srcIsLocal(flow);
        const dstLocal = ctx.dstIsLocal(flow);
        if (!srcLocal && !dstLocal) return;
        const proto = flow.proto;
        if (srcLocal) {
          // The local host started the flow: normally a client of the remote port. Active
          // FTP data (the server connects from 20 to the client's high port) and other
          // well-known-port-to-high-port starts are the local host serving.
          const serving = flow.srcPort < 1024 && flow.dstPort >= 1024;
          account(srcHostKey(flow), peerKey(flow.dstAddr, flow.ipVersion), serving ? ROLE_SERVER : ROLE_CLIENT, proto,
            serving ? flow.srcPort : flow.dstPort, flow.bytesToServer, flow.bytesToClient, flow.startMicros, flow.endMicros);
        }
        if (dstLocal) {
          account(dstHostKey(flow), peerKey(flow.srcAddr, flow.ipVersion), ROLE_SERVER, proto, flow.dstPort,
            flow.bytesToClient, flow.bytesToServer, flow.startMicros, flow.endMicros);
        }
      },
      onTick(nowMicros: number): void {
        if (windowStartMicros >= 0 && nowMicros - windowStartMicros >= windowMicros) {
          evaluate();
          windowStartMicros = nowMicros;
        }
      },
      flush(): void {
        evaluate();
      },
    };
  },
};
