import { describe, expect, it } from 'vitest';
import { imbalanceModule } from '../../src/detect/imbalance.js';
import type { FlowRecord } from '../../src/flow/record.js';
import { boundedTable } from '../../src/detect/framework.js';
import { fakeContext, flow, makeDetector, type FakeContext } from './fake-context.js';

const MB = 1_000_000;
const small = { minOutboundBytes: 100 * MB, minInboundBytes: 1000 * MB, minRatio: 10 };

/** A remote client fetching from local server 10.1.0.80:port. */
function served(bytesOut: number, bytesIn: number, port = 80, client = '203.0.113.9', t = 10e6): FlowRecord {
  return flow({ srcIp: client, srcPort: 50000, dstIp: '10.1.0.80', dstPort: port, bytesToServer: bytesIn, bytesToClient: bytesOut,
    startMicros: t, endMicros: t + 1e6 });
}
/** Local 10.1.0.7 as a client sending to remote peer:port. */
function sent(bytesOut: number, bytesIn: number, port: number, peer: string, srcPort = 40000): FlowRecord {
  return flow({ srcIp: '10.1.0.7', srcPort, dstIp: peer, dstPort: port, bytesToServer: bytesOut, bytesToClient: bytesIn,
    startMicros: 10e6, endMicros: 11e6 });
}

describe('traffic.imbalance', () => {
  it('outbound: just under and just over the byte floor and the ratio', () => {
    for (const [out, inb, fires] of [[99 * MB, 1 * MB, false], [100 * MB, 10 * MB + 1, false], [100 * MB, 10 * MB, true]] as const) {
      const { det, ctx } = makeDetector(imbalanceModule, small);
      det.onFlowEnd(served(out - 1 * MB, inb - 0.5 * MB));
      det.onFlowEnd(served(1 * MB, 0.5 * MB, 80, '198.51.100.1'));
      det.flush!(20e6);
      expect(ctx.alerts.length, `${out}/${inb}`).toBe(fires ? 1 : 0);
    }
  });

  it('web server serving far more than it receives', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small);
    for (let i = 0; i < 10; i++) det.onFlowEnd(served(30 * MB, 0.2 * MB, 80, `203.0.113.${i}`));
    det.onFlowEnd(served(1 * MB, 0.1 * MB, 22));
    det.flush!(20e6);
    const a = ctx.alerts[0]!;
    expect(a.ruleId).toBe('traffic.imbalance');
    expect(a.sourceIp).toBe('10.1.0.80');
    expect(a.evidence.cause).toBe('web-server');
    expect(a.evidence.bytes_out).toBe(301 * MB);
    expect(a.evidence.peers).toBe(10);
    const top = a.evidence.top_ports as { port: number; role: string; bytes_out: number }[];
    expect(top[0]).toMatchObject({ port: 80, role: 'server', bytes_out: 300 * MB });
    expect(a.message).toContain('serving tcp/80');
    expect(a.message).toContain('command execution');
    expect(a.severity).toBe(3);
  });

  it('mail relay: SMTP to many destinations', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small);
    for (let i = 0; i < 200; i++) det.onFlowEnd(sent(1 * MB, 10_000, 25, `198.51.${i >> 8}.${i & 255}`));
    det.flush!(20e6);
    expect(ctx.alerts[0]!.evidence.cause).toBe('mail-relay');
    expect(ctx.alerts[0]!.sourceIp).toBe('10.1.0.7');
  });

  it('FTP server (active data from port 20) reads as warez', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small);
    det.onFlowEnd(served(0.01 * MB, 0.01 * MB, 21));
    // Active FTP: the local server connects from 20 to the client's high port.
    for (let i = 0; i < 5; i++) det.onFlowEnd(flow({ srcIp: '10.1.0.80', srcPort: 20, dstIp: `203.0.113.${i}`, dstPort: 50000 + i, bytesToServer: 40 * MB, bytesToClient: 0.1 * MB }));
    det.flush!(20e6);
    expect(ctx.alerts[0]!.evidence.cause).toBe('ftp-server');
  });

  it('many peers on high ports reads as P2P or bot', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small);
    for (let i = 0; i < 60; i++) det.onFlowEnd(sent(2 * MB, 0.05 * MB, 6881 + (i % 5) * 1000 + i, `198.51.100.${i}`));
    det.flush!(20e6);
    expect(ctx.alerts[0]!.evidence.cause).toBe('p2p-or-bot');
    expect(ctx.alerts[0]!.severity).toBe(2);
  });

  it('inbound needs the higher floor', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small);
    det.onFlowEnd(sent(1 * MB, 999 * MB, 443, '198.51.100.1'));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(0);
    det.onFlowEnd(sent(1 * MB, 1000 * MB, 443, '198.51.100.1'));
    det.flush!(20e6);
    expect(ctx.alerts[0]!.evidence.direction).toBe('inbound');
  });

  it('remote hosts are not tracked', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small);
    det.onFlowEnd(flow({ srcIp: '203.0.113.1', dstIp: '198.51.100.1', bytesToServer: 900 * MB }));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(0);
  });

  it('windows close on packet time: volume in two windows does not add up', () => {
    for (const [secondAt, fires] of [[50e6, true], [80e6, false]] as const) {
      const { det, ctx } = makeDetector(imbalanceModule, { ...small, windowSeconds: 60 });
      det.onFlowEnd(served(60 * MB, 0, 80, '203.0.113.9', 10e6)); // window starts at 11 s
      det.onTick!(secondAt);
      det.onFlowEnd(served(60 * MB, 0, 80, '203.0.113.9', secondAt));
      det.flush!(secondAt + 2e6);
      expect(ctx.alerts.length, `second flow at ${secondAt}`).toBe(fires ? 1 : 0);
    }
  });

  it('per-host port counters stay at portsPerHost (Space-Saving)', () => {
    const { det, ctx } = makeDetector(imbalanceModule, { ...small, portsPerHost: 4 });
    det.onFlowEnd(served(200 * MB, 0, 443));
    for (let p = 1; p <= 100; p++) det.onFlowEnd(served(10_000, 0, 1000 + p));
    det.flush!(20e6);
    const top = ctx.alerts[0]!.evidence.top_ports as { port: number }[];
    expect(top.length).toBe(4);
    expect(top[0]!.port).toBe(443);
  });
});

