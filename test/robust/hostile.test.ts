/**
 * Issue 7 §3, CI-sized: the hostile captures of src/gen/hostile.ts (200,000 packets
 * each) through the real pipeline with the flow table at 50,000 and the detector tables
 * lowered by a config, so that every bound is reached. The full-size runs (1.2M spoofed
 * sources, 1M one-packet flows) with peak RSS and packets/s are
 * `node dist/fuzz/hostile-load.js` (docs/robustness.md).
 *
 * Checked: flows_active never above maxFlows (sampled during the run), capacity evictions
 * counted in stats.flows.capacity, detector evictions counted, flood.spoofed-source fires
 * on the flood, and the accounting holds (packets == flow_packets + not_flowed; records
 * written == stats.flows; their packets == flow_packets).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCaptureFiles } from '../../src/capture/file-source.js';
import { parseConfigText } from '../../src/config/index.js';
import { writeSynFlood, writeUdpFlows } from '../../src/gen/hostile.js';
import { Pipeline } from '../../src/pipeline.js';
import { sum, tmpDir } from './cli-run.js';

const PACKETS = 200_000;
const MAX_FLOWS = 50_000;
/** Every bounded detector table well below the number of sources the flood brings. */
const CONFIG = `
flows:
  maxFlows: ${MAX_FLOWS}
alerts:
  maxSuppressionEntries: 1000
detectors:
  scan:
    maxSources: 5000
  p2p:
    maxSources: 5000
  flood:
    maxTargets: 100
  icmpUnreachable:
    maxTrackedHosts: 1000
  icmpNachi:
    maxTrackedHosts: 1000
  imbalance:
    maxTrackedHosts: 5000
`;

const dir = tmpDir('hostile');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function replay(file: string) {
  const config = parseConfigText(CONFIG, 'hostile.yaml');
  let records = 0;
  let recordPackets = 0;
  const pipeline = new Pipeline({
    config,
    onFlow: (f) => {
      records++;
      recordPackets += f.pktsToServer + f.pktsToClient;
    },
  });
  // Sample the table size as the packets go by (the test may allocate; the pipeline not).
  let maxActive = 0;
  let seen = 0;
  const onPacket = pipeline.onPacket;
  const source = openCaptureFiles([file]);
  await source.run((b, o, c, w, ts, lt) => {
    onPacket(b, o, c, w, ts, lt);
    if (++seen % 1000 === 0 && pipeline.table.size > maxActive) maxActive = pipeline.table.size;
  });
  const stats = await pipeline.finish(source.warnings);
  return { stats, records, recordPackets, maxActive };
}

describe('hostile load (CI size)', () => {
  it(`SYN flood from ${PACKETS} spoofed sources to one target`, async () => {
    const file = path.join(dir, 'synflood.pcap');
    expect(writeSynFlood(file, PACKETS)).toBe(PACKETS);
    const { stats: s, records, recordPackets, maxActive } = await replay(file);
    expect(s.packets).toBe(PACKETS);
    expect(s.packets).toBe(s.flow_packets + sum(s.not_flowed));
    expect(records).toBe(sum(s.flows));
    expect(recordPackets).toBe(s.flow_packets);
    // The table fills (every SYN is a new flow) and never goes past its bound.
    expect(maxActive).toBeGreaterThan(MAX_FLOWS * 0.9);
    expect(maxActive).toBeLessThanOrEqual(MAX_FLOWS);
    expect(s.flows.capacity).toBeGreaterThan(PACKETS - 2 * MAX_FLOWS);
    // Scan and p2p keep a bounded table of sources: ~200k spoofed sources evict.
    expect(sum(s.detector_evictions)).toBeGreaterThan(0);
    expect(s.alerts['flood.spoofed-source']).toBeGreaterThan(0);
  });

  it(`${PACKETS} one-packet UDP flows`, async () => {
    const file = path.join(dir, 'udpflows.pcap');
    expect(writeUdpFlows(file, PACKETS)).toBe(PACKETS);
    const { stats: s, records, recordPackets, maxActive } = await replay(file);
    expect(s.packets).toBe(PACKETS);
    expect(s.not_flowed).toSatisfy((o: Record<string, number>) => sum(o) === 0);
    expect(s.flow_packets).toBe(PACKETS);
    expect(records).toBe(PACKETS); // every packet its own flow, none lost, none merged
    expect(recordPackets).toBe(PACKETS);
    expect(maxActive).toBeLessThanOrEqual(MAX_FLOWS);
    expect(s.flows.capacity).toBeGreaterThan(PACKETS - 2 * MAX_FLOWS);
    expect(sum(s.detector_evictions)).toBeGreaterThan(0);
  });
});
