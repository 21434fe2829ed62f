import { describe, expect, it } from 'vitest';
import * as kit from '../../src/config/fields.js';
import { p2pModule, p2pSchema, type P2pConfig } from '../../src/detect/p2p.js';
import { scanModule, scanSchema } from '../../src/detect/scan.js';
import { FlowRecord } from '../../src/flow/record.js';
import type { SharedAttempts } from '../../src/detect/shared-attempts.js';
import { FakeContext, flow, type FlowSpec } from './scan-fixtures.js';

/** Runs both the scan and the p2p detector over the flows, as the registry would. */
function run(flows: FlowSpec[], overrides: Partial<P2pConfig> = {}) {
  const ctx = new FakeContext();
  const dets = [p2pModule.create(p2pSchema(kit).parse(overrides), ctx), scanModule.create(scanSchema(kit).parse({}), ctx)];
  const rec = new FlowRecord();
  for (const s of flows) for (const d of dets) d.onFlowEnd(flow(s, rec));
  return ctx;
}
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const HOST = '10.0.2.15';

describe('p2p.activity by P2P ports', () => {
  const torrent = (n: number, extra: Partial<FlowSpec> = {}) =>
    range(n).map((i) => ({ src: HOST, dst: `198.51.${i}.20`, dport: 6881 + (i % 9), t: i, ...extra }));

  it('fires at minPeers distinct peers on BitTorrent ports, info severity, not a scan', () => {
    expect(run(torrent(9, { state: 'SF' })).alerts).toHaveLength(0);
    const ctx = run(torrent(10, { state: 'SF' }));
    expect(ctx.rules()).toEqual([`p2p.activity@${HOST}`]);
    const a = ctx.alerts[0]!;
    expect(a.severity).toBe(1);
    expect(a.evidence.reason).toBe('p2p-ports');
    expect(a.evidence.p2p_family).toEqual(['BitTorrent']);
  });

  it('reports an unanswered sweep of a P2P port as P2P, never as scan.*', () => {
    const ctx = run(range(60).map((i) => ({ src: HOST, dst: `198.51.100.${i}`, dport: 6346, t: i })));
    expect(ctx.rules()).toEqual([`p2p.activity@${HOST}`]);
  });

  it('counts a peer once however often it is contacted', () => {
    expect(run(range(30).map((i) => ({ src: HOST, dst: '198.51.100.1', dport: 6881, sport: 50000 + i, t: i }))).alerts).toHaveLength(0);
  });
});

describe('p2p.activity by peer pattern', () => {
  // Peers on their own random high ports, each tried once; a quarter answered.
  const peers = (n: number, portOf = (i: number) => 20000 + ((i * 7919) % 40000)) =>
    range(n).map((i) => ({
      src: HOST, dst: `${20 + (i % 200)}.${i}.7.9`, dport: portOf(i), proto: 'udp' as const, sport: 28681, t: i,
      pktsToClient: i % 4 === 0 ? 1 : 0,
    }));

  it('fires once the failed spread reaches the scan.random size, and no scan.* fires', () => {
    // 34 attempts, 25 unanswered: 25 hosts, 25 ports.
    const ctx = run(peers(34));
    expect(ctx.rules()).toEqual([`p2p.activity@${HOST}`]);
    expect(ctx.alerts[0]!.evidence.reason).toBe('peer-pattern');
    expect(run(peers(32)).alerts).toHaveLength(0);
  });

  it('does not call a scan of well-known ports peer-like', () => {
    const services = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1433, 1723, 3306, 3389, 5900, 8080, 8443, 119, 161, 389, 636, 873, 2049, 5432];
    const ctx = run(peers(200, (i) => services[i % services.length]!));
    expect(ctx.rules().some((r) => r.startsWith('p2p.'))).toBe(false);
    expect(ctx.rules().some((r) => r.startsWith('scan.'))).toBe(true);
  });

  it('does not call an address scan peer-like', () => {
    const ctx = run(range(100).map((i) => ({ src: '203.0.113.9', dst: `198.51.100.${i}`, dport: 40125, proto: 'udp' as const })));
    expect(ctx.rules()).toEqual(['scan.address@203.0.113.9']);
  });
});

describe('p2p tables', () => {
  it('stay bounded by maxSources', () => {
    const ctx = new FakeContext();
    const det = p2pModule.create(p2pSchema(kit).parse({ maxSources: 500 }), ctx);
    const rec = new FlowRecord();
    for (let i = 0; i < 5000; i++) det.onFlowEnd(flow({ src: `172.16.${i >> 8}.${i & 255}`, dst: '192.0.2.1', dport: 6881 }, rec));
    expect((ctx.sharedMade[0] as SharedAttempts).size).toBe(500);
  });
});
