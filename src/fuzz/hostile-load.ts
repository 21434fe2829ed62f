/**
 * Full-size hostile load (issue 7 §3), a script and not a unit test:
 *   npm run build && node dist/fuzz/hostile-load.js [DIR]
 * writes the hostile captures (src/gen/hostile.ts: a 1.2M-packet SYN flood from ~1.2M
 * spoofed sources, 1M one-packet UDP flows), replays each through the CLI under
 * /usr/bin/time with the default flow table (1,000,000 flows) and with --max-flows
 * 100000, and prints per run: packets/s, peak RSS (time's %M), flows by end reason,
 * detector evictions and alerts. The same packet count taken from the first part of
 * each capture is replayed too: packets/s that stays level as the input grows ten-fold
 * is the "no slower than a constant factor" check.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSynFlood, writeUdpFlows, SYNFLOOD_PACKETS, UDPFLOWS_PACKETS } from '../gen/hostile.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'bin', 'tapaudit.js');

export interface LoadRow {
  capture: string;
  maxFlows: string;
  packets: number;
  wallSeconds: number;
  pps: number;
  peakRssMiB: number;
  flows: Record<string, number>;
  detectorEvictions: Record<string, number>;
  alerts: Record<string, number>;
}

const nonZero = (o: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0));

export function loadRun(capture: string, maxFlows: number | null, dir: string): LoadRow {
  const stats = path.join(dir, 'stats.json');
  const args = ['-f', '%M', process.execPath, CLI, 'replay', capture, '--stats', stats, '--flows', '/dev/null', '--alerts', path.join(dir, 'alerts.ndjson'), '-q'];
  if (maxFlows !== null) args.push('--max-flows', String(maxFlows));
  const r = spawnSync('/usr/bin/time', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`replay of ${capture} failed (${r.status}): ${r.stderr}`);
  const rssKiB = Number(r.stderr.trim().split('\n').at(-1));
  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  return {
    capture: path.basename(capture),
    maxFlows: maxFlows === null ? '1000000 (default)' : String(maxFlows),
    packets: s.packets,
    wallSeconds: s.wall_seconds,
    pps: s.packets_per_second,
    peakRssMiB: Math.round(rssKiB / 1024),
    flows: nonZero(s.flows),
    detectorEvictions: nonZero(s.detector_evictions),
    alerts: nonZero(s.alerts),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-hostile-'));
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    synflood: path.join(dir, 'synflood.pcap'),
    udpflows: path.join(dir, 'udpflows.pcap'),
    synflood10: path.join(dir, 'synflood-10pct.pcap'),
    udpflows10: path.join(dir, 'udpflows-10pct.pcap'),
  };
  writeSynFlood(files.synflood);
  writeUdpFlows(files.udpflows);
  // The same generators with a tenth of the packets: the same first packets, a smaller run.
  writeSynFlood(files.synflood10, SYNFLOOD_PACKETS / 10);
  writeUdpFlows(files.udpflows10, UDPFLOWS_PACKETS / 10);
  const rows: LoadRow[] = [];
  for (const f of [files.synflood10, files.synflood, files.udpflows10, files.udpflows]) {
    for (const max of [null, 100_000]) {
      const row = loadRun(f, max, dir);
      rows.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
  }
  process.stdout.write('\n| capture | max flows | packets | s | packets/s | peak RSS MiB | flows by end reason | detector evictions | alerts |\n|---|---|---|---|---|---|---|---|---|\n');
  const kv = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
  for (const r of rows) {
    process.stdout.write(`| ${r.capture} | ${r.maxFlows} | ${r.packets} | ${r.wallSeconds} | ${r.pps} | ${r.peakRssMiB} | ${kv(r.flows)} | ${kv(r.detectorEvictions)} | ${kv(r.alerts)} |\n`);
  }
}
