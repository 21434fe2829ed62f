import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import type { FlowRecord } from '../src/flow/record.js';
import { Pipeline } from '../src/pipeline.js';
import { WARM_UP_FLOWS, warmUp, warmUpFrames } from '../src/warmup.js';

// The warm-up is only worth its packets if they take the branches it names: each kind
// must decode, flow and end as it would in a capture.
describe('warm-up packets (src/warmup.ts)', () => {
  it('decode and end as the kinds they stand for', async () => {
    const flows: FlowRecord[] = [];
    const config = loadConfig();
    // With the warm-up's own table, as Pipeline.open gives it.
    config.flows = { ...config.flows, ...WARM_UP_FLOWS };
    const p = new Pipeline({ config, onFlow: (f) => flows.push(Object.assign(Object.create(Object.getPrototypeOf(f)), f, { srcIp: f.srcIp, dstIp: f.dstIp, vlans: [...f.vlans] })) });
    warmUp({ onPacket: p.onPacket, expireAll: () => p.table.expireAll('shutdown') });
    const stats = await p.finish();
    const perRound = warmUpFrames(0).frames.length;
    expect(stats.packets).toBe(4 * perRound + 1);
    // Per round: ARP and LLC are not IP, one frame is cut short.
    expect(stats.not_flowed.non_ip).toBe(8);
    expect(stats.not_flowed.truncated_link).toBe(4);
    expect(stats.icmp_errors_attributed).toBe(4);

    // The last round's flows (earlier rounds' may leave by capacity first).
    const lastRound = flows.filter((f) => ['192.0.2.13', '2001:db8::13'].some((ip) => f.srcIp === ip || f.dstIp === ip));
    const by = (pred: (f: FlowRecord) => boolean): FlowRecord => {
      const f = lastRound.find(pred);
      expect(f).toBeDefined();
      return f!;
    };
    const session = by((f) => f.proto === 6 && f.dstPort === 443);
    expect(session.endReason).toBe('fin');
    expect(session.pktsToServer + session.pktsToClient).toBe(8);
    expect(by((f) => f.proto === 6 && f.dstPort === 23).endReason).toBe('rst');
    const resetByClient = by((f) => f.proto === 6 && f.dstPort === 8080);
    expect([resetByClient.state, resetByClient.endReason]).toEqual(['RSTO', 'rst']);
    const resetByServer = by((f) => f.proto === 6 && f.dstPort === 8443);
    expect([resetByServer.state, resetByServer.endReason]).toEqual(['RSTR', 'rst']);
    expect(by((f) => f.proto === 17 && f.dstPort === 53 && f.ipVersion === 4).icmpErrors).toBe(1);
    expect(by((f) => f.proto === 1).pktsToClient).toBe(1);
    expect(by((f) => f.ipVersion === 6 && f.proto === 6).endReason).toBe('rst');
    expect(by((f) => f.ipVersion === 6 && f.proto === 17).pktsToServer).toBe(1);
    expect(by((f) => f.dstPort === 123 && f.vlans.length === 1).vlans).toEqual([100]);
    expect(by((f) => f.dstPort === 123 && f.vlans.length === 2).vlans).toEqual([100, 101]);
    // The packet an hour later expires the earlier rounds' open flows as idle; the end the
    // rest; a round makes more flows than the table holds; the UDP flow of every round is
    // cut by the active timeout.
    expect(stats.flows.idle).toBeGreaterThan(0);
    expect(stats.flows.shutdown).toBeGreaterThan(0);
    expect(stats.flows.capacity).toBeGreaterThan(0);
    expect(stats.flows.active).toBeGreaterThan(0);
  });

  it('leave nothing in the pipeline Pipeline.open returns', async () => {
    const p = await Pipeline.open({ config: loadConfig() }, 'adaptive');
    expect(p.packets).toBe(0);
    expect(p.table.size).toBe(0);
    const stats = await p.finish();
    expect(stats.flows).toEqual({ idle: 0, active: 0, fin: 0, rst: 0, capacity: 0, shutdown: 0 });
  });
});
