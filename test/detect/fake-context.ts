/**
 * A stand-in DetectorContext for unit tests of single detectors: collects emitted alerts,
 * backs table() with lru-cache, and decides "local" by CIDR. Plus a FlowRecord builder.
 */
import { LRUCache } from 'lru-cache';
import { CidrMatcher } from '../../src/config/cidr.js';
import { moduleSchema } from '../../src/config/schema.js';
import { FlowRecord } from '../../src/flow/record.js';
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
  return {
    alerts,
    evictions,
    emit(a) { alerts.push(a); },
    isLocal(ip) { return local.matchText(ip); },
    table<K extends {}, V extends {}>(name: string, maxEntries: number): BoundedTable<K, V> {
      const c = new LRUCache<K, V>({
        max: maxEntries,
        dispose: (_v, _k, reason) => { if (reason === 'evict') evictions.set(name, (evictions.get(name) ?? 0) + 1); },
      });
      return {
        get: (k) => c.get(k),
        set: (k, v) => { c.set(k, v); },
        delete: (k) => { c.delete(k); },
        has: (k) => c.has(k),
        get size() { return c.size; },
        entries: () => c.entries(),
        clear: () => c.clear(),
      };
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
