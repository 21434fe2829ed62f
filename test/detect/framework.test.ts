import { describe, expect, it } from 'vitest';
import { moduleSchema } from '../../src/config/schema.js';
import { z } from 'zod';
import { positiveInt } from '../../src/config/fields.js';
import { defaultConfig, parseConfigText } from '../../src/config/index.js';
import { createDetectorRunner, SUPPRESSION_TABLE } from '../../src/detect/framework.js';
import { DETECTOR_MODULES } from '../../src/detect/registry.js';
import type { AlertInput, BoundedTable, DetectorContext, DetectorModule } from '../../src/detect/types.js';
import { FlowRecord } from '../../src/flow/record.js';

const S = 1_000_000;
const T0 = 1_767_322_800 * S; // 2026-01-02T03:00:00Z

/**
 * A test module: every flow becomes one alert from flow.srcIp (suppressKey = dst port),
 * stamped with the flow's end time; it keeps the last `tableMax` sources in a table.
 */
interface EchoConfig { tableMax: number }
const seen: { ticks: number[]; flushed: number[]; ctx?: DetectorContext; table?: BoundedTable<string, number> } = { ticks: [], flushed: [] };
const echo: DetectorModule<EchoConfig> = {
  id: 'echo',
  rules: ['scan.port'],
  schema: () => z.strictObject({ tableMax: positiveInt(3) }),
  create(config, ctx) {
    seen.ctx = ctx;
    const table = ctx.table<string, number>('sources', config.tableMax);
    seen.table = table;
    return {
      onFlowEnd(flow) {
        table.set(flow.srcIp, (table.get(flow.srcIp) ?? 0) + 1);
        ctx.emit({
          ruleId: 'scan.port', severity: 2, message: `${flow.srcIp} -> ${flow.dstIp}:${flow.dstPort}`,
          timestampMicros: flow.endMicros, startMicros: flow.startMicros, endMicros: flow.endMicros,
          sourceIp: flow.srcIp, destinationIp: flow.dstIp, destinationPort: flow.dstPort, transport: 'tcp',
          evidence: { port: flow.dstPort }, suppressKey: String(flow.dstPort),
        });
      },
      onTick(now) { seen.ticks.push(now); },
      flush(now) { seen.flushed.push(now); },
    };
  },
};
const MODULES = [echo] as DetectorModule<unknown>[];

const flow = new FlowRecord();
function flowAt(tMicros: number, src = '198.51.100.1', dstPort = 445): FlowRecord {
  flow.startMicros = tMicros - S;
  flow.endMicros = tMicros;
  flow.srcIp = src;
  flow.dstIp = '10.0.0.9';
  flow.dstPort = dstPort;
  return flow;
}

function setup(yaml = '') {
  seen.ticks = []; seen.flushed = [];
  const cfg = yaml ? parseConfigText(yaml, 't.yaml', MODULES) : defaultConfig(MODULES);
  const out: AlertInput[] = [];
  const runner = createDetectorRunner(cfg, (a) => out.push(a), MODULES);
  return { runner, out };
}