/** fakeContext with the runner's own tables (src/detect/framework.ts): evictions call onEvict. */
function evicting(localNetworks?: string[]): FakeContext & { counted: Record<string, number> } {
  const counted: Record<string, number> = {};
  const base = fakeContext(localNetworks);
  return Object.assign(base, {
    counted,
    table: <K extends {}, V extends {}>(name: string, max: number, onEvict?: (v: V, k: K) => void) => boundedTable<K, V>(name, max, counted, onEvict),
  });
}

describe('traffic.imbalance: host slots', () => {
  it('keeps 1,000 hosts apart: their records span several chunks of the slabs', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small);
    // Two flows each, so every host's totals and detail record are read back and added to.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 1000; i++) {
        det.onFlowEnd(flow({ srcIp: `10.2.${i >> 8}.${i & 255}`, srcPort: 40000, dstIp: '198.51.100.7', dstPort: 1000 + i,
          bytesToServer: 50 * MB + i * 1000, bytesToClient: 1000 + i, startMicros: 10e6, endMicros: 11e6 }));
      }
    }
    det.flush!(20e6);
    expect(ctx.alerts.length).toBe(1000);
    for (const a of ctx.alerts) {
      const i = Number(a.sourceIp!.split('.')[2]) * 256 + Number(a.sourceIp!.split('.')[3]);
      expect(a.evidence.bytes_out, a.sourceIp).toBe(2 * (50 * MB + i * 1000));
      const top = a.evidence.top_ports as { port: number; bytes_out: number }[];
      expect(top.map((p) => p.port), a.sourceIp).toEqual([1000 + i]);
    }
  });

  it('an evicted host starts over clean when it comes back in a reused slot', () => {
    const ctx = evicting();
    const { det } = makeDetector(imbalanceModule, { ...small, maxTrackedHosts: 2 }, ctx);
    // 10.1.0.80 serves 60 MB on 10 ports to 10 peers, then two other hosts push it out.
    for (let i = 0; i < 10; i++) det.onFlowEnd(served(6 * MB, 0, 8000 + i, `203.0.113.${i}`));
    det.onFlowEnd(sent(1 * MB, 0, 443, '198.51.100.1'));
    det.onFlowEnd(flow({ srcIp: '10.1.0.9', dstIp: '198.51.100.2', bytesToServer: 1 * MB, startMicros: 10e6, endMicros: 11e6 }));
    expect(ctx.counted['hosts']).toBe(1);
    // Back with 60 MB more: under the 100 MB floor unless the old 60 MB were still counted.
    det.onFlowEnd(served(60 * MB, 0, 80, '203.0.113.200'));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(0);
  });

  it('a new host in a reused slot has none of the old host\'s ports or peers', () => {
    const ctx = evicting();
    const { det } = makeDetector(imbalanceModule, { ...small, maxTrackedHosts: 1 }, ctx);
    for (let i = 0; i < 60; i++) det.onFlowEnd(sent(1 * MB, 0, 6000 + i, `198.51.100.${i}`));
    // 10.1.0.80 takes the slot of 10.1.0.7 (60 peers, 16 ports).
    det.onFlowEnd(served(150 * MB, 1 * MB, 443, '203.0.113.9'));
    det.flush!(20e6);
    expect(ctx.counted['hosts']).toBe(1);
    expect(ctx.alerts).toHaveLength(1);
    const a = ctx.alerts[0]!;
    expect(a.sourceIp).toBe('10.1.0.80');
    expect(a.evidence).toMatchObject({ bytes_out: 150 * MB, bytes_in: 1 * MB, flows: 1, peers: 1, cause: 'web-server' });
    expect(a.evidence.top_ports).toEqual([{ port: 443, proto: 'tcp', role: 'server', bytes_out: 150 * MB, bytes_in: 1 * MB, flows: 1 }]);
  });

  it('a new window starts every host over (peers, ports, bytes)', () => {
    const { det, ctx } = makeDetector(imbalanceModule, { ...small, windowSeconds: 60 });
    for (let i = 0; i < 60; i++) det.onFlowEnd(sent(0.1 * MB, 0, 6000 + i, `198.51.100.${i}`));
    det.onTick!(80e6); // window closes: 6 MB, nothing to report
    det.onFlowEnd(flow({ srcIp: '10.1.0.7', srcPort: 40000, dstIp: '198.51.100.1', dstPort: 7000, bytesToServer: 200 * MB, startMicros: 81e6, endMicros: 82e6 }));
    det.flush!(90e6);
    expect(ctx.alerts).toHaveLength(1);
    expect(ctx.alerts[0]!.evidence).toMatchObject({ bytes_out: 200 * MB, flows: 1, peers: 1, cause: 'unclassified' });
    expect((ctx.alerts[0]!.evidence.top_ports as unknown[]).length).toBe(1);
  });

  it('distinct peers: exact up to maxPeersPerHost, then "N+", also past 64', () => {
    for (const [maxPeers, peers, shown] of [[64, 100, '64+'], [200, 150, '150'], [200, 250, '200+'], [5, 3, '3']] as const) {
      const { det, ctx } = makeDetector(imbalanceModule, { ...small, maxPeersPerHost: maxPeers });
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < peers; i++) det.onFlowEnd(sent(Math.ceil((100 * MB) / peers), 0, 25, `198.51.${i >> 8}.${i & 255}`));
      }
      det.flush!(20e6);
      const a = ctx.alerts[0]!;
      expect(a.evidence.peers, `${maxPeers}/${peers}`).toBe(Math.min(maxPeers, peers));
      expect(a.message).toContain(` to ${shown} peers`);
    }
  });
});

