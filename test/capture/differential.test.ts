/**
 * Differential test (STYLE.md): on every classic, uncompressed pcap in formats/ and
 * detection/ our reader and pcap-parser must yield the same packets: count, timestamp (µs),
 * caplen, wirelen and bytes. Files are picked by magic number, not by name.
 *
 * pcap-parser knows only the microsecond magic; for nanosecond files the test hands it a
 * copy whose magic is rewritten to the microsecond one, so its "microseconds" field holds
 * nanoseconds, and the expected timestamp is sec*1e6 + floor(ns/1000).
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import pcapParser from 'pcap-parser';
import type { PcapPacket } from 'pcap-parser';
import { expect, it } from 'vitest';
import { openCaptureFiles } from '../../src/capture/file-source.js';
import { capturePath, describeShared, manifest } from '../helpers/shared.js';
import { runAll } from './collect.js';

interface Classic {
  file: string;
  nano: boolean;
}

function classicPcaps(): Classic[] {
  const out: Classic[] = [];
  for (const row of [...manifest('formats/'), ...manifest('detection/')]) {
    const p = capturePath(row.file);
    if (!fs.existsSync(p)) continue;
    const head = Buffer.alloc(4);
    const fd = fs.openSync(p, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    const be = head.readUInt32BE(0);
    const le = head.readUInt32LE(0);
    if (be === 0xa1b2c3d4 || le === 0xa1b2c3d4) out.push({ file: row.file, nano: false });
    else if (be === 0xa1b23c4d || le === 0xa1b23c4d) out.push({ file: row.file, nano: true });
  }
  return out;
}

function viaPcapParser(c: Classic): Promise<Array<{ ts: number; capLen: number; wireLen: number; data: Buffer }>> {
  const bytes = Buffer.from(fs.readFileSync(capturePath(c.file)));
  if (c.nano) {
    // Same byte order, microsecond magic.
    if (bytes.readUInt32BE(0) === 0xa1b23c4d) bytes.writeUInt32BE(0xa1b2c3d4, 0);
    else bytes.writeUInt32LE(0xa1b2c3d4, 0);
  }
  return new Promise((resolve, reject) => {
    const out: Array<{ ts: number; capLen: number; wireLen: number; data: Buffer }> = [];
    const parser = pcapParser.parse(Readable.from([bytes]));
    parser.on('packet', (p: PcapPacket) => {
      const frac = c.nano ? Math.floor(p.header.timestampMicroseconds / 1000) : p.header.timestampMicroseconds;
      out.push({ ts: p.header.timestampSeconds * 1e6 + frac, capLen: p.header.capturedLength, wireLen: p.header.originalLength, data: Buffer.from(p.data) });
    });
    parser.on('error', reject);
    parser.on('end', () => resolve(out));
  });
}

describeShared('differential: our pcap reader vs pcap-parser', () => {
  const files = classicPcaps();

  it('finds classic pcaps of both precisions to compare', () => {
    expect(files.length).toBeGreaterThan(30);
    expect(files.some((f) => f.nano)).toBe(true);
  });

  for (const c of files) {
    it(`${c.file}${c.nano ? ' (ns)' : ''}`, async () => {
      const theirs = await viaPcapParser(c);
      const ours = (await runAll(openCaptureFiles([capturePath(c.file)]))).map(({ ts, capLen, wireLen, data }) => ({ ts, capLen, wireLen, data }));
      expect(ours.length).toBe(theirs.length);
      // An explicit loop: deep equality over thousands of Buffers is slow in vitest.
      let firstDiff = '';
      for (let i = 0; i < ours.length && firstDiff === ''; i++) {
        const a = ours[i]!;
        const b = theirs[i]!;
        if (a.ts !== b.ts || a.capLen !== b.capLen || a.wireLen !== b.wireLen || !a.data.equals(b.data)) {
          firstDiff = `packet ${i + 1}: ours ${a.ts}/${a.capLen}/${a.wireLen}, pcap-parser ${b.ts}/${b.capLen}/${b.wireLen}`;
        }
      }
      expect(firstDiff).toBe('');
    });
  }
});