describe('suppression', () => {
  it('first alert at once, repeats just under the window folded into one summary', () => {
    const { runner, out } = setup();
    runner.onFlowEnd(flowAt(T0));
    expect(out).toHaveLength(1);
    for (let i = 1; i <= 4; i++) runner.onFlowEnd(flowAt(T0 + i * S));
    runner.onFlowEnd(flowAt(T0 + 300 * S - 1)); // just under 300 s: still the same window
    expect(out).toHaveLength(1);
    runner.onTick(T0 + 300 * S - 1);
    expect(out).toHaveLength(1); // window not over yet
    runner.onTick(T0 + 300 * S);
    expect(out).toHaveLength(2);
    const sum = out[1]!;
    expect(sum.evidence).toEqual({ port: 445, suppressed: 5, summary: true });
    expect(sum.message).toBe('198.51.100.1 -> 10.0.0.9:445 (5 more in the last 300 s)');
    expect(sum.timestampMicros).toBe(T0 + 300 * S - 1); // the latest alert's content
    expect(sum.startMicros).toBe(T0 - S); // spans all folded alerts
    expect(runner.stats()).toMatchObject({ alerts: { 'scan.port': 2 }, suppressed: 5 });
  });

  it('an alert just over the window starts a new one and is written at once', () => {
    const { runner, out } = setup();
    runner.onFlowEnd(flowAt(T0));
    runner.onFlowEnd(flowAt(T0 + 300 * S)); // exactly one window later
    expect(out.map((a) => a.timestampMicros)).toEqual([T0, T0 + 300 * S]);
    expect(out[1]!.evidence.summary).toBeUndefined();
    runner.flush(T0 + 400 * S);
    expect(out).toHaveLength(2); // no repeats, no summary
  });

  it('a late repeat after an unticked window: summary first, then the new alert', () => {
    const { runner, out } = setup();
    runner.onFlowEnd(flowAt(T0));
    runner.onFlowEnd(flowAt(T0 + 10 * S));
    runner.onFlowEnd(flowAt(T0 + 500 * S));
    expect(out.map((a) => [a.timestampMicros, a.evidence.summary ?? false])).toEqual([
      [T0, false], [T0 + 10 * S, true], [T0 + 500 * S, false],
    ]);
  });

  it('keys by rule + source + suppressKey', () => {
    const { runner, out } = setup();
    runner.onFlowEnd(flowAt(T0, '198.51.100.1', 445));
    runner.onFlowEnd(flowAt(T0 + 1, '198.51.100.1', 139)); // other suppressKey
    runner.onFlowEnd(flowAt(T0 + 2, '198.51.100.2', 445)); // other source
    runner.onFlowEnd(flowAt(T0 + 3, '198.51.100.1', 445)); // repeat
    expect(out).toHaveLength(3);
    runner.flush(T0 + 4);
    expect(out).toHaveLength(4);
    expect(out[3]!.evidence).toMatchObject({ suppressed: 1, summary: true });
  });

  it('flush writes every pending summary even inside the window', () => {
    const { runner, out } = setup();
    for (let i = 0; i < 3; i++) runner.onFlowEnd(flowAt(T0 + i, `198.51.100.${i}`));
    for (let i = 0; i < 3; i++) runner.onFlowEnd(flowAt(T0 + 10 + i, `198.51.100.${i}`));
    expect(out).toHaveLength(3);
    runner.flush(T0 + 20);
    expect(out).toHaveLength(6);
    expect(seen.flushed).toEqual([T0 + 20]);
    expect(out.slice(3).every((a) => a.evidence.suppressed === 1)).toBe(true);
  });

  it('suppressSeconds: 0 writes everything', () => {
    const { runner, out } = setup('alerts:\n  suppressSeconds: 0\n');
    for (let i = 0; i < 5; i++) runner.onFlowEnd(flowAt(T0 + i));
    expect(out).toHaveLength(5);
  });

  it('a full suppression table writes the evicted summary, never loses it', () => {
    const { runner, out } = setup('alerts:\n  maxSuppressionEntries: 2\n');
    runner.onFlowEnd(flowAt(T0, '198.51.100.1'));
    runner.onFlowEnd(flowAt(T0 + 1, '198.51.100.1')); // repeat, pending
    runner.onFlowEnd(flowAt(T0 + 2, '198.51.100.2'));
    runner.onFlowEnd(flowAt(T0 + 3, '198.51.100.3')); // evicts .1: its summary now
    expect(out.map((a) => `${a.sourceIp}${a.evidence.summary ? ' summary' : ''}`)).toEqual([
      '198.51.100.1', '198.51.100.2', '198.51.100.1 summary', '198.51.100.3',
    ]);
    expect(runner.stats().detector_evictions[SUPPRESSION_TABLE]).toBe(1);
    runner.flush(T0 + 10);
    expect(out).toHaveLength(4); // the summary is not written twice
  });
});

describe('context', () => {
  it('allowSources drops alerts from listed sources before suppression', () => {
    const { runner, out } = setup('detectors:\n  echo:\n    allowSources: ["198.51.100.0/30", "2001:db8::/32"]\n');
    runner.onFlowEnd(flowAt(T0, '198.51.100.2'));
    runner.onFlowEnd(flowAt(T0, '198.51.100.4'));
    runner.onFlowEnd(flowAt(T0, '2001:db8::5'));
    expect(out.map((a) => a.sourceIp)).toEqual(['198.51.100.4']);
    expect(runner.stats().allowlisted).toBe(2);
  });

  it('isLocal uses localNetworks (default RFC 1918 + ULA)', () => {
    setup();
    const ctx = seen.ctx!;
    expect(['10.1.2.3', '172.20.0.1', '192.168.1.1', 'fd00::1'].map(ctx.isLocal)).toEqual([true, true, true, true]);
    expect(['8.8.8.8', '172.32.0.1', '2001:db8::1', ''].map(ctx.isLocal)).toEqual([false, false, false, false]);
    setup('localNetworks: ["192.0.2.0/24"]\n');
    expect(seen.ctx!.isLocal('192.0.2.200')).toBe(true);
    expect(seen.ctx!.isLocal('10.0.0.1')).toBe(false);
  });

  it('tables are bounded LRU and count evictions as <module>.<name>', () => {
    const { runner } = setup();
    for (let i = 0; i < 10; i++) runner.onFlowEnd(flowAt(T0 + i, `198.51.100.${i}`));
    expect(seen.table!.size).toBe(3);
    expect([...seen.table!.entries()].map(([k]) => k)).toEqual(['198.51.100.9', '198.51.100.8', '198.51.100.7']);
    expect(runner.stats().detector_evictions['echo.sources']).toBe(7);
    seen.table!.delete('198.51.100.9'); // deletes are not evictions
    seen.table!.set('198.51.100.8', 5); // overwrites neither
    expect(runner.stats().detector_evictions['echo.sources']).toBe(7);
  });

  it('ticks at most once per packet-time second, never backwards', () => {
    const { runner } = setup();
    for (const t of [T0, T0 + 1, T0 + S - 1, T0 + S, T0 + S + 5, T0 + 3 * S + 7, T0 + 2 * S, T0 + 4 * S]) runner.onTick(t);
    expect(seen.ticks).toEqual([T0, T0 + S, T0 + 3 * S + 7, T0 + 4 * S]);
  });

  it('a disabled module is not created', () => {
    seen.ctx = undefined;
    const { runner, out } = setup('detectors:\n  echo:\n    enabled: false\n');
    runner.onFlowEnd(flowAt(T0));
    expect(out).toHaveLength(0);
    expect(runner.moduleIds).toEqual([]);
    expect(seen.ctx).toBeUndefined();
  });

  it('a module emitting a rule it does not declare is a bug', () => {
    const liar: DetectorModule<unknown> = {
      id: 'liar', rules: ['p2p.activity'], schema: () => z.strictObject({}),
      create: (_c, ctx) => ({ onFlowEnd: () => ctx.emit({ ruleId: 'scan.port', severity: 1, message: 'x', timestampMicros: 0, startMicros: 0, endMicros: 0, sourceIp: '1.2.3.4', evidence: {} }) }),
    };
    const runner = createDetectorRunner(defaultConfig([liar]), () => {}, [liar]);
    expect(() => runner.onFlowEnd(flowAt(T0))).toThrow(/does not declare/);
  });
});

