import { describe, expect, it } from 'vitest';
import { icmpUnreachableModule } from '../../src/detect/icmp-unreachable.js';
import type { FlowRecord } from '../../src/flow/record.js';
import { flow, makeDetector } from './fake-context.js';

/** A UDP probe from the scanner 10.0.0.9 to host i that drew a port unreachable back. */
function attributed(i: number, port = 161, extra: Partial<FlowRecord> = {}): FlowRecord {
  return flow({ proto: 17, srcIp: '10.0.0.9', dstIp: `198.51.100.${i}`, srcPort: 40000, dstPort: port, state: 'S0',
    pktsToServer: 1, pktsToClient: 1, icmpErrors: 1, icmpErrorType: 3, icmpErrorCode: 3, icmpErrorFrom: `198.51.100.${i}`,
    startMicros: i * 1e6, endMicros: i * 1e6 + 1000, ...extra });
}

/** Orphan: router 10.0.0.2 sent `n` protocol unreachables to 10.0.0.128 quoting 192.168.231.128 -> dst. */
function orphan(n: number, dst = '192.168.1.67', proto = 241, t = 5e6): FlowRecord {
  return flow({ proto: 1, srcIp: '10.0.0.2', dstIp: '10.0.0.128', srcPort: 0, dstPort: 0, state: 'S0',
    icmpType: 3, icmpCode: 2, pktsToServer: n, icmpQuotedSrcIp: '192.168.231.128', icmpQuotedDstIp: dst,
    icmpQuotedProto: proto, icmpQuotedDstPort: -1, startMicros: t, endMicros: t + 26_000 });
}

