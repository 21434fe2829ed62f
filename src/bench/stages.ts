/**
 * Where a replay's time goes, stage by stage, on one thread:
 * `node --expose-gc dist/bench/stages.js FILE [--runs N] [--memory]`.
 *
 * The stages are measured cumulatively (each row runs everything above it too) and the
 * row's cost is its difference to the row before, min of N runs in this process (warm):
 *   read      file source with a no-op packet handler (read + record framing)
 *   decode    + decode() into the reused DecodedPacket
 *   flows     + FlowTable.add (lookup, update, timeout lists), no subscriber
 *   expiry    + a subscriber: flows that expire are built as records (with address text)
 *   detectors + every detector (FlowEndStage without outputs)
 *   output    + the flow log (NDJSON to a file)
 * The CLI runs read on its own thread (files >= 32 MB) and detectors + output in a worker
 * (src/offload.ts), so its wall time is about the larger of (read..expiry) and
 * (detectors + output) rather than the sum shown here.
 *
 * Then each detector alone (and scan with p2p), and the flow log alone, per flow: the
 * capture's flow records are kept once in the flow-end workers' slot format
 * (flow/wire.ts) and fed to a FlowEndStage running just that part, as a worker reads
 * them (`perFlow` in the report; `read` is reading the slot back into a record, which
 * every part includes).
 *
 * --memory: heap after a full GC, sampled every 10% of the file, with the flow table at a
 * tenth of the capture's flows (maxFlows = flows / 10), to show memory stays flat over a
 * replay ten times the table size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openCaptureFiles } from '../capture/file-source.js';
import type { PacketHandler } from '../capture/source.js';
import { loadConfig } from '../config/index.js';
import { decode } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { R_OK } from '../decode/reasons.js';
import { DETECTOR_MODULES } from '../detect/registry.js';
import { FlowEndStage } from '../flow-end.js';
import { FlowRecord } from '../flow/record.js';
import { FlowTable } from '../flow/table.js';
import { SLOT_BYTES, SlotViews } from '../flow/wire.js';
import { Pipeline } from '../pipeline.js';

export const STAGES = ['read', 'decode', 'flows', 'expiry', 'detectors', 'output'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageRow {
  stage: Stage;
  /** Cumulative CPU seconds (min of runs) with this stage and all before it. */
  cumulativeSeconds: number;
  /** This stage alone: the difference to the row before. */
  seconds: number;
}

export interface StageReport {
  file: string;
  packets: number;
  flows: number;
  rows: StageRow[];
  /** Flow-end parts alone: detector id, "flow log", or "read" (slot -> record): ns per flow, min of runs. */
  perFlow: { part: string; nsPerFlow: number }[];
}

async function runUpTo(file: string, upTo: Stage, flowsOut: string): Promise<{ cpu: number; packets: number; flows: number }> {
  const level = STAGES.indexOf(upTo);
  const config = loadConfig();
  const source = openCaptureFiles([file]);
  const packet = new DecodedPacket();
  let packets = 0;
  let table: FlowTable | null = null;
  let stage: FlowEndStage | null = null;
  if (level >= STAGES.indexOf('flows')) table = new FlowTable(config.flows);
  if (table && level === STAGES.indexOf('expiry')) {
    table.subscribe(() => {}); // FlowTable.emit builds the record only when someone listens
  }
  if (table && level >= STAGES.indexOf('detectors')) {
    stage = new FlowEndStage({ config, flowsDest: level >= STAGES.indexOf('output') ? flowsOut : null });
    table.subscribe(stage.onFlow);
  }
  let nextTick = -Infinity;
  const onPacket: PacketHandler =
    level === 0
      ? () => { packets++; }
      : (buf, off, cap, wire, ts, lt) => {
          packets++;
          packet.tsMicros = ts;
          const r = decode(buf, off, cap, wire, lt, packet);
          if (r !== R_OK || !table) return;
          table.add(packet);
          if (stage && table.clockMicros >= nextTick) {
            stage.onTick(table.clockMicros);
            nextTick = table.clockMicros + 1e6;
          }
        };
  const c0 = process.cpuUsage();
  await source.run(onPacket);
  if (table) table.expireAll('shutdown');
  if (stage) await stage.finish(Number.isFinite(table!.clockMicros) ? table!.clockMicros : 0);
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1e6, packets, flows: table ? Object.values(table.counters.flowsByReason).reduce((a, b) => a + b, 0) : 0 };
}

