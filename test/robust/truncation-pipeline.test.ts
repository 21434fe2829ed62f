/**
 * Issue 7 §2 (truncation) through the FULL pipeline, not just the reader
 * (test/capture/truncation.test.ts checks the reader's packets at every offset). Every
 * capture in ../shared/captures/formats/ is cut and the prefix replayed through
 * replayBytes -> Pipeline -> finish. At each cut:
 * - inside the file header: refused with a UserError, nothing else;
 * - after it: no throw, the packets are exactly those whose record ends before the cut,
 *   and the accounting holds (packets == flow_packets + not_flowed, records == flows).
 *
 * Cuts: every byte offset for small files; for the rest a dense sample (every record
 * boundary and its neighbours, a stride through the bodies). Why not every offset of every
 * file: a Pipeline costs ~5-20 ms to build (its flow table preallocates a 65,536-entry
 * fragment LRU), so the ~15,000 offsets of these files would take minutes; the reader test covers every
 * offset, and this one every offset of the files up to 300 bytes.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/index.js';
import { pipelineCase } from '../../src/fuzz/check.js';
import { Prng } from '../../src/gen/prng.js';
import { capturePath, describeShared, manifest } from '../helpers/shared.js';
import { frame } from '../helpers/framing.js';

/** Files up to this size are cut at every offset. */
const EVERY_OFFSET_BYTES = 300;
/** Cuts per larger file (boundaries first, then a seeded stride). */
const SAMPLE_CUTS = 40;

describeShared('truncation through the whole pipeline', () => {
  const rows = manifest('formats/').filter((r) => !/\.(gz|zst|snoop)$/.test(r.file));
  const config = defaultConfig();

  it('has the format captures', () => {
    expect(rows.length).toBeGreaterThan(30);
  });

  for (const row of rows) {
    const every = row.bytes <= EVERY_OFFSET_BYTES;
    it(`${row.file} (${every ? 'every offset' : `${SAMPLE_CUTS} cuts`})`, async () => {
      const bytes = fs.readFileSync(capturePath(row.file));
      const f = frame(bytes);
      let cuts: number[];
      if (every) cuts = Array.from({ length: bytes.length + 1 }, (_, i) => i);
      else {
        const rng = new Prng(bytes.length);
        const s = new Set<number>([0, 1, f.headerEnd - 1, f.headerEnd, f.headerEnd + 1, bytes.length - 1, bytes.length]);
        const bounds = [...f.boundaries];
        // Neighbours of up to 8 boundaries spread over the file, then random offsets.
        for (let i = 0; i < Math.min(8, bounds.length); i++) {
          const b = bounds[Math.floor((i * bounds.length) / Math.min(8, bounds.length))]!;
          for (const d of [-1, 0, 1]) s.add(b + d);
        }
        while (s.size < SAMPLE_CUTS) s.add(rng.int(0, bytes.length));
        cuts = [...s].filter((x) => x >= 0 && x <= bytes.length).sort((a, b) => a - b);
      }
      const failures: string[] = [];
      let replayed = 0;
      for (const cut of cuts) {
        const r = await pipelineCase(row.file, bytes.subarray(0, cut), config, 1 + (cut % 4096));
        const want = f.packetEnds.filter((end) => end <= cut).length;
        let problem = r.problem;
        if (problem === null && cut < f.headerEnd && r.outcome !== 'refused') problem = 'inside the header but not refused';
        if (problem === null && cut >= f.headerEnd && r.outcome === 'refused') problem = 'refused after the header';
        if (problem === null && r.stats && r.stats.packets !== want) problem = `${r.stats.packets} packets, want ${want}`;
        if (r.outcome === 'replayed') replayed++;
        if (problem !== null && failures.push(`cut ${cut}: ${problem}`) >= 5) break;
      }
      expect(failures).toEqual([]);
      expect(replayed).toBeGreaterThan(0);
    });
  }
});
