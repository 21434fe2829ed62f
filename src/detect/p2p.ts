/**
 * P2P activity (SPEC §4 p2p.activity, info severity: site policy decides). Two ways a host
 * shows up, both counted per source in a sliding window of packet time:
 *
 *  1. "p2p-ports": it contacts >= minPeers distinct hosts on well-known P2P ports
 *     (ports.ts P2P_PORTS: BitTorrent 6881-6889, Gnutella 6346/6347, eDonkey 4662/4672,
 *     ...), answered or not. The IPAudit article lists these ports as P2P traffic to watch.
 *  2. "peer-pattern": its failed attempts are as many as a scan's (>= patternMinHosts
 *     hosts and >= patternMinPorts ports, the scan.random thresholds) but spread like peer
 *     contacts: each port tried on about one host and each host on about one port (the
 *     ports are the peers' own listening ports, learnt from the overlay), mostly >= 1024.
 *     A scanner reuses its ports across hosts (address scan) or its hosts across ports
 *     (port scan); the scan detector leaves exactly this spread to this rule.
 */
import type { z } from 'zod';
import type { SchemaKit } from '../config/fields.js';
import { dstHostKey, hostKeyText, srcHostKey, type FlowRecord, type HostKey } from '../flow/record.js';
import type { Detector, DetectorContext, DetectorModule } from './types.js';
import { ANSWERED, COMPACT_MAX_PAIRS, COMPACT_UPGRADE, SourceWindow, T_ECHO, classifyAttempt, isGroupDestination, isReplyDirection, keyPort, portKeyOf, topPorts } from './attempts.js';
import { P2P_PORTS, REPLY_SRC_PORTS, p2pFamily, portTable } from './ports.js';
import { sharedAttempts, type SharedAttempts } from './shared-attempts.js';

export function p2pSchema({ z, portRangeList }: SchemaKit) {
  return z.strictObject({
    /** Sliding window of packet time; the scan window (Zeek scan.zeek: 5 min), so the two agree. */
    windowSeconds: z.number().positive().default(300),
    /**
     * Distinct peers on listed P2P ports (judged by the destination port, never a client's
     * own source port; the listed ports lie below the IANA and Linux ephemeral ranges,
     * 49152+ and 32768+). A BitTorrent client asks its tracker for 50 peers by default
     * (the tracker protocol's `numwant`), so a working client passes 10 at once while one
     * stray connection does not.
     */
    minPeers: z.number().int().min(1).default(10),
    /** Peer-pattern sizes: the scan.random thresholds (bro-simple-scan "random" scans). */
    patternMinHosts: z.number().int().min(2).default(25),
    patternMinPorts: z.number().int().min(2).default(25),
    /** Peer-like spread: the same defaults as the scan detector's peer* keys. */
    peerMaxPairsPerPort: z.number().min(1).default(1.5),
    peerMaxPairsPerHost: z.number().min(1).default(1.5),
    peerMinHighPortShare: z.number().min(0).max(1).default(0.9),
    ports: portRangeList.default([...P2P_PORTS]),
    /** Reply-direction flows are not peer contacts (same list as the scan detector's). */
    replySrcPorts: portRangeList.default([...REPLY_SRC_PORTS]),
    maxSources: z.number().int().min(1).default(100_000),
    maxPairsPerSource: z.number().int().min(16).default(4096),
  });
}
export type P2pConfig = z.infer<ReturnType<typeof p2pSchema>>;

/** Per source: the failed-attempt window plus the peers seen on listed P2P ports. */
class P2pState {
  readonly window: SourceWindow;
  /** Peer host -> last packet time, insertion order = last-seen order. */
  readonly listedPeers = new Map<HostKey, number>();
  readonly listedPorts = new Map<number, number>();
  raised = false;
  constructor(window: SourceWindow) {
    this.window = window;
  }
}

export const p2pModule: DetectorModule<P2pConfig> = {
  id: 'p2p',
  rules: ['p2p.activity'],
  schema: p2pSchema,
  create(config: P2pConfig, ctx: DetectorContext): Detector {
    return new P2pDetector(config, ctx);
  },
};

class P2pDetector implements Detector {
  /** Per-source table and compact stage, shared with scan when their configs agree. */
  private readonly attempts: SharedAttempts;
  /** This detector's member index in `attempts`. */
  private readonly member: number;
  private readonly windowMicros: number;
  private readonly listed: Uint8Array;
  private readonly replySrc: Uint8Array;

  constructor(private readonly config: P2pConfig, private readonly ctx: DetectorContext) {
    this.windowMicros = config.windowSeconds * 1e6;
    this.listed = portTable(config.ports);
    this.replySrc = portTable(config.replySrcPorts);
    // The compact stage holds fewer pairs than the peer pattern needs, so it never has to
    // check that pattern; listed-port contacts go straight to a full state.
    this.attempts = sharedAttempts(ctx, {
      windowSeconds: config.windowSeconds,
      maxSources: config.maxSources,
      pairsPerSlot: Math.min(COMPACT_MAX_PAIRS, config.patternMinHosts - 1, config.patternMinPorts - 1),
      replySrcPorts: config.replySrcPorts,
      notCompactPorts: config.ports,
    });
    this.member = this.attempts.join(ctx.evictionCounter('sources'));
  }

