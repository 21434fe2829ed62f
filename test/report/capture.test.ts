/**
 * Report numbers on a replay of a real capture (PcapPlusPlus example.pcap: 4631 IPv4
 * packets, TCP/HTTP and DNS, no ICMP errors or fragments, so every packet is one flow
 * packet and the definitions below agree):
 * - totals equal the flow records summed in JS;
 * - per host pair, packets and IP bytes equal tshark's (ip.len summed per address pair:
 *   tshark's conversation tables count frame bytes, we count IP total lengths);
 * - the busiest TCP conversation of `tshark -z conv,tcp` has the same frame count as the
 *   flows of that 5-tuple in `search`;
 * - protocol packet counts equal tshark's protocol hierarchy (`-z io,phs`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/index.js';
import { openFlowDb, type FlowDb } from '../../src/report/db.js';
import { buildReport, REPORT_DEFAULTS, type ReportData } from '../../src/report/report.js';
import { searchFlows } from '../../src/report/search.js';
import { replayCapture, type ReplayResult } from '../helpers/replay.js';
import { capturePath, describeShared } from '../helpers/shared.js';

const CAPTURE = 'bench/pcpp__example.pcap';
const haveTshark = (() => {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!haveTshark && process.env.CI === 'true') throw new Error('tshark is missing; CI installs it (.ci/run)');
if (!haveTshark) console.warn('[tapaudit tests] report vs tshark: tshark not installed, comparisons skipped');

const tshark = (args: string[]) => execFileSync('tshark', ['-r', capturePath(CAPTURE), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

describeShared('report on a replay of pcpp__example.pcap', () => {
  let replay: ReplayResult;
  let db: FlowDb;
  let report: ReportData;

  beforeAll(async () => {
    replay = await replayCapture(capturePath(CAPTURE));
    db = await openFlowDb('report', [replay.flowsPath], defaultConfig().localNetworks);
    report = await buildReport(db, { ...REPORT_DEFAULTS, top: 10_000, series: true });
  });
  afterAll(() => {
    db?.close();
    if (replay) fs.rmSync(replay.dir, { recursive: true, force: true });
  });

  it('totals equal the flow records summed in JS and the run summary', () => {
    const f = replay.flows;
    const sum = (g: (r: Record<string, any>) => number) => f.reduce((a, r) => a + g(r), 0);
    expect(report.summary.flows).toBe(f.length);
    expect(report.summary.packets).toBe(sum((r) => r.pkts_toserver + r.pkts_toclient));
    expect(report.summary.packets).toBe(replay.stats.flow_packets);
    expect(report.summary.bytes).toBe(sum((r) => r.bytes_toserver + r.bytes_toclient));
    const byProto: Record<string, number> = {};
    for (const r of f) byProto[r.proto] = (byProto[r.proto] ?? 0) + r.bytes_toserver + r.bytes_toclient;
    expect(Object.fromEntries(report.protocols.map((p) => [p.proto, p.bytes]))).toEqual(byProto);
    // in + out + internal + transit is every byte.
    const s = report.summary as Record<string, number>;
    expect(s.bytes_in! + s.bytes_out! + s.bytes_internal! + s.bytes_transit!).toBe(s.bytes);
  });

  it.skipIf(!haveTshark)('host pairs: packets and IP bytes each way equal tshark', () => {
    const expected = new Map<string, { pab: number; pba: number; bab: number; bba: number }>();
    for (const line of tshark(['-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.len']).split('\n')) {
      const [src, dst, len] = line.split('\t');
      if (!src || !dst) continue;
      const [a, b] = src < dst ? [src, dst] : [dst, src];
      const e = expected.get(`${a} ${b}`) ?? { pab: 0, pba: 0, bab: 0, bba: 0 };
      if (src === a) { e.pab++; e.bab += Number(len); } else { e.pba++; e.bba += Number(len); }
      expected.set(`${a} ${b}`, e);
    }
    expect(report.pairs.length).toBe(expected.size);
    for (const p of report.pairs) {
      expect({ pab: p.pkts_a_to_b, pba: p.pkts_b_to_a, bab: p.bytes_a_to_b, bba: p.bytes_b_to_a }, `${p.a} ${p.b}`)
        .toEqual(expected.get(`${p.a} ${p.b}`));
    }
    // The busiest pair is the one tshark's bytes make busiest.
    const top = [...expected.entries()].sort((x, y) => y[1].bab + y[1].bba - (x[1].bab + x[1].bba))[0]!;
    expect(`${report.pairs[0]!.a} ${report.pairs[0]!.b}`).toBe(top[0]);
  });

  it.skipIf(!haveTshark)('busiest TCP conversation of tshark -z conv,tcp: same frames in search', async () => {
    const line = tshark(['-q', '-z', 'conv,tcp']).split('\n').find((l) => l.includes('<->'))!;
    const m = /^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+)\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(\d+)/.exec(line)!;
    expect(m).not.toBeNull();
    const [, ipA, portA, ipB, portB, , , totalFrames] = m;
    const { rows } = await searchFlows(db, { host: ipA!, proto: 'tcp', limit: 10_000 });
    const mine = rows.filter((r) =>
      (r.src_ip === ipA && r.src_port === Number(portA) && r.dst_ip === ipB && r.dst_port === Number(portB)) ||
      (r.src_ip === ipB && r.src_port === Number(portB) && r.dst_ip === ipA && r.dst_port === Number(portA)));
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.reduce((a, r) => a + Number(r.pkts_toserver) + Number(r.pkts_toclient), 0)).toBe(Number(totalFrames));
  });

  it.skipIf(!haveTshark)('packets per protocol equal tshark -z io,phs', () => {
    const phs = tshark(['-q', '-z', 'io,phs']);
    const frames = (name: string) => Number(new RegExp(`^\\s{4}${name}\\s+frames:(\\d+)`, 'm').exec(phs)?.[1] ?? 0);
    const mine = Object.fromEntries(report.protocols.map((p) => [p.proto, p.packets]));
    expect(mine.tcp).toBe(frames('tcp'));
    expect(mine.udp).toBe(frames('udp'));
  });

  it('the time series holds every inbound and outbound byte', () => {
    const s = report.series!;
    expect(s.t.length).toBeGreaterThan(1);
    expect(s.site.in.reduce((a, b) => a + b, 0)).toBe(report.summary.bytes_in);
    expect(s.site.out.reduce((a, b) => a + b, 0)).toBe(report.summary.bytes_out);
  });
});