export async function measureStages(file: string, runs: number): Promise<StageReport> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-stages-')), 'flows.ndjson');
  const best = new Map<Stage, number>();
  let packets = 0;
  let flows = 0;
  for (let r = 0; r < runs; r++) {
    for (const s of STAGES) {
      const m = await runUpTo(file, s, out);
      packets = m.packets;
      if (s !== 'read' && s !== 'decode') flows = m.flows;
      best.set(s, Math.min(best.get(s) ?? Infinity, m.cpu));
    }
  }
  const perFlow = await measureFlowEndParts(file, runs, out);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  let prev = 0;
  const rows: StageRow[] = STAGES.map((stage) => {
    const cumulativeSeconds = best.get(stage)!;
    const row = { stage, cumulativeSeconds, seconds: Math.max(0, cumulativeSeconds - prev) };
    prev = Math.max(prev, cumulativeSeconds);
    return row;
  });
  return { file, packets, flows, rows, perFlow };
}

/** Each detector, the flow log, and reading a slot, alone over the capture's flow records. */
async function measureFlowEndParts(file: string, runs: number, flowsOut: string): Promise<StageReport['perFlow']> {
  const config = loadConfig();
  // The records in slot format, as the packet thread hands them to a worker.
  let slots = new SlotViews(new ArrayBuffer(1024 * SLOT_BYTES));
  let n = 0;
  const table = new FlowTable(config.flows, (r) => {
    if (n === slots.slots) slots = slots.grown(2 * n);
    slots.writeFlow(n++, r);
  });
  const packet = new DecodedPacket();
  await openCaptureFiles([file]).run((buf, off, cap, wire, ts, lt) => {
    packet.tsMicros = ts;
    if (decode(buf, off, cap, wire, lt, packet) === R_OK) table.add(packet);
  });
  table.expireAll('shutdown');
  if (n === 0) return [];
  // scan+p2p: the two detectors together share one per-source stage (shared-attempts.ts),
  // so together they cost less than the sum of each alone.
  const parts = ['read', ...DETECTOR_MODULES.map((m) => m.id), 'scan+p2p', 'flow log'];
  const result: StageReport['perFlow'] = [];
  for (const part of parts) {
    let best = Infinity;
    for (let r = 0; r < runs; r++) {
      const stage = new FlowEndStage({
        config,
        flowsDest: part === 'flow log' ? flowsOut : null,
        detectorIds: part === 'read' || part === 'flow log' ? [] : part.split('+'),
      });
      const record = new FlowRecord();
      let nextTick = -Infinity;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        slots.readFlow(i, record);
        if (part !== 'read') stage.onFlow(record);
        if (record.endMicros >= nextTick) {
          stage.onTick(record.endMicros);
          nextTick = record.endMicros + 1e6;
        }
      }
      await stage.finish(nextTick);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
    }
    result.push({ part, nsPerFlow: Math.round(best) });
  }
  return result;
}

export interface MemoryReport {
  maxFlows: number;
  /** Heap MB after GC at each tenth of the file. */
  heapMB: number[];
  /** Largest sample in the second half over the largest in the first (1.0 = flat). */
  growth: number;
}

/** Heap after GC through a replay with the table at a tenth of the capture's flows. */
export async function measureMemoryFlat(file: string, captureFlows: number, gc: () => void): Promise<MemoryReport> {
  const config = loadConfig();
  const maxFlows = Math.max(1000, Math.floor(captureFlows / 10));
  config.flows.maxFlows = maxFlows;
  const size = fs.statSync(file).size;
  const source = openCaptureFiles([file]);
  // The whole pipeline on this thread (detectors included, no outputs).
  const pipeline = new Pipeline({ config });
  const heapMB: number[] = [];
  let nextSample = size / 10;
  await source.run((buf, off, cap, wire, ts, lt) => {
    pipeline.onPacket(buf, off, cap, wire, ts, lt);
    const done = source.progress().done;
    if (done >= nextSample) {
      nextSample += size / 10;
      gc();
      heapMB.push(Math.round(process.memoryUsage().heapUsed / 1e5) / 10);
    }
  });
  const half = Math.floor(heapMB.length / 2);
  const first = Math.max(...heapMB.slice(0, half));
  const second = Math.max(...heapMB.slice(half));
  return { maxFlows, heapMB, growth: Math.round((second / first) * 100) / 100 };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  if (!file) {
    console.error('usage: node --expose-gc dist/bench/stages.js FILE [--runs N] [--memory FLOWS]');
    process.exit(2);
  }
  const memAt = args.indexOf('--memory');
  if (memAt >= 0) {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run with node --expose-gc');
    console.log(JSON.stringify(await measureMemoryFlat(file, Number(args[memAt + 1]), gc)));
    return;
  }
  console.log(JSON.stringify(await measureStages(file, runs)));
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
