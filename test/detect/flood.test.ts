import { describe, expect, it } from 'vitest';
import { floodModule, floodSchema, type FloodConfig } from '../../src/detect/flood.js';
import { scanModule, scanSchema } from '../../src/detect/scan.js';
import { FlowRecord } from '../../src/flow/record.js';
import { FakeContext, flow, type FlowSpec } from './scan-fixtures.js';

function run(flows: Iterable<FlowSpec>, overrides: Partial<FloodConfig> = {}, ctx = new FakeContext()) {
  const dets = [floodModule.create(floodSchema.parse(overrides), ctx), scanModule.create(scanSchema.parse({}), ctx)];
  const rec = new FlowRecord();
  for (const s of flows) for (const d of dets) d.onFlowEnd(flow(s, rec));
  return ctx;
}

/** Deterministic pseudo-random addresses (xorshift), like a forged-source flood. */
function* spoofed(n: number, extra: Partial<FlowSpec> = {}, seed = 12345): Generator<FlowSpec> {
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const a = x >>> 0;
    yield { src: `${1 + ((a >>> 24) % 222)}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`, dst: '10.10.10.10', dport: 25565, sport: 1024 + (a % 60000), t: i * 0.001, ...extra };
  }
}

describe('flood.spoofed-source', () => {
  it('fires for >= 1000 distinct unanswered sources to one target, and no scan.*', () => {
    const ctx = run(spoofed(5000));
    expect(ctx.rules().filter((r) => r.startsWith('flood.'))).toHaveLength(1);
    expect(ctx.rules().some((r) => r.startsWith('scan.'))).toBe(false);
    const a = ctx.alerts[0]!;
    expect(a.destinationIp).toBe('10.10.10.10');
    expect(a.destinationPort).toBe(25565);
    expect(a.evidence.spread).toBe('random');
    const est = a.evidence.distinct_sources as number;
    expect(est).toBeGreaterThanOrEqual(1000);
    expect(est).toBeLessThan(1100); // raised when the estimate crossed 1000
  });

  it('stays quiet at 900 sources', () => {
    expect(run(spoofed(900)).alerts).toHaveLength(0);
  });

  it('counts distinct sources, not flows', () => {
    const same = Array.from({ length: 3000 }, (_, i) => ({ src: `198.51.100.${i % 50}`, dst: '10.10.10.10', dport: 80, sport: 1024 + i }));
    expect(run(same).alerts.filter((a) => a.ruleId.startsWith('flood'))).toHaveLength(0);
  });

  it('does not fire for a busy server that answers', () => {
    expect(run(spoofed(5000, { state: 'SF' })).alerts).toHaveLength(0);
    // Half answered: under the 0.8 unanswered share.
    const mixed = [...spoofed(4000)].map((f, i) => (i % 2 ? { ...f, state: 'SF' as const } : f));
    expect(run(mixed).alerts).toHaveLength(0);
  });

  it('names the shared /16 as the source when the forged addresses come from one', () => {
    const flows = Array.from({ length: 2000 }, (_, i) => ({ src: `203.0.${i >> 8}.${i & 255}`, dst: '10.10.10.10', dport: 80 }));
    const ctx = run(flows);
    const a = ctx.alerts.find((x) => x.ruleId === 'flood.spoofed-source')!;
    expect(a.sourceIp).toBe('203.0.0.0');
    expect(a.evidence.spread).toBe('one /16');
  });

  it('forgets sources outside the window', () => {
    const flows = [...spoofed(1800)].map((f, i) => ({ ...f, t: i < 900 ? 0 : 120 }));
    expect(run(flows).alerts).toHaveLength(0);
    expect(run(flows, { windowSeconds: 300 }).alerts).toHaveLength(1);
  });

  it('keeps its target table bounded', () => {
    const ctx = new FakeContext();
    const flows = Array.from({ length: 20000 }, (_, i) => ({ src: '203.0.113.1', dst: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, dport: 80 }));
    run(flows, { maxTargets: 2000 }, ctx);
    expect(ctx.tables.get('targets')!.size).toBe(2000);
  });
});