describe('icmp.unreachable', () => {
  it('scan-like trigger: just under and just over minUnreachables / minTargets', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule, { minUnreachables: 20, minTargets: 5 });
    for (let i = 1; i <= 19; i++) det.onFlowEnd(attributed(i));
    det.onTick!(100e6);
    expect(ctx.alerts).toHaveLength(0);
    det.onFlowEnd(attributed(20));
    expect(ctx.alerts).toHaveLength(0); // written on the next tick, with the evidence so far
    det.onTick!(101e6);
    expect(ctx.alerts).toHaveLength(1);
    const a = ctx.alerts[0]!;
    expect(a.sourceIp).toBe('10.0.0.9');
    expect(a.severity).toBe(3);
    expect(a.evidence.unreachables).toBe(20);
    expect(a.evidence.by_code).toEqual({ port: 20 });
    expect(a.evidence.targets).toBe(20);
    expect(a.evidence.destinations).toBe(20);
    expect(a.evidence.attributed).toBe(20);
    expect((a.evidence.sample as string[])[0]).toBe('198.51.100.1:udp/161');
    expect(a.message).toContain('20 ICMP unreachables (20 port)');
    // No repeat within the window.
    for (let i = 21; i <= 40; i++) det.onFlowEnd(attributed(i));
    det.flush!(200e6);
    expect(ctx.alerts).toHaveLength(1);
  });

  it('many errors to too few targets need the volume trigger', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule, { minUnreachables: 20, minTargets: 5, volumeUnreachables: 100 });
    // 4 targets, 99 errors: neither trigger.
    for (let i = 1; i <= 4; i++) det.onFlowEnd(attributed(i, 514, { icmpErrors: i === 4 ? 24 : 25 }));
    det.flush!(10e6);
    expect(ctx.alerts).toHaveLength(0);
    det.onFlowEnd(attributed(1, 514, { icmpErrors: 1, endMicros: 10e6 }));
    det.flush!(11e6);
    expect(ctx.alerts).toHaveLength(1);
    expect(ctx.alerts[0]!.severity).toBe(2);
    expect(ctx.alerts[0]!.evidence.unreachables).toBe(100);
  });

  it('window: errors spread wider than windowSeconds do not add up', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule, { windowSeconds: 300 });
    for (let i = 1; i <= 19; i++) det.onFlowEnd(attributed(i));
    det.onFlowEnd(attributed(20, 161, { endMicros: 400e6 }));
    det.flush!(400e6);
    expect(ctx.alerts).toHaveLength(0);
  });

  it('orphan errors are attributed to the quoted sender; receiver and router in evidence', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule);
    det.onFlowEnd(orphan(252));
    det.flush!(6e6);
    expect(ctx.alerts).toHaveLength(1);
    const a = ctx.alerts[0]!;
    expect(a.sourceIp).toBe('192.168.231.128');
    expect(a.evidence.by_code).toEqual({ protocol: 252 });
    expect(a.evidence.orphan).toBe(252);
    expect(a.evidence.error_senders).toEqual(['10.0.0.2']);
    expect(a.evidence.error_receivers).toEqual(['10.0.0.128']);
    expect(a.evidence.protocols).toEqual([241]);
    expect(a.evidence.sample).toEqual(['192.168.1.67:ip-proto/241']);
    expect(a.startMicros).toBe(5e6);
    expect(a.endMicros).toBe(5e6 + 26_000);
    expect(a.message).toContain('in 0.026 s');
    expect(a.message).toContain('delivered to 10.0.0.128');
  });

  it('orphan flows to distinct targets reach the scan-like trigger', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule);
    for (let p = 0; p < 20; p++) det.onFlowEnd(orphan(1, '192.168.1.67', 100 + p));
    det.flush!(6e6);
    expect(ctx.alerts[0]!.severity).toBe(3);
    expect(ctx.alerts[0]!.evidence.protocol_count).toBe(20);
  });

  it('attributed vs orphan: the responder is the culprit when the error came from the initiator', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule, { minUnreachables: 5, minTargets: 5 });
    // 10.0.0.53 answered 5 clients whose ports were closed: they sent the errors.
    for (let i = 1; i <= 5; i++) {
      det.onFlowEnd(flow({ proto: 17, srcIp: `198.51.100.${i}`, srcPort: 33000 + i, dstIp: '10.0.0.53', dstPort: 53,
        icmpErrors: 1, icmpErrorType: 3, icmpErrorCode: 3, icmpErrorFrom: `198.51.100.${i}` }));
    }
    det.flush!(10e6);
    expect(ctx.alerts[0]!.sourceIp).toBe('10.0.0.53');
  });

  it('ignores time-exceeded, other codes, and flows without errors; counts ICMPv6 type 1', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule, { minUnreachables: 3, minTargets: 3 });
    for (let i = 1; i <= 5; i++) {
      det.onFlowEnd(attributed(i, 33434, { icmpErrorType: 11, icmpErrorCode: 0 }));
      det.onFlowEnd(attributed(i, 33434, { icmpErrorCode: 4 })); // fragmentation needed: PMTU, not a failure
      det.onFlowEnd(attributed(i, 161, { icmpErrors: 0 }));
    }
    det.flush!(10e6);
    expect(ctx.alerts).toHaveLength(0);
    for (let i = 1; i <= 3; i++) {
      det.onFlowEnd(flow({ proto: 17, srcIp: '2001:db8::9', dstIp: `2001:db8:1::${i}`, dstPort: 161,
        icmpErrors: 1, icmpErrorType: 1, icmpErrorCode: 4, icmpErrorFrom: `2001:db8:1::${i}` }));
    }
    det.flush!(10e6);
    expect(ctx.alerts).toHaveLength(1);
    expect(ctx.alerts[0]!.sourceIp).toBe('2001:db8::9');
    expect(ctx.alerts[0]!.evidence.by_code).toEqual({ 'v6-port': 3 });
  });

  it('per-host state is bounded', () => {
    const { det, ctx } = makeDetector(icmpUnreachableModule, { maxTrackedHosts: 10 });
    for (let i = 1; i <= 50; i++) det.onFlowEnd(attributed(1, 161, { srcIp: `10.1.0.${i}` }));
    expect(ctx.evictions.get('hosts')).toBe(40);
  });
});
