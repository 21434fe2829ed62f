/**
 * Scan detection (SPEC §4: scan.port, scan.address, scan.random). Counts only failed or
 * unanswered attempts (attempts.ts: classifyAttempt), per source, in a sliding window of
 * packet time, and raises an alert when a count crosses its threshold:
 *
 *  - scan.port: one source, one host, >= portMinPorts distinct ports failed;
 *  - scan.address: one source, one port, >= addressMinHosts distinct hosts failed
 *    (localAddressMinHosts for a local source); ICMP echo sweeps count with port "icmp echo";
 *  - scan.random: >= randomMinHosts hosts and >= randomMinPorts ports failed without a
 *    port or address scan in the window, and not peer-like (P2P is p2p.activity's).
 *
 * Thresholds: Zeek's policy/misc/scan.zeek flags 25 unique hosts on one port
 * (addr_scan_threshold = 25) and 15 unique ports on one host (port_scan_threshold = 15)
 * within 5 minutes (addr_scan_interval / port_scan_interval = 5 min). P2P ports are
 * skipped (skipPorts), like scan.zeek's skip lists: the p2p detector reports them.
 */
import type { z } from 'zod';
import type { SchemaKit } from '../config/fields.js';
import { dstHostKey, hostKeyText, srcHostKey, type FlowRecord, type HostKey } from '../flow/record.js';
import type { RaisedScan } from './attempts.js';
import type { AlertInput, Detector, DetectorContext, DetectorModule, Severity } from './types.js';
import {
  ANSWERED, COMPACT_MAX_PAIRS, COMPACT_REPEAT, SourceWindow, T_ECHO, classifyAttempt, isGroupDestination, isReplyDirection, keyLabel, keyPort,
  keyTransport, portKeyOf, topPorts,
} from './attempts.js';
import { sharedAttempts, type SharedAttempts } from './shared-attempts.js';
import { P2P_PORTS, REPLY_SRC_PORTS, portTable, wormHint } from './ports.js';

export function scanSchema({ z, portRangeList }: SchemaKit) {
  return z.strictObject({
    /** Sliding window of packet time (Zeek scan.zeek: 5 min). */
    windowSeconds: z.number().positive().default(300),
    /** Distinct failed ports on one host (Zeek port_scan_threshold = 15). */
    portMinPorts: z.number().int().min(2).default(15),
    /** Distinct failed hosts on one port (Zeek addr_scan_threshold = 25). */
    addressMinHosts: z.number().int().min(2).default(25),
    /**
     * The same for a source inside the local networks: an inside host sweeping is an
     * infected machine, and the NetFlow article (part 2 §2) hunts worms by exactly this
     * pattern from inside; 10 keeps well above a workstation's normal failures.
     */
    localAddressMinHosts: z.number().int().min(2).default(10),
    /** scan.random: hosts and ports together (bro-simple-scan reports "random" scans). */
    randomMinHosts: z.number().int().min(2).default(25),
    randomMinPorts: z.number().int().min(2).default(25),
    /**
     * Peer-like spread (not a random scan, see p2p.activity): at most this many failed
     * (host, port) pairs per distinct port and per distinct host, and at least this share
     * of pairs on ports >= 1024.
     */
    peerMaxPairsPerPort: z.number().min(1).default(1.5),
    peerMaxPairsPerHost: z.number().min(1).default(1.5),
    peerMinHighPortShare: z.number().min(0).max(1).default(0.9),
    /** Sources tracked at once (bounded LRU; a spoofed flood evicts, never exhausts memory). */
    maxSources: z.number().int().min(1).default(100_000),
    /** Distinct failed (host, port) pairs kept per source; beyond it counts are lower bounds. */
    maxPairsPerSource: z.number().int().min(16).default(4096),
    /** Destination ports never counted (P2P ports by default: p2p.activity reports them). */
    skipPorts: portRangeList.default([...P2P_PORTS]),
    /**
     * Failed attempts FROM these service ports to a port >= 1024 are the reply direction of
     * something (SYN-flood backscatter, a server answering a connection the flow table split,
     * FTP active data from 20), not probes. Bro's scan.bro: "Reverse (SYN-ack) scans seen from
     * these ports are considered to reflect possible SYN-flooding backscatter, and not true
     * (stealth) scans" (backscatter_ports = 80, 8080, 53, 179, 6666, 6667); plus 20 and 443.
     */
    replySrcPorts: portRangeList.default([...REPLY_SRC_PORTS]),
    /** Address scans on these ports get severity 3 (seed: scanning out to 445 or 6667 "should raise a red flag"). */
    redFlagPorts: portRangeList.default([445, 6667]),
  });
}
export type ScanConfig = z.infer<ReturnType<typeof scanSchema>>;

