import { describe, expect, it } from 'vitest';
import * as kit from '../../src/config/fields.js';
import { scanModule, scanSchema, type ScanConfig } from '../../src/detect/scan.js';
import { FlowRecord } from '../../src/flow/record.js';
import type { SharedAttempts } from '../../src/detect/shared-attempts.js';
import { FakeContext, flow, type FlowSpec } from './scan-fixtures.js';

function run(flows: FlowSpec[], overrides: Partial<ScanConfig> = {}, ctx = new FakeContext()) {
  const config = scanSchema(kit).parse(overrides);
  const det = scanModule.create(config, ctx);
  const rec = new FlowRecord(); // reused like the flow table does
  for (const s of flows) det.onFlowEnd(flow(s, rec));
  det.flush?.(0);
  return ctx;
}

const distinct = (ctx: FakeContext) => [...new Set(ctx.rules())];
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const SCANNER = '203.0.113.50';

describe('scan config', () => {
  it('fills every default and rejects unknown keys', () => {
    const c = scanSchema(kit).parse({});
    expect(c.windowSeconds).toBe(300);
    expect(c.portMinPorts).toBe(15);
    expect(c.addressMinHosts).toBe(25);
    expect(() => scanSchema(kit).parse({ minPorts: 3 })).toThrow();
    expect(() => scanSchema(kit).parse({ skipPorts: ['80-'] })).toThrow();
  });
});

describe('scan.port', () => {
  const portFlows = (n: number) => range(n, 1).map((p, i) => ({ src: SCANNER, dst: '192.0.2.10', dport: p, t: i }));

  it('stays quiet at 14 failed ports and fires at 15', () => {
    expect(run(portFlows(14)).alerts).toHaveLength(0);
    const ctx = run(portFlows(15));
    expect(distinct(ctx)).toEqual([`scan.port@${SCANNER}`]);
    const a = ctx.alerts[0]!;
    expect(a.destinationIp).toBe('192.0.2.10');
    expect(a.suppressKey).toBe('192.0.2.10');
    expect(a.severity).toBe(2);
    expect(a.transport).toBe('tcp');
    expect(a.evidence.ports).toBe(15);
    expect(a.message).toContain('probed 15 ports on 192.0.2.10');
  });

  it('fires once for a long scan and keeps the probe table, refusals and open ports', () => {
    const flows: FlowSpec[] = range(200, 1).map((p, i) => ({
      src: SCANNER, dst: '192.0.2.10', dport: p, sport: 41859, t: i * 0.01,
      state: p === 80 || p === 180 ? 'SH' : 'REJ',
    }));
    flows.push({ src: SCANNER, dst: '192.0.2.10', dport: 25, sport: 41859, t: 3, state: 'REJ' });
    const ctx = run(flows);
    expect(distinct(ctx)).toEqual([`scan.port@${SCANNER}`]);
    const ev = ctx.alerts[0]!.evidence;
    expect(ev.rst_received).toBe(15);
    expect((ev.same_src_port as { port: number }).port).toBe(41859);
    // At the end of input the same alert again with the final size (the log summarises it).
    expect(ctx.alerts).toHaveLength(2);
    const last = ctx.alerts[1]!;
    expect(last.suppressKey).toBe(ctx.alerts[0]!.suppressKey);
    expect(last.message).toBe(`${SCANNER} probed 198 ports on 192.0.2.10 (199 failed, 199 refused, 2 open)`);
    expect(last.evidence.open_ports).toEqual([80, 180]);
  });

  it('reports the final size when the source goes quiet for windowSeconds (onTick)', () => {
    const ctx = new FakeContext();
    const det = scanModule.create(scanSchema(kit).parse({}), ctx);
    const rec = new FlowRecord();
    for (const p of range(40, 1)) det.onFlowEnd(flow({ src: SCANNER, dst: '192.0.2.10', dport: p, t: 10 }, rec));
    expect(ctx.alerts).toHaveLength(1);
    det.onTick!(200e6);
    expect(ctx.alerts).toHaveLength(1);
    det.onTick!(311e6);
    expect(ctx.alerts).toHaveLength(2);
    expect(ctx.alerts[1]!.evidence.ports).toBe(40);
    det.flush!(400e6);
    expect(ctx.alerts).toHaveLength(2);
  });

  it('evidence at the end of input: a probed port repeated shows in the probe table', () => {
    const flows: FlowSpec[] = [];
    for (let i = 0; i < 5; i++) flows.push({ src: SCANNER, dst: '192.0.2.10', dport: 1025, t: i });
    for (const p of range(14, 2000)) flows.push({ src: SCANNER, dst: '192.0.2.10', dport: p, t: 6 });
    const ctx = run(flows);
    expect(ctx.alerts).toHaveLength(1);
    expect((ctx.alerts[0]!.evidence.probes as string[])[0]).toBe('5 times probe on dstport 1025');
  });

  it('does not count answered sessions', () => {
    const flows = range(40, 1).map((p) => ({ src: SCANNER, dst: '192.0.2.10', dport: p, state: 'SF' as const }));
    expect(run(flows).alerts).toHaveLength(0);
    const sh = range(40, 1).map((p) => ({ src: SCANNER, dst: '192.0.2.10', dport: p, state: 'SH' as const }));
    expect(run(sh).alerts).toHaveLength(0);
  });

  it('drops attempts older than windowSeconds', () => {
    const flows = range(15, 1).map((p, i) => ({ src: SCANNER, dst: '192.0.2.10', dport: p, t: i < 10 ? i : 400 + i }));
    expect(run(flows).alerts).toHaveLength(0);
    expect(run(flows, { windowSeconds: 600 }).alerts).toHaveLength(1);
  });

  it('counts UDP without reply and UDP answered only by ICMP port unreachable', () => {
    const flows = range(15, 1).map((p) => ({
      src: SCANNER, dst: '192.0.2.10', dport: p, proto: 'udp' as const,
      ...(p % 2 ? { pktsToClient: 1, icmpErrors: 1, icmpErrorType: 3 } : {}),
    }));
    const ctx = run(flows);
    expect(distinct(ctx)).toEqual([`scan.port@${SCANNER}`]);
    expect(ctx.alerts[0]!.transport).toBe('udp');
    expect(ctx.alerts[0]!.evidence.icmp_unreachable_received).toBe(8);
    // A real UDP answer is not a failure.
    const answered = range(15, 1).map((p) => ({ src: SCANNER, dst: '192.0.2.10', dport: p, proto: 'udp' as const, pktsToClient: 1 }));
    expect(run(answered).alerts).toHaveLength(0);
  });

  it('ignores unanswered SYNs from a service port to high ports (backscatter / split replies)', () => {
    const flows = range(30, 40000).map((p) => ({ src: '10.0.0.80', dst: '10.0.0.10', sport: 80, dport: p }));
    expect(run(flows).alerts).toHaveLength(0);
    // The same from an ephemeral source port is a port scan; so are low ports from port 80.
    expect(distinct(run(flows.map((f) => ({ ...f, sport: 51000 }))))).toEqual(['scan.port@10.0.0.80']);
    expect(distinct(run(range(30, 1).map((p) => ({ src: '10.0.0.80', dst: '10.0.0.10', sport: 80, dport: p }))))).toEqual(['scan.port@10.0.0.80']);
  });

  it('ignores flows seen from the responder side (first packet a SYN/ACK)', () => {
    const flows = range(30, 1000).map((p) => ({
      src: '10.0.0.80', dst: '10.0.0.10', sport: 80, dport: p, state: 'OTH' as const, pktsToClient: 1, tcpFlagsToClient: 0x12,
    }));
    expect(run(flows).alerts).toHaveLength(0);
  });
});