describe('the real registry', () => {
  it('every module has a unique id, a strict schema with full defaults, and declared rules', () => {
    const cfg = defaultConfig();
    const ids = new Set<string>();
    for (const m of DETECTOR_MODULES) {
      expect(ids.has(m.id), m.id).toBe(false);
      ids.add(m.id);
      expect(m.rules.length, m.id).toBeGreaterThan(0);
      expect(cfg.detectors[m.id], m.id).toMatchObject({ enabled: true, allowSources: [] });
      expect(moduleSchema(m).safeParse({ noSuchKeyAnywhere: 1 }).success, `${m.id} schema must be strict`).toBe(false);
    }
    // Every module can be created with its defaults and run end to end.
    const runner = createDetectorRunner(cfg, () => {});
    expect(runner.moduleIds).toEqual(DETECTOR_MODULES.map((m) => m.id));
    runner.onFlowEnd(flowAt(T0));
    runner.onTick(T0 + S);
    runner.flush(T0 + 2 * S);
  });
});

describe('boundedTable growth', () => {
  it('grows past its first size keeping LRU order, and counts evictions only at maxEntries', async () => {
    const { boundedTable } = await import('../../src/detect/framework.js');
    const evictions: Record<string, number> = {};
    const t = boundedTable<number, number>('t.grow', 10_000, evictions);
    for (let i = 0; i < 10_000; i++) {
      t.set(i, i);
      if (i % 100 === 0) t.get(0); // keep key 0 recent
    }
    expect(t.size).toBe(10_000);
    expect(evictions['t.grow']).toBe(0);
    t.set(10_000, 1); // full: the least recently used (1, not 0) leaves
    expect(evictions['t.grow']).toBe(1);
    expect(t.has(0)).toBe(true);
    expect(t.has(1)).toBe(false);
    expect(t.size).toBe(10_000);
  });
});

describe('srcIsLocal / dstIsLocal on the flow being handed out', () => {
  it('answer from the flow address words and agree with the text path, v4 and v6', async () => {
    const { parseAddr } = await import('../../src/util/ip.js');
    const seen: boolean[][] = [];
    const probe: DetectorModule<Record<string, never>> = {
      id: 'probe',
      rules: ['scan.port'],
      schema: () => z.strictObject({}),
      create: (_c, ctx) => ({
        onFlowEnd: (f) => {
          // Twice: the second answer comes from the per-flow cache.
          seen.push([ctx.srcIsLocal(f), ctx.dstIsLocal(f), ctx.srcIsLocal(f), ctx.dstIsLocal(f)]);
          seen.push([ctx.isLocal(f.srcIp), ctx.isLocal(f.dstIp), ctx.isLocal('192.168.1.1'), ctx.isLocal('8.8.8.8')]);
        },
      }),
    };
    const cfg = parseConfigText('localNetworks: ["10.0.0.0/8", "2001:db8::/32"]', 't.yaml', [probe as DetectorModule<unknown>]);
    const runner = createDetectorRunner(cfg, () => {}, [probe as DetectorModule<unknown>]);
    const f = new FlowRecord();
    for (const [src, dst] of [['10.1.2.3', '8.8.4.4'], ['2001:db8::5', '2001:4860::8888'], ['203.0.113.9', '10.9.9.9']] as const) {
      f.ipVersion = parseAddr(src, f.srcAddr);
      parseAddr(dst, f.dstAddr);
      f.srcIp = src;
      f.dstIp = dst;
      runner.onFlowEnd(f);
    }
    expect(seen).toEqual([
      [true, false, true, false], [true, false, false, false],
      [true, false, true, false], [true, false, false, false],
      [false, true, false, true], [false, true, false, false],
    ]);
  });
});
