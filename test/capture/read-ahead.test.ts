/**
 * The read-ahead path (a reader thread filling shared chunks, records parsed in place,
 * records that straddle a chunk edge stitched in the feeder) must deliver exactly what the
 * plain path delivers: every packet, byte for byte, and the same warnings. Chunks of a
 * few hundred bytes make nearly every record straddle an edge, including pcapng blocks
 * and the file header.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT, capturePath, describeShared, manifest } from '../helpers/shared.js';
import { runAll } from './collect.js';

// Built code: the reader thread is a plain Node worker (dist/capture/read-ahead-worker.js).
const { openCaptureFiles } = (await import(pathToFileURL(path.join(REPO_ROOT, 'dist', 'capture', 'file-source.js')).href)) as
  typeof import('../../src/capture/file-source.js');

const { ensureCapture } = (await import(pathToFileURL(path.join(REPO_ROOT, 'dist', 'gen', 'bench-captures.js')).href)) as
  typeof import('../../src/gen/bench-captures.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-readahead-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * Null when the file is refused at open (before any reading: both paths alike). `self`:
 * chunks the packet thread may read itself before the reader thread takes over (0: the
 * reader thread reads everything; undefined: as many as it gets to first).
 */
async function both(file: string, chunk: number, self?: number) {
  let plainSrc;
  try {
    plainSrc = openCaptureFiles([file], { readAheadMinBytes: Infinity });
  } catch {
    return null;
  }
  const plain = await runAll(plainSrc);
  const aheadSrc = openCaptureFiles([file], { readAheadMinBytes: 0, readAheadChunkBytes: chunk, readAheadSelfChunks: self });
  const ahead = await runAll(aheadSrc);
  return { plain, ahead, plainWarnings: plainSrc.warnings, aheadWarnings: aheadSrc.warnings };
}

/** Packets, and a digest of every packet's time, lengths and bytes (FNV-1a). */
async function digest(src: ReturnType<typeof openCaptureFiles>): Promise<{ packets: number; digest: number; warnings: string[] }> {
  let packets = 0;
  let h = 0x811c9dc5;
  await src.run((b, o, c, w, ts) => {
    packets++;
    h = Math.imul(h ^ (ts % 0x7fffffff), 16777619) ^ Math.imul(c, 31) ^ w;
    for (let i = o; i < o + c; i++) h = Math.imul(h ^ b[i]!, 16777619);
  });
  return { packets, digest: h >>> 0, warnings: src.warnings.map((x) => x.message) };
}

// The start-up hand-over (the packet thread reading the first chunks itself, then the
// reader thread taking over) raced once: the reader thread filled a slot the packet thread
// was still reading into, which read as a damaged file a few runs in ten with chunks of a
// few KiB. A 32 MB capture, many small chunks, several runs each: all must match.
it('a 32 MB capture read again and again with small chunks: the same packets every time', async () => {
  const { file } = ensureCapture(path.join(tmp, 'churn'), 'churn', 400_000);
  const want = await digest(openCaptureFiles([file], { readAheadMinBytes: Infinity }));
  expect(want.packets).toBe(400_000);
  for (let run = 0; run < 4; run++) {
    for (const chunk of [4096, 16_384, 65_536]) {
      const got = await digest(openCaptureFiles([file], { readAheadMinBytes: 0, readAheadChunkBytes: chunk }));
      expect(got, `run ${run}, ${chunk}-byte chunks`).toEqual(want);
    }
  }
}, 60_000);

describeShared('read-ahead thread against the plain reader', () => {
  // Well-formed and damaged files (damaged framing: the "at byte N" of the warning must agree).
  const files = [...manifest('formats/'), ...manifest('malformed/')].map((r) => r.file).filter((f) => !f.endsWith('.gz'));

  it('has files to compare', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  // The packet thread reads chunks itself until the reader thread starts; these files are
  // small enough that it often reads them whole, so each size also runs with the reader
  // thread reading every chunk (self 0) and with the two taking turns (self 2).
  for (const [chunk, self] of [[257, undefined], [257, 0], [4096, undefined], [4096, 2], [65_536, 0]] as const) {
    it(`every formats/ and malformed/ capture, ${chunk}-byte chunks, packet thread reads ${self ?? 'any number of'} chunks: same packets, same warnings`, async () => {
      let compared = 0;
      for (const f of files) {
        const r = await both(capturePath(f), chunk, self);
        if (!r) continue;
        compared++;
        expect(r.ahead.length, f).toBe(r.plain.length);
        expect(r.ahead, f).toEqual(r.plain);
        expect(r.aheadWarnings, f).toEqual(r.plainWarnings);
      }
      expect(compared).toBeGreaterThan(20);
    });
  }

  it('files cut short at many offsets: same packets and the same truncation warning', async () => {
    let truncated = 0;
    for (const f of ['formats/pcpp__many_interfaces-1.pcapng', 'formats/td__pptp.pcap']) {
      const bytes = fs.readFileSync(capturePath(f));
      for (let cut = 40; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 37))) {
        const file = path.join(tmp, `cut-${cut}-${path.basename(f)}`);
        fs.writeFileSync(file, bytes.subarray(0, cut));
        const r = await both(file, 300, cut % 2 === 0 ? 0 : undefined);
        if (!r) continue; // cut inside the file header: refused at open
        truncated += r.plainWarnings.length > 0 ? 1 : 0;
        expect(r.ahead, `${f} cut at ${cut}`).toEqual(r.plain);
        expect(r.aheadWarnings, `${f} cut at ${cut}`).toEqual(r.plainWarnings);
      }
    }
    expect(truncated).toBeGreaterThan(40);
  });
});
