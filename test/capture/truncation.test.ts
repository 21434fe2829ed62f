/**
 * Truncation: a capture cut at any byte must end cleanly. Each cut prefix goes through
 * replayBytes (the same format check, parsers and chunk handling as a file) with small,
 * varying chunk sizes, so records also straddle chunk boundaries. Expected results come
 * from an independent walk of the record framing (test/helpers/framing.ts).
 *
 * - cut inside the file header (pcap: 24 bytes; pcapng: the first SHB): UserError;
 * - otherwise: exactly the packets whose record ends at or before the cut, identical to
 *   the first packets of the whole file; a "truncated record" warning iff the cut is not
 *   on a record/block boundary.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { replayBytes } from '../../src/capture/file-source.js';
import { UserError } from '../../src/util/errors.js';
import { capturePath, describeShared, manifest } from '../helpers/shared.js';
import { frame, type Framing } from '../helpers/framing.js';
import { collector, type Pkt } from './collect.js';

/**
 * Chunk sizes cycled over the cuts, smaller than records so they straddle chunks. Tiny
 * chunks cost a memmove of the kept tail per chunk, so larger files get larger chunks to
 * keep the test quick (crafted.test.ts covers 1-byte chunks on small inputs).
 */
function chunkSizes(fileBytes: number): number[] {
  if (fileBytes < 5_000) return [13, 64, 100, 1500, 4096];
  if (fileBytes < 30_000) return [700, 1500, 4096, 65536];
  return [1500, 4096, 65536, 1 << 20];
}

function checkCut(name: string, bytes: Buffer, f: Framing, full: Pkt[], cut: number): string | null {
  const prefix = bytes.subarray(0, cut);
  // Compare on the fly with the whole file's packets (no copy per packet per cut).
  let seen = 0;
  let mismatch = -1;
  const onPacket = (b: Buffer, o: number, capLen: number, wireLen: number, ts: number, lt: number): void => {
    const p = full[seen];
    if (mismatch < 0 && (!p || p.ts !== ts || p.capLen !== capLen || p.wireLen !== wireLen || p.linktype !== lt || b.compare(p.data, 0, capLen, o, o + capLen) !== 0)) mismatch = seen;
    seen++;
  };
  let result: { packets: number; warnings: string[] };
  try {
    const chunks = chunkSizes(bytes.length);
    result = replayBytes(name, prefix, onPacket, chunks[cut % chunks.length]);
  } catch (e) {
    if (!(e instanceof UserError)) return `cut ${cut}: threw ${String(e)}`;
    if (cut >= f.headerEnd) return `cut ${cut}: UserError after the header: ${e.message}`;
    return null;
  }
  if (cut < f.headerEnd) return `cut ${cut}: inside the header but no UserError`;
  const want = f.packetEnds.filter((end) => end <= cut).length;
  if (result.packets !== want || seen !== want) return `cut ${cut}: ${seen} packets, want ${want}`;
  if (mismatch >= 0) return `cut ${cut}: packet ${mismatch + 1} differs from the whole file's`;
  const truncWarn = result.warnings.filter((w) => w.includes('truncated record at byte')).length;
  const onBoundary = f.boundaries.has(cut);
  if (truncWarn !== (onBoundary ? 0 : 1)) return `cut ${cut}: ${truncWarn} truncation warnings, on boundary: ${onBoundary}`;
  if (result.warnings.length !== truncWarn) return `cut ${cut}: unexpected warnings ${result.warnings.join(' | ')}`;
  return null;
}

describeShared('truncation at every byte', () => {
  const rows = manifest('formats/').filter((r) => !/\.(gz|zst|snoop)$/.test(r.file));

  for (const row of rows) {
    const small = row.bytes < 30_000;
    it(`${row.file} (${small ? 'every offset' : 'dense sample'})`, () => {
      const bytes = fs.readFileSync(capturePath(row.file));
      const f = frame(bytes);
      const c = collector();
      const whole = replayBytes(row.file, bytes, c.onPacket);
      expect(whole.warnings).toEqual([]);
      expect(c.pkts.length).toBe(f.packetEnds.length);
      let cuts: number[];
      if (small) cuts = Array.from({ length: bytes.length + 1 }, (_, i) => i);
      else {
        // Around every boundary, plus a stride through the bodies.
        const s = new Set<number>();
        for (const b of f.boundaries) for (const d of [-16, -1, 0, 1, 17]) s.add(b + d);
        for (let i = 0; i <= bytes.length; i += 499) s.add(i);
        for (let i = 0; i < 30; i++) s.add(i);
        cuts = [...s].filter((x) => x >= 0 && x <= bytes.length).sort((a, b) => a - b);
      }
      const failures: string[] = [];
      for (const cut of cuts) {
        const err = checkCut(row.file, bytes, f, c.pkts, cut);
        if (err !== null && failures.push(err) >= 5) break;
      }
      expect(failures).toEqual([]);
    });
  }
});
