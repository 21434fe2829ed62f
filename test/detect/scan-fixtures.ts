/**
 * Test fixtures for the scan / P2P / flood detectors: a small fake DetectorContext (alerts
 * collected in an array, tables the runner's own LruTable, calling the detector's onEvict,
 * "local" = 10.0.0.0/8) and a builder of FlowRecords in the states the flow table
 * produces.
 */
import { LruTable } from '../../src/detect/lru-table.js';
import { FlowRecord, type ConnState } from '../../src/flow/record.js';
import { parseAddr } from '../../src/util/ip.js';
import type { AlertInput, BoundedTable, DetectorContext } from '../../src/detect/types.js';

export class FakeContext implements DetectorContext {
  readonly alerts: AlertInput[] = [];
  readonly tables = new Map<string, BoundedTable<{}, {}>>();
  constructor(private readonly localPrefix = '10.') {}
  emit(alert: AlertInput): void {
    this.alerts.push(alert);
  }
  isLocal(ip: string): boolean {
    return ip.startsWith(this.localPrefix);
  }
  srcIsLocal(f: FlowRecord): boolean {
    return this.isLocal(f.srcIp);
  }
  dstIsLocal(f: FlowRecord): boolean {
    return this.isLocal(f.dstIp);
  }
  table<K extends {}, V extends {}>(name: string, maxEntries: number, onEvict?: (value: V, key: K) => void): BoundedTable<K, V> {
    const t = new LruTable<K & (number | string), V>(maxEntries, onEvict) as unknown as BoundedTable<K, V>;
    this.tables.set(name, t as unknown as BoundedTable<{}, {}>);
    return t;
  }
  /**
   * Detectors run on one context (p2p and scan) do not share state here: each is tested
   * as it behaves alone; sharing is tested through the runner (shared-attempts.test.ts).
   */
  shared<T>(_key: string, make: () => T): T {
    const made = make();
    this.sharedMade.push(made);
    return made;
  }
  /** What shared() made, in order (a detector's SharedAttempts, for its table size). */
  readonly sharedMade: unknown[] = [];
  private serial = 0;
  flowSerial(): number {
    return ++this.serial;
  }
  evictionCounter(): () => void {
    return () => {};
  }
  rules(): string[] {
    return this.alerts.map((a) => `${a.ruleId}@${a.sourceIp}`);
  }
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };
const RST = 0x04;
const SYN = 0x02;
const ACK = 0x10;

export interface FlowSpec {
  src: string;
  dst: string;
  dport?: number;
  sport?: number;
  proto?: 'tcp' | 'udp' | 'icmp';
  state?: ConnState;
  /** Seconds of packet time. */
  t?: number;
  pktsToClient?: number;
  pktsToServer?: number;
  payloadToServer?: number;
  payloadToClient?: number;
  tcpFlagsToClient?: number;
  icmpType?: number;
  icmpErrors?: number;
  icmpErrorType?: number;
}

/** A FlowRecord as the flow table would hand it over; defaults: TCP S0 at t = 0. */
export function flow(spec: FlowSpec, into = new FlowRecord()): FlowRecord {
  const f = into;
  const proto = PROTO[spec.proto ?? 'tcp']!;
  f.proto = proto;
  f.ipVersion = parseAddr(spec.src, f.srcAddr);
  parseAddr(spec.dst, f.dstAddr);
  f.srcIp = spec.src;
  f.dstIp = spec.dst;
  f.srcPort = spec.sport ?? 40000;
  f.dstPort = spec.dport ?? 0;
  f.startMicros = (spec.t ?? 0) * 1e6;
  f.endMicros = f.startMicros + 1000;
  f.state = spec.state ?? (proto === 6 ? 'S0' : (spec.pktsToClient ?? 0) > 0 ? 'SF' : 'S0');
  const defaultToClient: Partial<Record<ConnState, number>> = { S0: 0, REJ: 1, SF: 5, S1: 2, RSTO: 2, RSTR: 2, SH: 0 };
  f.pktsToClient = spec.pktsToClient ?? (proto === 6 ? defaultToClient[f.state] ?? 0 : 0);
  f.pktsToServer = spec.pktsToServer ?? 1;
  f.payloadToServer = spec.payloadToServer ?? 0;
  f.payloadToClient = spec.payloadToClient ?? 0;
  f.tcpFlagsToClient = spec.tcpFlagsToClient ?? (f.state === 'REJ' ? RST | ACK : f.state === 'SF' ? SYN | ACK : 0);
  f.icmpType = spec.icmpType ?? (proto === 1 ? 8 : -1);
  f.icmpCode = proto === 1 ? 0 : -1;
  f.icmpErrors = spec.icmpErrors ?? 0;
  f.icmpErrorType = spec.icmpErrorType ?? -1;
  f.icmpQuotedProto = -1;
  f.endReason = 'idle';
  return f;
}