describe('traffic.imbalance: ports and peers once a host moves 1/1000 of the floor', () => {
  it('counts totals from the first flow, ports and peers from the flow that reaches it', () => {
    // small: the smaller floor is 100 MB, so ports and peers count from 100 kB on.
    const { det, ctx } = makeDetector(imbalanceModule, small);
    // 99 kB to 99 peers on tcp/9999: under 100 kB, totals only.
    for (let i = 0; i < 99; i++) det.onFlowEnd(sent(1000, 0, 9999, `198.51.100.${i}`));
    // The flow that brings the host to 100 kB is the first with ports and peers.
    det.onFlowEnd(sent(1000, 0, 25, '192.0.2.1'));
    for (let i = 0; i < 3; i++) det.onFlowEnd(sent(40 * MB, 0, 25, `192.0.2.${10 + i}`));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(1);
    expect(ctx.alerts[0]!.evidence).toMatchObject({ bytes_out: 120 * MB + 100_000, flows: 103, peers: 4, cause: 'mail-relay' });
    expect(ctx.alerts[0]!.evidence.top_ports).toEqual([{ port: 25, proto: 'tcp', role: 'client', bytes_out: 120 * MB + 1000, bytes_in: 0, flows: 4 }]);
  });

  it('an evicted host gives its ports back with its totals', () => {
    const ctx = evicting();
    const { det } = makeDetector(imbalanceModule, { ...small, maxTrackedHosts: 1 }, ctx);
    // 10.1.0.7 gets a detail record (ports 6000-6059, 60 peers), then 10.1.0.80 takes its
    // slot and reaches the floor through one port: it must not see 10.1.0.7's ports.
    for (let i = 0; i < 60; i++) det.onFlowEnd(sent(1 * MB, 0, 6000 + i, `198.51.100.${i}`));
    det.onFlowEnd(served(50 * MB, 0, 443, '203.0.113.9'));
    for (let i = 0; i < 60; i++) det.onFlowEnd(sent(1 * MB, 0, 6000 + i, `198.51.100.${i}`));
    det.onFlowEnd(served(150 * MB, 0, 443, '203.0.113.9'));
    det.flush!(20e6);
    expect(ctx.counted['hosts']).toBe(3);
    expect(ctx.alerts.map((a) => [a.sourceIp, a.evidence.bytes_out, a.evidence.peers, (a.evidence.top_ports as unknown[]).length])).toEqual([
      ['10.1.0.80', 150 * MB, 1, 1],
    ]);
  });
});