  onFlowEnd(flow: FlowRecord): void {
    const portKey = portKeyOf(flow);
    if (portKey < 0 || isGroupDestination(flow) || isReplyDirection(flow, this.replySrc)) return;
    const verdict = classifyAttempt(flow);
    if (verdict === 0) return;
    const onListedPort = portKey >>> 16 !== T_ECHO && this.listed[flow.dstPort] === 1;
    const micros = flow.startMicros;
    const a = this.attempts;
    const m = this.member;
    const serial = this.ctx.flowSerial();
    const key = srcHostKey(flow);
    const host = dstHostKey(flow);
    let slot = a.find(serial, key);
    let state = slot < 0 ? undefined : a.full<P2pState>(m, slot);
    if (state === undefined) {
      // Only a failure or a listed-port contact starts tracking a host; failures are kept in
      // the compact stage (shared-attempts.ts) until the pattern could be reached.
      if (!onListedPort) {
        if (verdict & ANSWERED) {
          if (slot >= 0 && a.attached(m, slot)) a.addAnswered(serial, slot, portKey, verdict, micros);
          return;
        }
        if (slot < 0) {
          slot = a.open(serial, key, micros);
        } else {
          if (!a.attached(m, slot)) a.attach(m, slot, micros);
          a.expire(serial, slot, micros);
        }
        if (a.add(serial, slot, host, portKey, flow.srcPort, verdict, micros) !== COMPACT_UPGRADE) return;
      } else if (slot < 0) {
        // Straight to the full state: the other members are not attached either.
        slot = a.open(serial, key, micros, false);
      }
      const local = this.ctx.srcIsLocal(flow);
      state = new P2pState(a.attached(m, slot) ? a.upgrade(m, slot, flow.srcIp, local) : new SourceWindow(flow.srcIp, local, micros));
      a.setFull(m, slot, state);
    }
    const w = state.window;
    w.expire(micros, this.windowMicros);
    if (w.pairs.size === 0 && w.failed === 0 && w.answered === 0) state.raised = false;
    this.expireListed(state, micros);
    if (onListedPort) {
      state.listedPeers.delete(host);
      state.listedPeers.set(host, micros);
      state.listedPorts.set(flow.dstPort, (state.listedPorts.get(flow.dstPort) ?? 0) + 1);
    }
    if (verdict & ANSWERED) w.addAnswered(portKey, verdict, micros);
    else w.addFailure(host, portKey, flow.srcPort, verdict, micros, this.config.maxPairsPerSource);
    if (state.raised) return;
    const c = this.config;
    if (state.listedPeers.size >= c.minPeers) {
      this.raise(state, micros, 'p2p-ports');
    } else if (
      w.portsPerHost.size >= c.patternMinHosts &&
      w.hostsPerPort.size >= c.patternMinPorts &&
      w.peerLike(c.peerMaxPairsPerPort, c.peerMaxPairsPerHost, c.peerMinHighPortShare)
    ) {
      this.raise(state, micros, 'peer-pattern');
    }
  }

  private expireListed(state: P2pState, micros: number): void {
    const cutoff = micros - this.windowMicros;
    for (const [host, last] of state.listedPeers) {
      if (last >= cutoff) break;
      state.listedPeers.delete(host);
    }
    if (state.listedPeers.size === 0) state.listedPorts.clear();
  }

  private raise(state: P2pState, micros: number, reason: 'p2p-ports' | 'peer-pattern'): void {
    state.raised = true;
    const w = state.window;
    const families = new Set<string>();
    for (const port of state.listedPorts.keys()) {
      const f = p2pFamily(port);
      if (f) families.add(f);
    }
    const pairs = w.pairs.size;
    const sample: string[] = [];
    for (const pair of w.pairs.values()) {
      if (sample.length >= 10) break;
      sample.push(`${hostKeyText(pair.host)}:${keyPort(pair.portKey)}`);
    }
    const attempts = w.failed + w.answered;
    const peers = reason === 'p2p-ports' ? state.listedPeers.size : w.portsPerHost.size;
    const what = reason === 'p2p-ports'
      ? `on P2P ports ${[...state.listedPorts.keys()].sort((a, b) => a - b).slice(0, 5).join(',')}${families.size ? ` (${[...families].join(', ')})` : ''}`
      : `on ${w.hostsPerPort.size} distinct ports, one port per peer (peer-to-peer pattern, not a scan)`;
    this.ctx.emit({
      ruleId: 'p2p.activity',
      severity: 1,
      message: `${w.sourceIp} contacted ${peers} peers ${what}`,
      timestampMicros: micros,
      startMicros: w.firstMicros,
      endMicros: Math.max(micros, w.lastMicros),
      sourceIp: w.sourceIp,
      evidence: {
        reason,
        peers,
        p2p_port_peers: state.listedPeers.size,
        p2p_ports: Object.fromEntries(state.listedPorts),
        p2p_family: families.size ? [...families] : undefined,
        targets: w.portsPerHost.size,
        ports: w.hostsPerPort.size,
        failed: w.failed,
        answered: w.answered,
        answered_share: attempts ? Math.round((w.answered / attempts) * 1000) / 1000 : 0,
        pairs_per_port: w.hostsPerPort.size ? Math.round((pairs / w.hostsPerPort.size) * 100) / 100 : 0,
        pairs_per_host: w.portsPerHost.size ? Math.round((pairs / w.portsPerHost.size) * 100) / 100 : 0,
        high_port_share: pairs ? Math.round((w.highPortPairs / pairs) * 1000) / 1000 : 0,
        icmp_unreachable_received: w.icmpUnreachReceived,
        probes: topPorts(w.probesPerPort, 10).map(([key, n]) => `${n} times probe on dstport ${keyPort(key)}`),
        sample,
        window_seconds: this.config.windowSeconds,
      },
    });
  }
}
