/**
 * icmp.nachi (SPEC §4): ICMP echo requests of exactly 92 bytes IP total length to many
 * hosts: the Nachi/Welchia worm's ping sweep before it tries its RPC DCOM exploit.
 *
 * Anchor: Y. Gong, "Detecting Worms and Abnormal Activities with NetFlow, Part 2" (2004),
 * §3.3: Nachi shows up as ICMP echo flows of 92 bytes per packet to many destinations.
 * (psad and the Honeynet scan34 analysis use the same 92-byte echo signature.)
 *
 * Not traceroute: Windows `tracert` also sends 92-byte echoes, but to ONE destination and
 * with rising TTL (1, 1, 1, 2, 2, 2, ...). A flow whose TTLs differ and start low is
 * traceroute-like and is not counted; and one destination never makes a sweep anyway.
 * The size test is strict (every request exactly echoBytes): an nmap/ping sweep with
 * 28-byte echoes, or Linux ping's 84 bytes, never matches.
 */
import type { z } from 'zod';
import type { SchemaKit } from '../config/fields.js';
import { PendingReports } from './pending.js';
import type { FlowRecord } from '../flow/record.js';
import type { BoundedTable, Detector, DetectorContext, DetectorModule } from './types.js';

export function nachiSchema({ z, positiveInt, seconds }: SchemaKit) {
  return z.strictObject({
    /** Window per source, packet time (same 5 minutes as scan.*, Zeek scan.zeek). */
    windowSeconds: seconds(300),
    /**
     * Distinct hosts pinged with the worm's size. 20, a little under scan.address's 25:
     * the exact-size condition already removes ordinary pings, and Nachi sweeps whole /16s
     * at hundreds of hosts per second, so it crosses 20 within a second.
     */
    minHosts: positiveInt(20),
    /** IP total length of each echo request (20 IP + 8 ICMP + 64 payload of 0xAA). */
    echoBytes: positiveInt(92),
    /**
     * A flow whose TTLs to server differ and whose lowest TTL is at most this is
     * traceroute-like (Windows tracert defaults to 30 hops maximum, `tracert -h 30`).
     */
    tracerouteMaxTtl: positiveInt(30),
    /** Sources tracked at once (bounded LRU; evictions counted). */
    maxTrackedHosts: positiveInt(100_000),
  });
}
export type NachiConfig = z.infer<ReturnType<typeof nachiSchema>>;

const MAX_DISTINCT = 4096;
const SAMPLE_SIZE = 10;

interface SourceState {
  windowStartMicros: number;
  firstMicros: number;
  lastMicros: number;
  hosts: Set<string>;
  echoes: number;
  answered: number;
  sample: string[];
  alerted: boolean;
  pending: boolean;
}

/** True when the flow is an IPv4 echo-request flow whose every request has the worm's size. */
export function isNachiEcho(flow: FlowRecord, config: NachiConfig): boolean {
  if (flow.proto !== 1 || flow.icmpType !== 8 || flow.pktsToServer === 0) return false;
  if (flow.bytesToServer !== config.echoBytes * flow.pktsToServer) return false;
  const tracerouteLike = flow.ttlMinToServer !== flow.ttlMaxToServer && flow.ttlMinToServer <= config.tracerouteMaxTtl;
  return !tracerouteLike;
}

export const icmpNachiModule: DetectorModule<NachiConfig> = {
  id: 'icmpNachi',
  rules: ['icmp.nachi'],
  schema: nachiSchema,
  create(config: NachiConfig, ctx: DetectorContext): Detector {
    const windowMicros = config.windowSeconds * 1e6;
    const sources: BoundedTable<string, SourceState> = ctx.table('sources', config.maxTrackedHosts);

    function emit(ip: string, s: SourceState): void {
      s.pending = false;
      s.alerted = true;
      const n = s.hosts.size;
      const hostsText = n >= MAX_DISTINCT ? `${n}+` : String(n);
      ctx.emit({
        ruleId: 'icmp.nachi',
        severity: 3,
        message: `${ip} sent ${config.echoBytes}-byte ICMP echo requests to ${hostsText} hosts in ${((s.lastMicros - s.firstMicros) / 1e6).toFixed(1)} s (${s.answered} answered): Nachi/Welchia worm ping sweep`,
        timestampMicros: s.lastMicros,
        startMicros: s.firstMicros,
        endMicros: s.lastMicros,
        sourceIp: ip,
        transport: 'icmp',
        evidence: {
          hosts: n,
          echo_requests: s.echoes,
          echo_bytes: config.echoBytes,
          answered: s.answered,
          sample: s.sample,
          window_seconds: config.windowSeconds,
        },
      });
    }

    const pending = new PendingReports(sources, emit);

    return {
      onFlowEnd(flow: FlowRecord): void {
        if (!isNachiEcho(flow, config)) return;
        const ip = flow.srcIp;
        const now = flow.endMicros;
        let s = sources.get(ip);
        if (s !== undefined && now - s.windowStartMicros >= windowMicros) {
          if (s.pending) emit(ip, s);
          s = undefined;
        }
        if (s === undefined) {
          s = { windowStartMicros: now, firstMicros: flow.startMicros, lastMicros: now, hosts: new Set(), echoes: 0,
            answered: 0, sample: [], alerted: false, pending: false };
          sources.set(ip, s);
        }
        if (flow.startMicros < s.firstMicros) s.firstMicros = flow.startMicros;
        if (now > s.lastMicros) s.lastMicros = now;
        s.echoes += flow.pktsToServer;
        if (flow.pktsToClient > 0) s.answered++;
        if (!s.hosts.has(flow.dstIp) && s.hosts.size < MAX_DISTINCT) {
          s.hosts.add(flow.dstIp);
          if (s.sample.length < SAMPLE_SIZE) s.sample.push(flow.dstIp);
        }
        if (!s.alerted && !s.pending && s.hosts.size >= config.minHosts) {
          pending.add(ip, s);
        }
      },
      onTick(): void {
        pending.drain();
      },
      flush(): void {
        pending.drain();
      },
    };
  },
};
