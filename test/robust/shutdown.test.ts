/**
 * Issue 7 §5: SIGTERM in the middle of a replay flushes every flow and alert that was in
 * memory. Method: replay the demo followed by a long generated SYN flood (one stream),
 * SIGTERM it mid-way and read how many packets it took (stats.packets = N). Then replay
 * exactly those N packets without interruption (the demo and the first N - demo packets
 * of the flood: the generator is seeded, so a shorter flood is a prefix of the longer),
 * and compare: the same flow records and the same alerts, none lost or duplicated. The
 * only difference allowed is end_reason idle <-> shutdown for flows open at the cut.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSynFlood } from '../../src/gen/hostile.js';
import { DEMO, ndjson, sum, tapaudit, tapauditChild, tmpDir } from './cli-run.js';

const FLOOD_PACKETS = 800_000;
const dir = tmpDir('shutdown');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function canonical(records: Record<string, any>[], dropEndReason: boolean): string[] {
  return records
    .map((r) => {
      const { end_reason, ...rest } = r;
      return JSON.stringify(dropEndReason ? rest : { ...rest, end_reason });
    })
    .sort();
}

describe('SIGTERM mid-replay', () => {
  it('flushes everything: same flows and alerts as an uninterrupted run over the same packets', async () => {
    const flood = path.join(dir, 'flood.pcap');
    writeSynFlood(flood, FLOOD_PACKETS);
    const demoPackets = JSON.parse(tapaudit(['replay', DEMO, '--stats', '-', '-q']).out).packets as number;

    // 1. Interrupted run.
    const out1 = { flows: path.join(dir, 'f1.ndjson'), alerts: path.join(dir, 'a1.ndjson'), stats: path.join(dir, 's1.json') };
    const child = tapauditChild(['replay', DEMO, flood, '--flows', out1.flows, '--alerts', out1.alerts, '--stats', out1.stats]);
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    // Signal once the process has read ~20 MB (Linux /proc/PID/io rchar: start-up reads
    // ~2.5 MB, the demo 0.5 MB, then the flood in 8 MiB chunks), i.e. a few chunks into
    // the 61 MB flood whatever the machine's speed. (The output files give no cue: the
    // flood's flows are all still open and the flow sink writes in 256 KiB batches.)
    // Without /proc: after 2.5 s, which lands inside the flood at 90k-400k packets/s.
    const t0 = Date.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      let rchar = -1;
      try {
        rchar = Number(/rchar: (\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/io`, 'utf8'))?.[1] ?? -1);
      } catch {
        // not Linux, or already gone
      }
      if (rchar >= 20e6 || (rchar < 0 && Date.now() - t0 > 2500) || child.exitCode !== null) break;
    }
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code, err).toBe(0);
    expect(err).toMatch(/SIGTERM: stopping, flushing flows and alerts/);
    const s1 = JSON.parse(fs.readFileSync(out1.stats, 'utf8'));
    const n = s1.packets as number;
    expect(n, 'interrupted inside the flood').toBeGreaterThan(demoPackets);
    expect(n, 'interrupted before the end').toBeLessThan(demoPackets + FLOOD_PACKETS);

    // 2. The same first N packets, uninterrupted.
    const prefix = path.join(dir, 'flood-prefix.pcap');
    writeSynFlood(prefix, n - demoPackets);
    const out2 = { flows: path.join(dir, 'f2.ndjson'), alerts: path.join(dir, 'a2.ndjson'), stats: path.join(dir, 's2.json') };
    const r2 = tapaudit(['replay', DEMO, prefix, '--flows', out2.flows, '--alerts', out2.alerts, '--stats', out2.stats, '-q'], { timeoutMs: 120_000 });
    expect(r2.code, r2.err).toBe(0);
    const s2 = JSON.parse(fs.readFileSync(out2.stats, 'utf8'));
    expect(s2.packets).toBe(n);

    const f1 = ndjson(fs.readFileSync(out1.flows, 'utf8'));
    const f2 = ndjson(fs.readFileSync(out2.flows, 'utf8'));
    // Accounting of the interrupted run itself.
    expect(s1.packets).toBe(s1.flow_packets + sum(s1.not_flowed));
    expect(f1.length).toBe(sum(s1.flows));
    expect(f1.reduce((a, f) => a + f.pkts_toserver + f.pkts_toclient, 0)).toBe(s1.flow_packets);
    expect(s1.flows.shutdown).toBeGreaterThan(0);
    // Same records (none lost, none doubled), end reasons aside...
    expect(f1.length).toBe(f2.length);
    expect(canonical(f1, true)).toEqual(canonical(f2, true));
    // ...and where end reasons differ, only idle <-> shutdown.
    const a = canonical(f1, false);
    const b = new Set(canonical(f2, false));
    for (const rec of a.filter((x) => !b.has(x)).map((x) => JSON.parse(x))) expect(['idle', 'shutdown']).toContain(rec.end_reason);
    // Same alerts.
    const a1 = fs.readFileSync(out1.alerts, 'utf8').split('\n').filter(Boolean).sort();
    const a2 = fs.readFileSync(out2.alerts, 'utf8').split('\n').filter(Boolean).sort();
    expect(a1.length).toBe(sum(s1.alerts));
    expect(a1.length).toBeGreaterThan(0);
    expect(a1).toEqual(a2);
    expect(s1.alerts).toEqual(s2.alerts);
  }, 180_000);
});
