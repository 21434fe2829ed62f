/**
 * icmp.unreachable (SPEC §4): a host that triggers an abnormal volume of ICMP
 * destination-unreachable errors, attributed to the ORIGINAL sender through the header
 * the error quotes.
 *
 * Anchor: Y. Gong, "Detecting Worms and Abnormal Activities with NetFlow, Part 2" (2004),
 * §3: a worm or scanner probing addresses and ports that do not exist draws ICMP
 * unreachables back from routers and hosts, so a host that receives many of them is
 * likely scanning or infected. Unlike the article's unidirectional NetFlow, we know the
 * culprit from the quoted header, so a spoofed or NATed view is still attributed right.
 *
 * Two kinds of input (SPEC §3):
 * - attributed: the error joined the flow it answers (flow.icmpErrors > 0); the host that
 *   caused it is the flow's src (or its dst when the error came from src).
 * - orphan: the answered flow was not in the table, so the errors formed an ICMP flow of
 *   their own from the error's sender; the quoted header (icmpQuoted*) names the culprit.
 *   The flow table keys orphans by outer addresses, so one orphan flow may carry many
 *   errors but shows only the first quoted header: its count is exact, its targets are not.
 *
 * Two triggers in one window per culprit:
 * - scan-like: >= minUnreachables errors over >= minTargets distinct targets
 *   (target = destination, protocol, port of the quoted packet). Severity 3.
 * - volume: >= volumeUnreachables errors whatever the targets (a flood of errors, or a
 *   scan whose errors were folded into one orphan flow). Severity 2.
 */
import type { z } from 'zod';
import type { SchemaKit } from '../config/fields.js';
import { PendingReports } from './pending.js';
import type { FlowRecord } from '../flow/record.js';
import { transportName } from './human.js';
import type { BoundedTable, Detector, DetectorContext, DetectorModule, Severity } from './types.js';

export function unreachableSchema({ z, positiveInt, seconds }: SchemaKit) {
  return z.strictObject({
    /** Window per culprit, packet time. Zeek's scan.zeek and SPEC scan.* use 5 minutes. */
    windowSeconds: seconds(300),
    /**
     * Errors for the scan-like trigger. 20 in 5 min: a healthy host draws a handful (a dead
     * DNS server, a stale NTP peer); a scanner or worm draws one per dead address it tries.
     * Kept a little under SPEC's 25 hosts for scan.address because each error is a
     * confirmed failure, not just an unanswered probe.
     */
    minUnreachables: positiveInt(20),
    /** Distinct targets (destination, protocol, port) for the scan-like trigger. */
    minTargets: positiveInt(5),
    /**
     * Errors that alone make an alert (volume trigger). 100 in 5 min is more than Linux's
     * default ICMP error rate limit lets one peer send to one host for one dead service
     * (net.ipv4.icmp_ratelimit 1000 ms -> about 1/s, so a single stuck sender stays near
     * it only by hammering); above it the volume itself is abnormal.
     */
    volumeUnreachables: positiveInt(100),
    /** Culprits tracked at once (bounded LRU; evictions counted). */
    maxTrackedHosts: positiveInt(100_000),
  });
}
export type UnreachableConfig = z.infer<ReturnType<typeof unreachableSchema>>;

/** ICMPv4 type 3 codes that count (RFC 792 / RFC 1812): net, host, protocol, port, admin. */
const V4_COUNTED = new Set([0, 1, 2, 3, 9, 10, 13]);
/** Code index: ICMPv4 code c -> c, ICMPv6 (type 1) code c -> 16 + c. */
const CODE_NAMES: readonly string[] = [
  'net', 'host', 'protocol', 'port', 'frag-needed', 'source-route', 'net-unknown', 'host-unknown',
  'isolated', 'net-prohibited', 'host-prohibited', 'net-tos', 'host-tos', 'admin-prohibited', 'precedence', 'cutoff',
  'v6-no-route', 'v6-admin-prohibited', 'v6-beyond-scope', 'v6-address', 'v6-port', 'v6-policy', 'v6-reject-route', 'v6-other',
];
/** Caps on the distinct-value sets kept per culprit: memory stays bounded per host. */
const MAX_DISTINCT = 1024;
const MAX_PEERS = 16;
const SAMPLE_SIZE = 10;

