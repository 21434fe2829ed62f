/**
 * A stand-in DetectorContext for unit tests of single detectors: collects emitted alerts,
 * backs table() with the runner's own LruTable (evictions counted, the detector's onEvict
 * called), and decides "local" by CIDR. Plus a FlowRecord builder.
 */
import { CidrMatcher } from '../../src/config/cidr.js';
import { moduleSchema } from '../../src/config/schema.js';
import { FlowRecord } from '../../src/flow/record.js';
import { LruTable } from '../../src/detect/lru-table.js';
import type { AlertInput, BoundedTable, Detector, DetectorContext, DetectorModule } from '../../src/detect/types.js';
import { parseAddr } from '../../src/util/ip.js';

export interface FakeContext extends DetectorContext {
  alerts: AlertInput[];
  evictions: Map<string, number>;
}

export function fakeContext(localNetworks: string[] = ['10.0.0.0/8', '192.168.0.0/16']): FakeContext {
  const local = new CidrMatcher(localNetworks);
  const alerts: AlertInput[] = [];
  const evictions = new Map<string, number>();
  let serial = 0;
  return {
    alerts,
    evictions,
    emit(a) { alerts.push(a); },
    isLocal(ip) { return local.matchText(ip); },
    srcIsLocal(f) { return local.matchWords(f.srcAddr, f.ipVersion); },
    dstIsLocal(f) { return local.matchWords(f.dstAddr, f.ipVersion); },
    table<K extends {}, V extends {}>(name: string, maxEntries: number, onEvict?: (value: V, key: K) => void): BoundedTable<K, V> {
      return new LruTable<K & (number | string), V>(maxEntries, (v, k) => {
        evictions.set(name, (evictions.get(name) ?? 0) + 1);
        onEvict?.(v, k);
      }) as unknown as BoundedTable<K, V>;
    },
    // One detector per context: nothing to share, and every call is a new flow.
    shared: (_key, make) => make(),
    flowSerial: () => ++serial,
    evictionCounter(name) {
      return () => evictions.set(name, (evictions.get(name) ?? 0) + 1);
    },
  };
}

/** Make a detector from a module with (partial) config run through its schema. */
export function makeDetector<C>(mod: DetectorModule<C>, config: unknown = {}, ctx: FakeContext = fakeContext()): { det: Detector; ctx: FakeContext; config: C } {
  const parsed = moduleSchema(mod).parse(config);
  return { det: mod.create(parsed, ctx), ctx, config: parsed };
}

/** A finished flow with sensible defaults; addresses' word forms are filled from text. */
export function flow(fields: Partial<FlowRecord>): FlowRecord {
  const f = new FlowRecord();
  Object.assign(f, { ipVersion: 4, proto: 6, srcIp: '10.0.0.5', dstIp: '203.0.113.9', srcPort: 51514, dstPort: 80, state: 'SF', startMicros: 1_000_000, endMicros: 2_000_000 }, fields);
  f.ipVersion = parseAddr(f.srcIp, f.srcAddr);
  parseAddr(f.dstIp, f.dstAddr);
  return f;
}

export const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;
