/**
 * Scan and p2p share one per-source table and compact stage (shared-attempts.ts) when
 * their configs agree. Sharing must change no alert: the same flows through a runner whose
 * two detectors share, and through one whose configs differ by a key that only decides
 * sharing (maxSources, with tables never full), raise the same alerts in the same order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { createDetectorRunner } from '../../src/detect/framework.js';
import { p2pModule } from '../../src/detect/p2p.js';
import { scanModule } from '../../src/detect/scan.js';
import type { AlertInput, Detector, DetectorModule } from '../../src/detect/types.js';
import type { FlowRecord } from '../../src/flow/record.js';
import { flow } from './fake-context.js';

interface Spec {
  src: number;
  dst: number;
  proto: 6 | 17 | 1;
  dport: number;
  sport: number;
  state: FlowRecord['state'];
  replies: number;
  gapSeconds: number;
}

const SOURCES = ['10.0.0.5', '10.0.0.6', '203.0.113.7', '198.51.100.9', '2001:db8::5', '192.0.2.44'];
// Unicast hosts, plus a multicast group and the limited broadcast (never "failures").
const DESTS = [
  ...Array.from({ length: 30 }, (_, i) => `198.18.${i >> 3}.${10 + i}`),
  ...Array.from({ length: 6 }, (_, i) => `2001:db8:1::${i + 1}`),
  '224.0.0.251', '255.255.255.255',
];
// Services, P2P ports (scan skips them, p2p takes them to its full state), high ports.
const PORTS = fc.oneof(
  { arbitrary: fc.constantFrom(22, 23, 25, 53, 80, 135, 139, 443, 445, 3389), weight: 3 },
  { arbitrary: fc.constantFrom(6881, 6885, 6346, 4662), weight: 1 },
  { arbitrary: fc.integer({ min: 1024, max: 65535 }), weight: 3 },
);

const spec: fc.Arbitrary<Spec> = fc.record({
  // Two busy sources and a few quiet ones; a few hosts tried on many ports (port scans)
  // among many hosts (address and random scans).
  src: fc.oneof(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: SOURCES.length - 1 })),
  dst: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: DESTS.length - 1 })),
  proto: fc.constantFrom(6, 6, 6, 17, 1),
  dport: PORTS,
  // Some from reply-direction service ports (scan's and p2p's replySrcPorts).
  sport: fc.oneof({ arbitrary: fc.integer({ min: 32768, max: 60999 }), weight: 8 }, { arbitrary: fc.constantFrom(53, 80, 443), weight: 1 }),
  state: fc.constantFrom('S0', 'S0', 'S0', 'REJ', 'REJ', 'SF', 'OTH', 'SH', 'S1', 'RSTO'),
  replies: fc.constantFrom(0, 0, 1, 2),
  // Mostly close together; sometimes past the 300 s window (expiry and reset).
  gapSeconds: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 2 }), weight: 60 }, { arbitrary: fc.constant(301), weight: 1 }),
});

/**
 * What makes each rule fire, from one source: a port scan of one host, a sweep of one
 * port, a random scan (as many hosts as ports), BitTorrent contacts, a peer-like spread.
 */
const burst: fc.Arbitrary<Spec[]> = fc
  .record({ src: fc.integer({ min: 0, max: SOURCES.length - 1 }), kind: fc.integer({ min: 0, max: 4 }), n: fc.integer({ min: 8, max: 40 }) })
  .map(({ src, kind, n }) =>
    Array.from({ length: n }, (_, i): Spec => ({
      src,
      dst: kind === 0 ? 3 : (i * 7) % 30,
      proto: 6,
      dport: [1 + i * 13, 445, [22, 23, 25, 80, 135, 139, 443, 445, 3389, 8080][i % 10]! + i * 1000, 6881 + (i % 9), 20000 + i * 37][kind]!,
      sport: 40000 + i,
      state: kind === 3 ? 'SF' : 'S0',
      replies: kind === 3 ? 2 : 0,
      gapSeconds: i % 2,
    })),
  );

/** Noise and bursts interleaved, each burst's flows in order. */
const flows: fc.Arbitrary<Spec[]> = fc
  .tuple(fc.array(spec, { minLength: 100, maxLength: 500 }), fc.array(burst, { minLength: 1, maxLength: 5 }), fc.integer())
  .map(([noise, bursts, seed]) => {
    const queues = [[...noise], ...bursts.map((b) => [...b])];
    const out: Spec[] = [];
    let x = seed >>> 0 || 1;
    while (queues.some((q) => q.length > 0)) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const q = queues[x % queues.length]!;
      if (q.length > 0) out.push(q.shift()!);
    }
    return out;
  });

function toFlow(s: Spec, micros: number): FlowRecord {
  const src = SOURCES[s.src]!;
  let dst = DESTS[s.dst]!;
  // One address family per flow.
  if (src.includes(':') !== dst.includes(':')) dst = src.includes(':') ? '2001:db8:1::1' : '198.18.0.10';
  const icmp = s.proto === 1;
  return flow({
    srcIp: src, dstIp: dst, proto: src.includes(':') && icmp ? 58 : s.proto,
    srcPort: icmp ? 0 : s.sport, dstPort: icmp ? 0 : s.dport,
    icmpType: icmp ? (src.includes(':') ? 128 : 8) : -1,
    state: s.proto === 6 ? s.state : 'OTH',
    pktsToServer: 1, pktsToClient: s.replies,
    startMicros: micros, endMicros: micros + 1000,
  });
}