const RULE_NAMES = { port: 'scan.port', address: 'scan.address', random: 'scan.random' } as const;

export const scanModule: DetectorModule<ScanConfig> = {
  id: 'scan',
  rules: ['scan.port', 'scan.address', 'scan.random'],
  schema: scanSchema,
  create(config: ScanConfig, ctx: DetectorContext): Detector {
    return new ScanDetector(config, ctx);
  },
};

class ScanDetector implements Detector {
  /** Per-source table and compact stage, shared with p2p when their configs agree. */
  private readonly attempts: SharedAttempts;
  /** This detector's member index in `attempts`. */
  private readonly member: number;
  private readonly windowMicros: number;
  private readonly skip: Uint8Array;
  private readonly redFlag: Uint8Array;
  private readonly replySrc: Uint8Array;
  /**
   * Sources with a raised scan alert in their current window (bounded: at most maxSources
   * ever, in practice the few scanners), for the final-size report in onTick/flush.
   */
  private readonly active = new Map<string, SourceWindow>();

  constructor(private readonly config: ScanConfig, private readonly ctx: DetectorContext) {
    this.windowMicros = config.windowSeconds * 1e6;
    this.skip = portTable(config.skipPorts);
    this.redFlag = portTable(config.redFlagPorts);
    this.replySrc = portTable(config.replySrcPorts);
    // The compact stage must not be able to cross the random thresholds (the port and
    // address ones are checked after each new pair it counts): it holds fewer pairs than
    // either needs.
    this.attempts = sharedAttempts(ctx, {
      windowSeconds: config.windowSeconds,
      maxSources: config.maxSources,
      pairsPerSlot: Math.min(COMPACT_MAX_PAIRS, config.randomMinHosts - 1, config.randomMinPorts - 1),
      replySrcPorts: config.replySrcPorts,
      notCompactPorts: config.skipPorts,
    });
    this.member = this.attempts.join(ctx.evictionCounter('sources'));
  }

  onFlowEnd(flow: FlowRecord): void {
    const portKey = portKeyOf(flow);
    if (portKey < 0 || isGroupDestination(flow)) return;
    if (portKey >>> 16 !== T_ECHO && (this.skip[flow.dstPort] === 1 || isReplyDirection(flow, this.replySrc))) return;
    const verdict = classifyAttempt(flow);
    if (verdict === 0) return;
    const micros = flow.startMicros;
    const a = this.attempts;
    const m = this.member;
    const serial = this.ctx.flowSerial();
    const key = srcHostKey(flow);
    let slot = a.find(serial, key);
    let state = slot < 0 ? undefined : a.full<SourceWindow>(m, slot);
    const host = dstHostKey(flow);
    if (state === undefined) {
      // No window yet, or the compact stage (shared-attempts.ts).
      if (verdict & ANSWERED) {
        // Answers are evidence only ("replies seen", open ports); they never start a window.
        if (slot >= 0 && a.attached(m, slot)) a.addAnswered(serial, slot, portKey, verdict, micros);
        return;
      }
      if (slot < 0) {
        slot = a.open(serial, key, micros);
      } else {
        if (!a.attached(m, slot)) a.attach(m, slot, micros);
        a.expire(serial, slot, micros);
      }
      const r = a.add(serial, slot, host, portKey, flow.srcPort, verdict, micros);
      if (r === COMPACT_REPEAT) return;
      const c = this.config;
      const local = this.ctx.srcIsLocal(flow);
      if (r >= 0 && a.compact.sameHost + 1 < c.portMinPorts && a.compact.samePort + 1 < (local ? c.localAddressMinHosts : c.addressMinHosts)) return;
      // A new pair reached a threshold (it is counted), or the record is full (it is not).
      state = a.upgrade(m, slot, flow.srcIp, local);
      a.setFull(m, slot, state);
      if (r >= 0) {
        this.checkThresholds(state, host, portKey, micros);
        return;
      }
    } else {
      if (state.raised.size > 0 && state.lastMicros < micros - this.windowMicros) {
        // The previous activity ended before this flow: report its final size first.
        this.reportFinal(state, micros);
        this.active.delete(state.sourceIp);
      }
      if (verdict & ANSWERED) {
        state.addAnswered(portKey, verdict, micros);
        return;
      }
      state.expire(micros, this.windowMicros);
    }
    if (state.addFailure(host, portKey, flow.srcPort, verdict, micros, this.config.maxPairsPerSource)) {
      this.checkThresholds(state, host, portKey, micros);
    }
  }

