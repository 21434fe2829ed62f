import { describe, expect, it } from 'vitest';
import * as kit from '../../src/config/fields.js';
import { floodModule, floodSchema, type FloodConfig } from '../../src/detect/flood.js';
import { scanModule, scanSchema } from '../../src/detect/scan.js';
import { FlowRecord } from '../../src/flow/record.js';
import { boundedTable } from '../../src/detect/framework.js';
import { FakeContext, flow, type FlowSpec } from './scan-fixtures.js';

function run(flows: Iterable<FlowSpec>, overrides: Partial<FloodConfig> = {}, ctx = new FakeContext()) {
  const dets = [floodModule.create(floodSchema(kit).parse(overrides), ctx), scanModule.create(scanSchema(kit).parse({}), ctx)];
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

  it('keeps every target when the table outgrows its first buffer of records (65,536 targets)', () => {
    // 700 forged sources on each of two targets, then one source on each of 70,000 more,
    // then 700 other forged sources on the same two: each alerts only if its record
    // survived the move to a larger buffer (700 alone is under minSources), and counts only
    // its own sources.
    const flooded = ['10.200.0.1', '10.200.0.2'];
    const targets = function* (): Generator<FlowSpec> {
      for (const dst of flooded) yield* spoofed(700, { dst, dport: 80, t: 0 }, 1);
      for (let i = 0; i < 70_000; i++) yield { src: '198.51.100.1', dst: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, dport: 80, t: 1 };
      for (const dst of flooded) yield* spoofed(700, { dst, dport: 80, t: 2 }, 2);
    };
    const ctx = run(targets(), { maxTargets: 100_000 });
    const hits = ctx.alerts.filter((a) => a.ruleId === 'flood.spoofed-source');
    expect(hits.map((a) => a.destinationIp)).toEqual(flooded);
    for (const a of hits) expect(a.evidence.distinct_sources as number).toBeLessThan(1100);
  });

  it('keeps its target table bounded', () => {
    const ctx = new FakeContext();
    const flows = Array.from({ length: 20000 }, (_, i) => ({ src: '203.0.113.1', dst: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, dport: 80 }));
    run(flows, { maxTargets: 2000 }, ctx);
    expect(ctx.tables.get('targets')!.size).toBe(2000);
  });
});

/** A context whose tables are the runner's own (src/detect/framework.ts): evictions call onEvict. */
function evictingContext(): FakeContext & { evictions: Record<string, number> } {
  const ctx = new FakeContext() as FakeContext & { evictions: Record<string, number> };
  ctx.evictions = {};
  ctx.table = <K extends {}, V extends {}>(name: string, max: number, onEvict?: (v: V, k: K) => void) =>
    boundedTable<K, V>(name, max, ctx.evictions, onEvict);
  return ctx;
}

