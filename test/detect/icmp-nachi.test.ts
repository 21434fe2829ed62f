import { describe, expect, it } from 'vitest';
import { moduleSchema } from '../../src/config/schema.js';
import { icmpNachiModule } from '../../src/detect/icmp-nachi.js';
import type { FlowRecord } from '../../src/flow/record.js';
import { flow, makeDetector } from './fake-context.js';

/** One Nachi-style echo flow from 10.0.0.66 to host i: `pkts` requests of `size` bytes, TTL 128. */
function echo(i: number, size = 92, pkts = 1, extra: Partial<FlowRecord> = {}): FlowRecord {
  return flow({ proto: 1, icmpType: 8, icmpCode: 0, srcIp: '10.0.0.66', dstIp: `198.51.${i >> 8}.${i & 255}`, srcPort: 512, dstPort: 512,
    state: 'S0', pktsToServer: pkts, bytesToServer: size * pkts, ttlMinToServer: 128, ttlMaxToServer: 128,
    startMicros: 1e6 + i * 1000, endMicros: 1e6 + i * 1000, ...extra });
}

describe('icmp.nachi', () => {
  it('just under and just over minHosts', () => {
    const { det, ctx } = makeDetector(icmpNachiModule, { minHosts: 20 });
    for (let i = 1; i <= 19; i++) det.onFlowEnd(echo(i));
    det.onFlowEnd(echo(19)); // same host again does not count twice
    det.onTick!(5e6);
    expect(ctx.alerts).toHaveLength(0);
    det.onFlowEnd(echo(20));
    det.onTick!(6e6);
    expect(ctx.alerts).toHaveLength(1);
    const a = ctx.alerts[0]!;
    expect(a.ruleId).toBe('icmp.nachi');
    expect(a.severity).toBe(3);
    expect(a.sourceIp).toBe('10.0.0.66');
    expect(a.evidence.hosts).toBe(20);
    expect(a.evidence.echo_requests).toBe(21);
    expect(a.message).toContain('92-byte ICMP echo requests to 20 hosts');
  });

  it('the size condition is strict: 28-, 84- and mixed-size sweeps do not count', () => {
    const { det, ctx } = makeDetector(icmpNachiModule);
    for (let i = 1; i <= 100; i++) {
      det.onFlowEnd(echo(i, 28, 2)); // nmap -sn style
      det.onFlowEnd(echo(i + 200, 84)); // Linux ping
      det.onFlowEnd(flow({ ...echo(i + 400), pktsToServer: 2, bytesToServer: 92 + 120 })); // not all 92
      det.onFlowEnd(echo(i + 600, 92, 1, { icmpType: 0 })); // echo replies
    }
    det.flush!(10e6);
    expect(ctx.alerts).toHaveLength(0);
  });

  it('traceroute: one destination, rising TTL, is not Nachi', () => {
    const { det, ctx } = makeDetector(icmpNachiModule, { minHosts: 1 });
    // Windows tracert to 8.8.8.8: 42 requests of 92 bytes, TTL 1..14, one flow.
    det.onFlowEnd(echo(1, 92, 42, { dstIp: '8.8.8.8', ttlMinToServer: 1, ttlMaxToServer: 14 }));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(0);
    // Same sizes, one TTL: counted (minHosts 1 here to show the TTL test is what excluded it).
    det.onFlowEnd(echo(1, 92, 3, { dstIp: '8.8.8.8' }));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(1);
  });

  it('default threshold: a traceroute-sized capture of one destination never fires', () => {
    const { det, ctx } = makeDetector(icmpNachiModule);
    for (let k = 0; k < 42; k++) det.onFlowEnd(echo(1, 92, 1, { dstIp: '8.8.8.8', srcPort: k, dstPort: k }));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(0);
  });

  it('sweeps spread wider than the window do not add up', () => {
    const { det, ctx } = makeDetector(icmpNachiModule, { windowSeconds: 10 });
    for (let i = 1; i <= 19; i++) det.onFlowEnd(echo(i));
    det.onFlowEnd(echo(20, 92, 1, { endMicros: 20e6 }));
    det.flush!(20e6);
    expect(ctx.alerts).toHaveLength(0);
  });

  it('rejects bad config', () => {
    expect(() => moduleSchema(icmpNachiModule).parse({ minHosts: 0 })).toThrow();
    expect(() => moduleSchema(icmpNachiModule).parse({ minhosts: 5 })).toThrow();
  });
});