  /**
   * A new (host, port) pair was counted in the window: raise what it brought to a
   * threshold. Thresholds are checked when a count grows past them ("=="), so each
   * crossing is reported once; the alert log summarises repeats within its suppression
   * window.
   */
  private checkThresholds(state: SourceWindow, host: HostKey, portKey: number, micros: number): void {
    const c = this.config;
    if (state.portsPerHost.get(host) === c.portMinPorts) this.raisePort(state, host, micros);
    const addrMin = state.local ? c.localAddressMinHosts : c.addressMinHosts;
    if (state.hostsPerPort.get(portKey) === addrMin) this.raiseAddress(state, portKey, micros);
    if (
      state.raised.size === 0 &&
      state.portsPerHost.size >= c.randomMinHosts &&
      state.hostsPerPort.size >= c.randomMinPorts &&
      !state.peerLike(c.peerMaxPairsPerPort, c.peerMaxPairsPerHost, c.peerMinHighPortShare)
    ) {
      this.raiseRandom(state, micros);
    }
  }

  /**
   * Alerts are raised when a threshold is crossed, so they report the size at that moment
   * (15 ports of a 10,000-port scan). When the activity ends (no attempt for windowSeconds,
   * or end of input) each raised alert is raised again with the final size if it grew; the
   * alert log turns that repeat into its summary (same rule, source and suppress key).
   */
  onTick(nowMicros: number): void {
    if (this.active.size === 0) return;
    const cutoff = nowMicros - this.windowMicros;
    for (const [ip, state] of this.active) {
      if (state.lastMicros >= cutoff) continue;
      this.reportFinal(state, nowMicros);
      this.active.delete(ip);
    }
  }

  flush(nowMicros: number): void {
    for (const state of this.active.values()) this.reportFinal(state, nowMicros);
    this.active.clear();
  }

  private reportFinal(state: SourceWindow, nowMicros: number): void {
    const micros = Math.min(nowMicros, state.lastMicros);
    for (const r of [...state.raised.values()]) {
      if (r.kind === 'port') {
        if ((state.portsPerHost.get(r.host) ?? 0) > r.reported) this.raisePort(state, r.host, micros);
      } else if (r.kind === 'address') {
        if ((state.hostsPerPort.get(r.portKey) ?? 0) > r.reported) this.raiseAddress(state, r.portKey, micros);
      } else if (state.portsPerHost.size > r.reported) {
        this.raiseRandom(state, micros);
      }
    }
  }

  private raisePort(state: SourceWindow, host: HostKey, micros: number): void {
    const hostText = hostKeyText(host);
    const ports: number[] = [];
    const sample: string[] = [];
    let failed = 0;
    for (const pair of state.pairs.values()) {
      if (pair.host !== host) continue;
      failed += pair.probes;
      if (ports.length < 64) ports.push(pair.portKey);
      if (sample.length < 10) sample.push(`${hostText}:${keyPort(pair.portKey)}`);
    }
    const nPorts = state.portsPerHost.get(host) ?? 0;
    this.noteRaised(state, 'port', host, 0, nPorts);
    const transport = keyTransport(ports[0] ?? 0);
    const open = state.openPorts.length;
    this.emit(state, 'port', micros, state.local ? 3 : 2,
      `${state.sourceIp} probed ${atLeast(state)}${nPorts} ports on ${hostText} (${failed} failed, ${state.rstReceived} refused, ${open} open)`,
      { destinationIp: hostText, transport, suppressKey: hostText, targets: 1, ports: nPorts, failed, sample });
  }

  private raiseAddress(state: SourceWindow, portKey: number, micros: number): void {
    const sample: string[] = [];
    let failed = 0;
    for (const pair of state.pairs.values()) {
      if (pair.portKey !== portKey) continue;
      failed += pair.probes;
      if (sample.length < 10) sample.push(portKey >>> 16 === T_ECHO ? hostKeyText(pair.host) : `${hostKeyText(pair.host)}:${keyPort(pair.portKey)}`);
    }
    const hosts = state.hostsPerPort.get(portKey) ?? 0;
    this.noteRaised(state, 'address', '', portKey, hosts);
    const isEcho = portKey >>> 16 === T_ECHO;
    const port = keyPort(portKey);
    const transport = keyTransport(portKey);
    const severity: Severity = state.local || (!isEcho && this.redFlag[port] === 1) ? 3 : 2;
    const hint = isEcho ? undefined : wormHint(transport, port);
    this.emit(state, 'address', micros, severity,
      `${state.sourceIp} probed ${atLeast(state)}${hosts} hosts on ${keyLabel(portKey)} (${failed} unanswered)`,
      {
        destinationPort: isEcho ? undefined : port, transport, suppressKey: keyLabel(portKey),
        targets: hosts, ports: 1, failed, sample, wormHint: hint,
      });
  }