describe('scan.address', () => {
  const sweep = (n: number, src = SCANNER, dport = 80, extra: Partial<FlowSpec> = {}) =>
    range(n, 1).map((h, i) => ({ src, dst: `198.51.100.${h}`, dport, t: i * 0.1, ...extra }));

  it('stays quiet at 24 hosts and fires at 25 for a remote source', () => {
    expect(run(sweep(24)).alerts).toHaveLength(0);
    const ctx = run(sweep(25));
    expect(distinct(ctx)).toEqual([`scan.address@${SCANNER}`]);
    const a = ctx.alerts[0]!;
    expect(a.destinationPort).toBe(80);
    expect(a.suppressKey).toBe('tcp/80');
    expect(a.severity).toBe(2);
    expect(a.message).toBe(`${SCANNER} probed 25 hosts on tcp/80 (25 unanswered)`);
    expect((a.evidence.sample as string[]).length).toBe(10);
  });

  it('uses the lower local threshold and severity 3 for an inside source', () => {
    expect(run(sweep(9, '10.1.2.3')).alerts).toHaveLength(0);
    const ctx = run(sweep(10, '10.1.2.3'));
    expect(distinct(ctx)).toEqual(['scan.address@10.1.2.3']);
    expect(ctx.alerts[0]!.severity).toBe(3);
  });

  it('raises severity and hints a worm for 445, hints MyDoom for 3127', () => {
    const ctx = run(sweep(25, SCANNER, 445));
    expect(ctx.alerts[0]!.severity).toBe(3);
    expect(String(ctx.alerts[0]!.evidence.worm_hint)).toMatch(/Sasser|Conficker/);
    const mydoom = run(sweep(25, SCANNER, 3127));
    expect(mydoom.alerts[0]!.severity).toBe(2);
    expect(String(mydoom.alerts[0]!.evidence.worm_hint)).toMatch(/MyDoom/);
  });

  it('counts ACK probes unanswered or answered by a bare RST, not ones with data', () => {
    expect(run(sweep(25, SCANNER, 80, { state: 'OTH', pktsToClient: 0 })).alerts).toHaveLength(1);
    expect(run(sweep(25, SCANNER, 80, { state: 'OTH', pktsToClient: 1, tcpFlagsToClient: 0x04 })).alerts).toHaveLength(1);
    expect(run(sweep(25, SCANNER, 80, { state: 'OTH', pktsToClient: 3, tcpFlagsToClient: 0x18, payloadToClient: 100 })).alerts).toHaveLength(0);
  });

  it('counts ICMP echo sweeps as address scans on "icmp echo"', () => {
    const flows = range(30, 1).map((h) => ({ src: SCANNER, dst: `198.51.100.${h}`, proto: 'icmp' as const, sport: 7, dport: 7 }));
    const ctx = run(flows);
    expect(distinct(ctx)).toEqual([`scan.address@${SCANNER}`]);
    expect(ctx.alerts[0]!.message).toContain('hosts on icmp echo');
    expect(ctx.alerts[0]!.destinationPort).toBeUndefined();
    // Echo replies make it a normal ping of live hosts.
    const answered = flows.map((f) => ({ ...f, pktsToClient: 1 }));
    expect(run(answered).alerts).toHaveLength(0);
  });

  it('does not report P2P ports as scans', () => {
    expect(run(sweep(50, SCANNER, 6881)).alerts).toHaveLength(0);
    expect(run(sweep(50, SCANNER, 6346, { proto: 'udp' })).alerts).toHaveLength(0);
  });

  it('does not count multicast destinations', () => {
    const flows = range(30, 1).map((h) => ({ src: '10.0.2.15', dst: `239.255.0.${h}`, dport: 1900, proto: 'udp' as const }));
    expect(run(flows).alerts).toHaveLength(0);
  });

  it('does not count a spoofed flood: many sources, one attempt each', () => {
    const flows = range(5000).map((i) => ({ src: `${1 + (i % 200)}.${(i >> 8) & 255}.${i & 255}.9`, dst: '10.10.10.10', dport: 25565 }));
    expect(run(flows).alerts).toHaveLength(0);
  });
});

