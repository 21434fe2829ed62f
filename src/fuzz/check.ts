/**
 * One fuzz case through the whole pipeline: capture bytes -> replayBytes (format check,
 * parsers, chunking) -> Pipeline (decode, flow table, detectors) -> finish. What must
 * hold, whatever the bytes:
 * - nothing throws except a UserError from the format check at open (a file that is not
 *   a readable capture is refused in one line; tapaudit exits 3);
 * - packets == flow_packets + sum(not_flowed); every flow left the table (flows_active 0);
 *   the records handed out are as many as stats.flows says and carry flow_packets packets.
 * Returns null when all holds, else what broke (the caller reports it with its seed).
 */
import { replayBytes } from '../capture/file-source.js';
import { detectFormat } from '../capture/format.js';
import type { Config } from '../config/schema.js';
import type { FlowRecord } from '../flow/record.js';
import { Pipeline, type RunStats } from '../pipeline.js';
import { isUserError } from '../util/errors.js';

export interface PipelineCaseResult {
  /** 'refused': the format check said it is not a capture (a UserError). */
  outcome: 'replayed' | 'refused';
  stats: RunStats | null;
  problem: string | null;
}

const sum = (o: Record<string, number>): number => {
  let s = 0;
  for (const k in o) s += o[k]!;
  return s;
};

export async function pipelineCase(name: string, bytes: Uint8Array, config: Config, chunkBytes: number): Promise<PipelineCaseResult> {
  // The format check first: a refused file needs no pipeline (building one is ~5-20 ms,
  // mostly preallocated LRU tables, which would dominate a fuzz case).
  try {
    detectFormat(name, bytes, bytes.length);
  } catch (e) {
    if (isUserError(e)) return { outcome: 'refused', stats: null, problem: null };
    return { outcome: 'refused', stats: null, problem: `format check threw: ${(e as Error)?.stack ?? String(e)}` };
  }
  let records = 0;
  let recordPackets = 0;
  const pipeline = new Pipeline({
    config,
    onFlow: (f: FlowRecord) => {
      records++;
      recordPackets += f.pktsToServer + f.pktsToClient;
    },
  });
  let read: { packets: number; warnings: string[] };
  try {
    read = replayBytes(name, bytes, pipeline.onPacket, chunkBytes);
  } catch (e) {
    return { outcome: 'replayed', stats: null, problem: `threw ${isUserError(e) ? 'a UserError after the format check passed' : 'an error'}: ${(e as Error)?.stack ?? String(e)}` };
  }
  let stats: RunStats;
  try {
    stats = await pipeline.finish();
  } catch (e) {
    return { outcome: 'replayed', stats: null, problem: `finish threw: ${(e as Error)?.stack ?? String(e)}` };
  }
  const problems: string[] = [];
  if (stats.packets !== read.packets) problems.push(`stats.packets ${stats.packets} != reader packets ${read.packets}`);
  const notFlowed = sum(stats.not_flowed);
  if (stats.packets !== stats.flow_packets + notFlowed) {
    problems.push(`packets ${stats.packets} != flow_packets ${stats.flow_packets} + not_flowed ${notFlowed}`);
  }
  if (stats.flows_active !== 0) problems.push(`flows_active ${stats.flows_active} after finish`);
  if (records !== sum(stats.flows)) problems.push(`${records} records handed out, stats.flows says ${sum(stats.flows)}`);
  if (recordPackets !== stats.flow_packets) problems.push(`records carry ${recordPackets} packets, flow_packets ${stats.flow_packets}`);
  return { outcome: 'replayed', stats, problem: problems.length ? problems.join('; ') : null };
}