describe('traffic.imbalance: IPv6 hosts', () => {
  it('reports an IPv6 host by its text and counts its IPv6 peers', () => {
    const { det, ctx } = makeDetector(imbalanceModule, small, fakeContext(['10.0.0.0/8', '2001:db8:1::/48']));
    for (let i = 0; i < 60; i++) {
      det.onFlowEnd(flow({ srcIp: `2001:db8:2::${(i + 1).toString(16)}`, srcPort: 50000, dstIp: '2001:db8:1::80', dstPort: 443,
        bytesToServer: 0.01 * MB, bytesToClient: 2 * MB, startMicros: 10e6, endMicros: 11e6 }));
    }
    det.flush!(20e6);
    const a = ctx.alerts[0]!;
    expect(a.sourceIp).toBe('2001:db8:1::80');
    expect(a.message).toMatch(/^2001:db8:1::80 sent \S+ .* to 60 peers: web server/);
    expect(a.evidence).toMatchObject({ peers: 60, flows: 60, cause: 'web-server', direction: 'outbound' });
  });

  it('IPv4 and IPv6 hosts side by side through a small table', () => {
    const { det, ctx } = makeDetector(imbalanceModule, { ...small, maxTrackedHosts: 2 }, evicting(['10.0.0.0/8', '2001:db8:1::/48']));
    for (let round = 0; round < 3; round++) {
      det.onFlowEnd(flow({ srcIp: '2001:db8:1::7', dstIp: '2001:db8:9::1', dstPort: 25, bytesToServer: 50 * MB, startMicros: 10e6, endMicros: 11e6 }));
      det.onFlowEnd(flow({ srcIp: '10.1.0.7', dstIp: '198.51.100.1', dstPort: 25, bytesToServer: 50 * MB, startMicros: 10e6, endMicros: 11e6 }));
    }
    det.flush!(20e6);
    expect(ctx.alerts.map((a) => [a.sourceIp, a.evidence.bytes_out, a.evidence.cause])).toEqual([
      ['10.1.0.7', 150 * MB, 'mail-relay'],
      ['2001:db8:1::7', 150 * MB, 'mail-relay'],
    ]);
  });
});