/** Scan and p2p through a runner; `shared` tells whether they ended up with one stage. */
function run(flows: Spec[], yaml: string): { alerts: AlertInput[]; shared: boolean; evictions: Record<string, number> } {
  const made: Detector[] = [];
  const wrap = <C,>(m: DetectorModule<C>): DetectorModule<C> => ({ ...m, create: (c, ctx) => { const d = m.create(c, ctx); made.push(d); return d; } });
  const modules = [wrap(scanModule), wrap(p2pModule)] as DetectorModule<unknown>[];
  const alerts: AlertInput[] = [];
  const runner = createDetectorRunner(parseConfigText(yaml, 't.yaml', modules), (a) => alerts.push(a), modules);
  let t = 1_000_000;
  for (const s of flows) {
    t += s.gapSeconds * 1e6 + 1;
    runner.onFlowEnd(toFlow(s, t));
    runner.onTick(t);
  }
  runner.flush(t + 1);
  const stage = (d: Detector) => (d as unknown as { attempts: unknown }).attempts;
  return { alerts, shared: stage(made[0]!) === stage(made[1]!), evictions: runner.stats().detector_evictions };
}

const LOCAL = 'localNetworks: ["10.0.0.0/8", "2001:db8::/48"]\n';
const UNSHARED = `${LOCAL}detectors:\n  p2p:\n    maxSources: 100001\n`;

describe('scan and p2p sharing their per-source attempts', () => {
  it('share with their default config, not when a deciding key differs', () => {
    expect(run([], LOCAL).shared).toBe(true);
    expect(run([], UNSHARED).shared).toBe(false);
    expect(run([], `${LOCAL}detectors:\n  scan:\n    skipPorts: [6881]\n`).shared).toBe(false);
    expect(run([], `${LOCAL}detectors:\n  p2p:\n    windowSeconds: 60\n`).shared).toBe(false);
  });

  it('raise the same alerts, in the same order, as two detectors on their own', () => {
    const rules = new Set<string>();
    fc.assert(
      fc.property(flows, (flows) => {
        const shared = run(flows, LOCAL);
        const alone = run(flows, UNSHARED);
        expect(shared.shared && !alone.shared).toBe(true);
        expect(shared.alerts).toEqual(alone.alerts);
        for (const a of shared.alerts) rules.add(a.ruleId);
      }),
      { numRuns: 100 },
    );
    // The flows reach every rule of both detectors, so the comparison covers them.
    expect([...rules].sort()).toEqual(['p2p.activity', 'scan.address', 'scan.port', 'scan.random']);
  });

  it('raise scan and p2p alerts from one source in one stage', () => {
    // A local host sweeps tcp/445 (scan.address at 10 hosts) and contacts 10 BitTorrent
    // peers (p2p.activity): scan leaves the compact stage at its threshold, p2p at its
    // first P2P-port contact, each keeping its own full state of the one source.
    const flows: Spec[] = [];
    for (let i = 0; i < 12; i++) flows.push({ src: 0, dst: i, proto: 6, dport: 445, sport: 40000 + i, state: 'S0', replies: 0, gapSeconds: 1 });
    for (let i = 0; i < 10; i++) flows.push({ src: 0, dst: 12 + i, proto: 6, dport: 6881, sport: 41000 + i, state: 'SF', replies: 2, gapSeconds: 1 });
    const { alerts, shared } = run(flows, LOCAL);
    expect(shared).toBe(true);
    expect(alerts.map((a) => `${a.ruleId}@${a.sourceIp}`)).toEqual(['scan.address@10.0.0.5', 'p2p.activity@10.0.0.5', 'scan.address@10.0.0.5']);
    expect(alerts[0]!.evidence.targets).toBe(10);
    expect(alerts[2]!.evidence.targets).toBe(12);
  });

  it('stay bounded by maxSources, each detector counting the sources it held', () => {
    // 300 sources, each with one failure (both detectors hold it): a table of 100 evicts 200.
    const modules = [scanModule, p2pModule] as DetectorModule<unknown>[];
    const yaml = `${LOCAL}detectors:\n  scan:\n    maxSources: 100\n  p2p:\n    maxSources: 100\n`;
    const runner = createDetectorRunner(parseConfigText(yaml, 't.yaml', modules), () => {}, modules);
    for (let i = 0; i < 300; i++) {
      const src = `172.16.${i >> 8}.${i & 255}`;
      runner.onFlowEnd(flow({ srcIp: src, dstIp: '198.18.0.1', dstPort: 80, state: 'S0', startMicros: 1e6 + i }));
    }
    expect(runner.stats().detector_evictions).toMatchObject({ 'scan.sources': 200, 'p2p.sources': 200 });
  });
});