describe('flood.spoofed-source: target slots', () => {
  const floodAlerts = (ctx: FakeContext) => ctx.alerts.filter((a) => a.ruleId === 'flood.spoofed-source');

  it('an evicted target starts over clean when it comes back in a reused slot', () => {
    const ctx = evictingContext();
    const det = floodModule.create(floodSchema(kit).parse({ maxTargets: 2 }), ctx);
    const rec = new FlowRecord();
    const feed = (specs: Iterable<FlowSpec>) => { for (const s of specs) det.onFlowEnd(flow(s, rec)); };
    feed(spoofed(1200)); // target A: raised, past the small set (a bitmap)
    expect(floodAlerts(ctx)).toHaveLength(1);
    feed([{ src: '198.51.100.1', dst: '10.10.10.11', dport: 80 }, { src: '198.51.100.1', dst: '10.10.10.12', dport: 80 }]);
    expect(ctx.evictions.targets).toBe(1); // A is gone
    // A again: 900 new sources would reach 2100 if its old state were still there.
    feed(spoofed(900, {}, 777));
    expect(floodAlerts(ctx)).toHaveLength(1);
    feed(spoofed(300, {}, 999));
    const a = floodAlerts(ctx)[1]!;
    expect(a.destinationIp).toBe('10.10.10.10');
    // Raised again (the old raised flag is gone), on the new sources alone.
    expect(a.evidence.flows as number).toBeGreaterThanOrEqual(1000);
    expect(a.evidence.flows as number).toBeLessThan(1100);
    expect(a.evidence.distinct_sources_method).toBe('linear counting, 8192 bits');
    expect(a.evidence.distinct_sources as number).toBeGreaterThanOrEqual(1000);
    expect(a.evidence.distinct_sources as number).toBeLessThan(1100);
    expect((a.evidence.sample as string[])[0]).toBe([...spoofed(1, {}, 777)][0]!.src);
  });

  it('a new target in a reused slot has no bitmap, raised flag or counts of the old one', () => {
    const ctx = evictingContext();
    const det = floodModule.create(floodSchema(kit).parse({ maxTargets: 1, minSources: 50 }), ctx);
    const rec = new FlowRecord();
    for (const s of spoofed(500)) det.onFlowEnd(flow(s, rec)); // raised, bitmap
    for (let i = 0; i < 60; i++) det.onFlowEnd(flow({ src: `198.51.100.${i}`, dst: '192.0.2.7', dport: 443, proto: 'udp' }, rec));
    expect(ctx.evictions.targets).toBe(1);
    const alerts = floodAlerts(ctx);
    expect(alerts).toHaveLength(2);
    const b = alerts[1]!;
    expect(b.destinationIp).toBe('192.0.2.7');
    expect(b.transport).toBe('udp');
    expect(b.evidence).toMatchObject({ distinct_sources: 50, distinct_sources_method: 'exact', flows: 50, unanswered: 50 });
    expect(b.evidence.top_slash16).toEqual({ net: '198.51.0.0/16', flows_at_least: 50 });
    expect(b.sourceIp).toBe('198.51.0.0');
    expect(b.evidence.sample).toEqual(Array.from({ length: 10 }, (_, i) => `198.51.100.${i}`));
  });

  it('many targets through a small table: every alert right, evictions counted', () => {
    const ctx = evictingContext();
    const det = floodModule.create(floodSchema(kit).parse({ maxTargets: 8, minSources: 30 }), ctx);
    const rec = new FlowRecord();
    // 40 targets in turn, each flooded by 40 sources of its own, with noise targets between.
    for (let t = 0; t < 40; t++) {
      for (let i = 0; i < 40; i++) {
        det.onFlowEnd(flow({ src: `172.16.${t}.${i}`, dst: `10.9.0.${t}`, dport: 25, t: t * 100 }, rec));
        det.onFlowEnd(flow({ src: '203.0.113.5', dst: `10.8.${t}.${i}`, dport: 25, t: t * 100 }, rec));
      }
    }
    const alerts = floodAlerts(ctx);
    expect(alerts.map((a) => a.destinationIp)).toEqual(Array.from({ length: 40 }, (_, t) => `10.9.0.${t}`));
    for (const [t, a] of alerts.entries()) {
      expect(a.evidence.flows).toBe(30);
      expect(a.evidence.top_slash16).toEqual({ net: '172.16.0.0/16', flows_at_least: 30 });
      expect(a.evidence.sample).toEqual(Array.from({ length: 10 }, (_, i) => `172.16.${t}.${i}`));
      expect(a.evidence.slash8_networks).toBe(1);
    }
    expect(ctx.evictions.targets).toBe(40 * 41 - 8);
  });
});

describe('flood.spoofed-source: IPv6', () => {
  it('names IPv6 targets and sources as text', () => {
    const flows = Array.from({ length: 1500 }, (_, i) => ({ src: `2001:db8:${(i >> 8).toString(16)}::${(i & 255).toString(16)}`, dst: '2001:db8:ffff::80', dport: 443 }));
    const ctx = run(flows);
    const a = ctx.alerts.find((x) => x.ruleId === 'flood.spoofed-source')!;
    expect(a.destinationIp).toBe('2001:db8:ffff::80');
    expect(a.suppressKey).toBe('2001:db8:ffff::80|tcp/443');
    expect(a.evidence.sample).toEqual(flows.slice(0, 10).map((f) => f.src));
    expect(a.evidence.top_slash16).toBeUndefined();
    expect(a.evidence.spread).toBe('several networks');
    expect((a.evidence.top_source as { ip: string }).ip).toMatch(/^2001:db8:/);
    expect(a.sourceIp).toBe((a.evidence.top_source as { ip: string }).ip);
  });

  it('an IPv6 target evicted and replaced by an IPv4 one in the same slot', () => {
    const ctx = evictingContext();
    const det = floodModule.create(floodSchema(kit).parse({ maxTargets: 1, minSources: 20 }), ctx);
    const rec = new FlowRecord();
    for (let i = 0; i < 30; i++) det.onFlowEnd(flow({ src: `2001:db8::${i + 1}`, dst: '2001:db8:ffff::1', dport: 22 }, rec));
    for (let i = 0; i < 30; i++) det.onFlowEnd(flow({ src: `198.51.100.${i}`, dst: '10.1.1.1', dport: 22 }, rec));
    for (let i = 0; i < 30; i++) det.onFlowEnd(flow({ src: `2001:db8::${i + 100}`, dst: '2001:db8:ffff::2', dport: 22 }, rec));
    const alerts = ctx.alerts;
    expect(alerts.map((a) => a.destinationIp)).toEqual(['2001:db8:ffff::1', '10.1.1.1', '2001:db8:ffff::2']);
    expect(alerts[1]!.evidence.sample).toEqual(Array.from({ length: 10 }, (_, i) => `198.51.100.${i}`));
    expect(alerts[2]!.evidence.sample).toEqual(Array.from({ length: 10 }, (_, i) => `2001:db8::${i + 100}`));
    expect(alerts[2]!.evidence.flows).toBe(20);
  });
});