describe('scan.random', () => {
  // A scanner trying service ports across hosts: each port on a few hosts, each host on a few ports.
  const services = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1433, 1723, 3306, 3389, 5900, 8080, 8443, 110, 119, 161, 389, 636, 873, 2049, 5432];
  const grid = (hosts: number, ports: number) => {
    const flows: FlowSpec[] = [];
    for (let h = 0; h < hosts; h++) for (let k = 0; k < 3; k++) flows.push({ src: SCANNER, dst: `198.51.${h}.7`, dport: services[(h * 3 + k) % ports]!, t: h });
    return flows;
  };

  it('fires for many hosts on many ports that fit neither port nor address scan', () => {
    const ctx = run(grid(40, 30));
    expect(distinct(ctx)).toEqual([`scan.random@${SCANNER}`]);
    expect(ctx.alerts[0]!.evidence.targets).toBeGreaterThanOrEqual(25);
  });

  it('stays quiet under the host threshold', () => {
    expect(run(grid(24, 30)).alerts).toHaveLength(0);
  });

  it('leaves a peer-like spread (one high port per host) to p2p.activity', () => {
    const flows = range(60).map((i) => ({ src: SCANNER, dst: `198.51.${i}.7`, dport: 20000 + i * 7, proto: 'udp' as const, sport: 28681 }));
    expect(run(flows).alerts).toHaveLength(0);
  });
});

describe('scan tables', () => {
  it('stay bounded by maxSources', () => {
    const ctx = new FakeContext();
    const flows = range(10_000).map((i) => ({ src: `172.16.${i >> 8}.${i & 255}`, dst: '192.0.2.1', dport: 80 + (i % 3) }));
    run(flows, { maxSources: 1000 }, ctx);
    const t = ctx.sharedMade[0] as SharedAttempts;
    expect(t.size).toBeLessThanOrEqual(1000);
    expect(t.size).toBe(1000);
  });

  it('cap pairs per source and say so', () => {
    const flows = range(100, 1).map((p) => ({ src: SCANNER, dst: '192.0.2.10', dport: p }));
    const ctx = run(flows, { maxPairsPerSource: 16, portMinPorts: 15 });
    expect(ctx.alerts).toHaveLength(2);
    expect(ctx.alerts[1]!.evidence.pairs_capped).toBe(84);
    expect(ctx.alerts[1]!.evidence.ports).toBe(16);
  });
});