interface HostState {
  windowStartMicros: number;
  firstMicros: number;
  lastMicros: number;
  count: number;
  attributed: number;
  orphan: number;
  byCode: Uint32Array;
  targets: Set<string>;
  destinations: Set<string>;
  protocols: Set<number>;
  ports: Set<number>;
  senders: Set<string>;
  receivers: Set<string>;
  sample: string[];
  alerted: boolean;
  pending: boolean;
}

/** Index into CODE_NAMES for a counted unreachable, or -1. */
export function unreachableCodeIndex(ipVersion: number, type: number, code: number): number {
  if (ipVersion === 4) return type === 3 && V4_COUNTED.has(code) ? code : -1;
  if (type === 1) return 16 + (code >= 0 && code <= 6 ? code : 7);
  return -1;
}

/** "icmp", or "ip-proto/241" for protocols without a transport name. */
function protoLabel(proto: number): string {
  const t = transportName(proto);
  return t === String(proto) ? `ip-proto/${proto}` : t;
}

function addCapped<T>(set: Set<T>, v: T, cap: number): void {
  if (set.size < cap) set.add(v);
}

export const icmpUnreachableModule: DetectorModule<UnreachableConfig> = {
  id: 'icmpUnreachable',
  rules: ['icmp.unreachable'],
  schema: unreachableSchema,
  create(config: UnreachableConfig, ctx: DetectorContext): Detector {
    const windowMicros = config.windowSeconds * 1e6;
    const hosts: BoundedTable<string, HostState> = ctx.table('hosts', config.maxTrackedHosts);

    function fresh(now: number): HostState {
      return {
        windowStartMicros: now, firstMicros: now, lastMicros: now, count: 0, attributed: 0, orphan: 0,
        byCode: new Uint32Array(CODE_NAMES.length), targets: new Set(), destinations: new Set(),
        protocols: new Set(), ports: new Set(), senders: new Set(), receivers: new Set(), sample: [],
        alerted: false, pending: false,
      };
    }

    function triggered(s: HostState): Severity | 0 {
      if (s.count >= config.minUnreachables && s.targets.size >= config.minTargets) return 3;
      if (s.count >= config.volumeUnreachables) return 2;
      return 0;
    }

    function emit(ip: string, s: HostState): void {
      s.pending = false;
      const severity = triggered(s);
      if (severity === 0) return;
      s.alerted = true;
      const byCode: Record<string, number> = {};
      for (let i = 0; i < s.byCode.length; i++) if (s.byCode[i]! > 0) byCode[CODE_NAMES[i]!] = s.byCode[i]!;
      const breakdown = Object.entries(byCode).map(([k, v]) => `${v} ${k}`).join(', ');
      const more = (n: number): string => (n >= MAX_DISTINCT ? `${n}+` : String(n));
      const spanSeconds = (s.lastMicros - s.firstMicros) / 1e6;
      const span = spanSeconds.toFixed(spanSeconds < 10 ? 3 : 1);
      const receivers = [...s.receivers];
      const via = receivers.length > 0 && !(receivers.length === 1 && receivers[0] === ip)
        ? `; errors delivered to ${receivers.join(', ')}`
        : '';
      const why = severity === 3 ? 'likely scanning or a worm' : 'abnormal volume';
      ctx.emit({
        ruleId: 'icmp.unreachable',
        severity,
        message: `${ip} triggered ${s.count} ICMP unreachables (${breakdown}) for ${more(s.targets.size)} target(s) on ${more(s.destinations.size)} host(s) in ${span} s: ${why}${via}`,
        timestampMicros: s.lastMicros,
        startMicros: s.firstMicros,
        endMicros: s.lastMicros,
        sourceIp: ip,
        transport: 'icmp',
        evidence: {
          unreachables: s.count,
          by_code: byCode,
          targets: s.targets.size,
          destinations: s.destinations.size,
          protocols: [...s.protocols].sort((a, b) => a - b).slice(0, 32),
          protocol_count: s.protocols.size,
          ports: s.ports.size,
          attributed: s.attributed,
          orphan: s.orphan,
          error_senders: [...s.senders],
          error_receivers: receivers,
          sample: s.sample,
          window_seconds: config.windowSeconds,
        },
      });
    }

    function account(culprit: string, start: number, now: number, n: number, codeIndex: number,
      target: string, dst: string, proto: number, port: number, sender: string, receiver: string, orphan: boolean): void {
      let s = hosts.get(culprit);
      if (s !== undefined && now - s.windowStartMicros >= windowMicros) {
        // The window closed: report what crossed (if not yet written), start afresh.
        if (s.pending) emit(culprit, s);
        s = undefined;
      }
      if (s === undefined) {
        s = fresh(now);
        s.firstMicros = start;
        hosts.set(culprit, s);
      }
      if (start < s.firstMicros) s.firstMicros = start;
      if (now > s.lastMicros) s.lastMicros = now;
      s.count += n;
      if (orphan) s.orphan += n; else s.attributed += n;
      s.byCode[codeIndex] = s.byCode[codeIndex]! + n;
      if (!s.targets.has(target)) {
        addCapped(s.targets, target, MAX_DISTINCT);
        if (s.sample.length < SAMPLE_SIZE) s.sample.push(target);
      }
      addCapped(s.destinations, dst, MAX_DISTINCT);
      addCapped(s.protocols, proto, 256);
      if (port >= 0) addCapped(s.ports, port, MAX_DISTINCT);
      if (sender !== '') addCapped(s.senders, sender, MAX_PEERS);
      if (receiver !== '') addCapped(s.receivers, receiver, MAX_PEERS);
      if (!s.alerted && !s.pending && triggered(s) !== 0) {
        pending.add(culprit, s);
      }
    }

    const pending = new PendingReports(hosts, emit);

    return {
      onFlowEnd(flow: FlowRecord): void {
        if (flow.icmpErrors > 0) {
          // Attributed errors. Only the last error's type/code is kept per flow: all of the
          // flow's errors are counted under it (they almost always share it).
          const ci = unreachableCodeIndex(flow.ipVersion, flow.icmpErrorType, flow.icmpErrorCode);
          if (ci < 0) return;
          const fromSrc = flow.icmpErrorFrom === flow.srcIp;
          const culprit = fromSrc ? flow.dstIp : flow.srcIp;
          const dst = fromSrc ? flow.srcIp : flow.dstIp;
          const port = fromSrc ? flow.srcPort : flow.dstPort;
          const hasPorts = flow.proto === 6 || flow.proto === 17;
          const target = hasPorts ? `${dst}:${transportName(flow.proto)}/${port}` : `${dst}:${protoLabel(flow.proto)}`;
          account(culprit, flow.startMicros, flow.endMicros, flow.icmpErrors, ci, target, dst, flow.proto, hasPorts ? port : -1,
            flow.icmpErrorFrom, culprit, false);
          return;
        }
        if (flow.icmpQuotedSrcIp !== '' && (flow.proto === 1 || flow.proto === 58)) {
          const ci = unreachableCodeIndex(flow.ipVersion, flow.icmpType, flow.icmpCode);
          if (ci < 0) return;
          const q = flow.icmpQuotedProto;
          const hasPorts = q === 6 || q === 17;
          const dst = flow.icmpQuotedDstIp;
          const target = hasPorts ? `${dst}:${transportName(q)}/${flow.icmpQuotedDstPort}` : `${dst}:${protoLabel(q)}`;
          account(flow.icmpQuotedSrcIp, flow.startMicros, flow.endMicros, flow.pktsToServer, ci, target, dst, q,
            hasPorts ? flow.icmpQuotedDstPort : -1, flow.srcIp, flow.dstIp, true);
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
