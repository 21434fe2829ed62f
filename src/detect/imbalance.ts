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
import { z } from 'zod';
import { nonNegativeInt, portList, positiveInt, seconds } from '../config/fields.js';
import type { FlowRecord } from '../flow/record.js';
import { humanBytes, transportName } from './human.js';
import type { BoundedTable, Detector, DetectorContext, DetectorModule, Severity } from './types.js';

export const imbalanceSchema = z.strictObject({
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
export type ImbalanceConfig = z.infer<typeof imbalanceSchema>;

const ROLE_CLIENT = 0;
const ROLE_SERVER = 1;

interface HostVolume {
  firstMicros: number;
  lastMicros: number;
  bytesOut: number;
  bytesIn: number;
  flows: number;
  /** Distinct peers, at most maxPeersPerHost (64): a short array beats a Set per host here. */
  peers: string[];
  /**
   * Space-Saving slots (at most portsPerHost): key = role << 24 | proto << 16 | port.
   * Plain arrays that grow by push: most hosts use one or two slots, and four typed
   * arrays per new host cost ~1.7 us of allocation per flow on the churn bench.
   */
  nPorts: number;
  portKey: number[];
  portOut: number[];
  portIn: number[];
  portFlows: number[];
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
    const hosts: BoundedTable<string, HostVolume> = ctx.table('hosts', config.maxTrackedHosts);
    const web = new Set(config.webPorts);
    const mail = new Set(config.mailPorts);
    const ftp = new Set(config.ftpPorts);
    let windowStartMicros = -1;

    function account(ip: string, peer: string, role: number, proto: number, port: number,
      out: number, inb: number, start: number, end: number): void {
      let h = hosts.get(ip);
      if (h === undefined) {
        h = { firstMicros: start, lastMicros: end, bytesOut: 0, bytesIn: 0, flows: 0, peers: [], nPorts: 0,
          portKey: [], portOut: [], portIn: [], portFlows: [] };
        hosts.set(ip, h);
      }
      if (start < h.firstMicros) h.firstMicros = start;
      if (end > h.lastMicros) h.lastMicros = end;
      h.bytesOut += out;
      h.bytesIn += inb;
      h.flows++;
      if (h.peers.length < config.maxPeersPerHost && !h.peers.includes(peer)) h.peers.push(peer);
      const key = (role << 24) | (proto << 16) | port;
      let slot = -1;
      for (let i = 0; i < h.nPorts; i++) if (h.portKey[i] === key) { slot = i; break; }
      if (slot < 0) {
        if (h.nPorts < k) {
          slot = h.nPorts++;
          h.portKey.push(key);
          h.portOut.push(0);
          h.portIn.push(0);
          h.portFlows.push(0);
        } else {
          // Space-Saving: the smallest counter gives up its slot and the newcomer inherits
          // its count (an over-estimate bounded by the smallest count).
          slot = 0;
          for (let i = 1; i < k; i++) if (h.portOut[i]! + h.portIn[i]! < h.portOut[slot]! + h.portIn[slot]!) slot = i;
          h.portKey[slot] = key;
        }
      }
      h.portOut[slot] = h.portOut[slot]! + out;
      h.portIn[slot] = h.portIn[slot]! + inb;
      h.portFlows[slot] = h.portFlows[slot]! + 1;
    }

    function topPorts(h: HostVolume, outbound: boolean): PortShare[] {
      const rows: PortShare[] = [];
      for (let i = 0; i < h.nPorts; i++) {
        const key = h.portKey[i]!;
        rows.push({ port: key & 0xffff, proto: transportName((key >> 16) & 0xff), role: key >> 24 === ROLE_SERVER ? 'server' : 'client',
          bytes_out: h.portOut[i]!, bytes_in: h.portIn[i]!, flows: h.portFlows[i]! });
      }
      rows.sort((a, b) => (outbound ? b.bytes_out - a.bytes_out : b.bytes_in - a.bytes_in));
      return rows.slice(0, 5);
    }

    /** Likely cause and severity from the ports carrying the dominant direction. */
    function cause(h: HostVolume, outbound: boolean): { cause: string; hint: string; severity: Severity } {
      if (!outbound) {
        return { cause: 'inbound-flood-or-bulk-download', hint: 'receiving far more than it sends: a flood target or bulk downloads', severity: 2 };
      }
      let total = 0;
      let mailBytes = 0;
      let webBytes = 0;
      let highBytes = 0;
      let ftpServer = false;
      for (let i = 0; i < h.nPorts; i++) {
        const key = h.portKey[i]!;
        const port = key & 0xffff;
        const server = key >> 24 === ROLE_SERVER;
        const b = h.portOut[i]!;
        total += b;
        if (mail.has(port)) mailBytes += b;
        if (server && web.has(port)) webBytes += b;
        if (server && ftp.has(port)) ftpServer = true;
        if (port >= 1024 && !web.has(port)) highBytes += b;
      }
      const half = total / 2;
      if (mailBytes >= half) return { cause: 'mail-relay', hint: 'mail relay: possible spam', severity: 3 };
      if (ftpServer) return { cause: 'ftp-server', hint: 'FTP server: possible warez site', severity: 3 };
      if (webBytes >= half) return { cause: 'web-server', hint: 'web server: possible command execution, defacement or file serving', severity: 3 };
      if (h.peers.length >= config.p2pMinPeers && highBytes >= half) {
        return { cause: 'p2p-or-bot', hint: `many peers on high ports: P2P or bot workstation`, severity: 2 };
      }
      return { cause: 'unclassified', hint: 'cause not recognised from its ports', severity: 2 };
    }

    function evaluate(): void {
      for (const [ip, h] of hosts.entries()) {
        const outbound = h.bytesOut >= config.minOutboundBytes && h.bytesOut >= config.minRatio * h.bytesIn;
        const inbound = !outbound && h.bytesIn >= config.minInboundBytes && h.bytesIn >= config.minRatio * h.bytesOut;
        if (!outbound && !inbound) continue;
        const c = cause(h, outbound);
        const big = outbound ? h.bytesOut : h.bytesIn;
        const small = outbound ? h.bytesIn : h.bytesOut;
        const ratio = small === 0 ? null : Math.round((big / small) * 10) / 10;
        const top = topPorts(h, outbound);
        const lead = top[0];
        const via = lead ? ` mostly ${lead.role === 'server' ? 'serving' : 'to'} ${lead.proto}/${lead.port}` : '';
        const peers = h.peers.length >= config.maxPeersPerHost ? `${h.peers.length}+` : String(h.peers.length);
        ctx.emit({
          ruleId: 'traffic.imbalance',
          severity: c.severity,
          message: `${ip} sent ${humanBytes(h.bytesOut)} and received ${humanBytes(h.bytesIn)} in ${((h.lastMicros - h.firstMicros) / 3.6e9).toFixed(1)} h (${ratio === null ? 'nothing back' : `ratio ${ratio}`}),${via} to ${peers} peers: ${c.hint}`,
          timestampMicros: h.lastMicros,
          startMicros: h.firstMicros,
          endMicros: h.lastMicros,
          sourceIp: ip,
          ...(lead ? { destinationPort: lead.port, transport: lead.proto } : {}),
          evidence: {
            direction: outbound ? 'outbound' : 'inbound',
            bytes_out: h.bytesOut,
            bytes_in: h.bytesIn,
            ratio,
            flows: h.flows,
            peers: h.peers.length,
            top_ports: top,
            cause: c.cause,
            window_seconds: config.windowSeconds,
          },
          suppressKey: outbound ? 'out' : 'in',
        });
      }
      hosts.clear();
    }

    return {
      onFlowEnd(flow: FlowRecord): void {
        if (windowStartMicros < 0) windowStartMicros = flow.endMicros;
        const srcLocal = ctx.isLocal(flow.srcIp);
        const dstLocal = ctx.isLocal(flow.dstIp);
        if (!srcLocal && !dstLocal) return;
        const proto = flow.proto;
        if (srcLocal) {
          // The local host started the flow: normally a client of the remote port. Active
          // FTP data (the server connects from 20 to the client's high port) and other
          // well-known-port-to-high-port starts are the local host serving.
          const serving = flow.srcPort < 1024 && flow.dstPort >= 1024;
          account(flow.srcIp, flow.dstIp, serving ? ROLE_SERVER : ROLE_CLIENT, proto, serving ? flow.srcPort : flow.dstPort,
            flow.bytesToServer, flow.bytesToClient, flow.startMicros, flow.endMicros);
        }
        if (dstLocal) {
          account(flow.dstIp, flow.srcIp, ROLE_SERVER, proto, flow.dstPort,
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