  private raiseRandom(state: SourceWindow, micros: number): void {
    const sample: string[] = [];
    for (const pair of state.pairs.values()) {
      if (sample.length >= 10) break;
      sample.push(`${hostKeyText(pair.host)}:${keyPort(pair.portKey)}`);
    }
    const hosts = state.portsPerHost.size;
    const ports = state.hostsPerPort.size;
    this.noteRaised(state, 'random', '', 0, hosts);
    const hints: string[] = [];
    for (const [key] of topPorts(state.probesPerPort, 10)) {
      const h = key >>> 16 === T_ECHO ? undefined : wormHint(keyTransport(key), keyPort(key));
      if (h && !hints.includes(h)) hints.push(h);
    }
    this.emit(state, 'random', micros, state.local ? 3 : 2,
      `${state.sourceIp} probed ${atLeast(state)}${hosts} hosts on ${ports} ports (${state.failed} failed attempts)`,
      { suppressKey: undefined, targets: hosts, ports, failed: state.failed, sample, wormHint: hints.length ? hints.join('; ') : undefined });
  }

  private noteRaised(state: SourceWindow, kind: RaisedScan['kind'], host: HostKey, portKey: number, reported: number): void {
    const key = kind === 'port' ? `port:${host}` : kind === 'address' ? `address:${portKey}` : 'random';
    const r = state.raised.get(key);
    if (r) r.reported = reported;
    else state.raised.set(key, { kind, host, portKey, reported });
    if (this.active.size < this.config.maxSources) this.active.set(state.sourceIp, state);
  }

  private emit(
    state: SourceWindow, kind: keyof typeof RULE_NAMES, micros: number, severity: Severity, message: string,
    d: {
      destinationIp?: string; destinationPort?: number; transport?: string; suppressKey?: string;
      targets: number; ports: number; failed: number; sample: string[]; wormHint?: string;
    },
  ): void {
    const top = topPorts(state.probesPerPort, 10);
    const srcPort = state.topSrcPort();
    const evidence: Record<string, unknown> = {
      targets: d.targets,
      ports: d.ports,
      failed: d.failed,
      failed_total: state.failed,
      answered: state.answered,
      rst_received: state.rstReceived,
      icmp_unreachable_received: state.icmpUnreachReceived,
      open_ports: [...state.openPorts],
      same_src_port: srcPort && srcPort.count > 1 ? srcPort : undefined,
      probes: top.map(([key, n]) => `${n} times probe on ${key >>> 16 === T_ECHO ? 'icmp echo' : `dstport ${keyPort(key)}`}`),
      probe_table: top.map(([key, n]) => ({
        port: key >>> 16 === T_ECHO ? null : keyPort(key),
        transport: keyTransport(key),
        probes: n,
        hosts: state.hostsPerPort.get(key) ?? 0,
      })),
      sample: d.sample,
      window_seconds: this.config.windowSeconds,
      local_source: state.local,
    };
    if (d.wormHint) evidence.worm_hint = d.wormHint;
    if (state.pairsCapped > 0) evidence.pairs_capped = state.pairsCapped;
    const alert: AlertInput = {
      ruleId: RULE_NAMES[kind],
      severity,
      message,
      timestampMicros: micros,
      startMicros: state.firstMicros,
      endMicros: Math.max(micros, state.lastMicros),
      sourceIp: state.sourceIp,
      evidence,
    };
    if (d.destinationIp !== undefined) alert.destinationIp = d.destinationIp;
    if (d.destinationPort !== undefined) alert.destinationPort = d.destinationPort;
    if (d.transport !== undefined) alert.transport = d.transport;
    if (d.suppressKey !== undefined) alert.suppressKey = d.suppressKey;
    this.ctx.emit(alert);
  }
}

/** Counts are lower bounds once the per-source pair cap dropped pairs. */
function atLeast(state: SourceWindow): string {
  return state.pairsCapped > 0 ? 'at least ' : '';
}
