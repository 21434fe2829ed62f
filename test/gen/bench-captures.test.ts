/**
 * Bench captures, small: 20,000 packets of each kind read back with pcap-parser, with the
 * shape the bench relies on (mix: big TCP segments and DNS, many concurrent flows; churn:
 * about one flow per two packets, small frames), the same bytes for the same parameters,
 * and the sidecar that lets the bench skip regenerating an up-to-date file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareRead } from '../../src/bench/bare-read.js';
import { ensureCapture, GENERATOR_VERSION } from '../../src/gen/bench-captures.js';
import { decodeFrame, readWithPcapParser, type Pkt } from './pcap-bytes.js';

const N = 20_000;
let dir: string;
const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const flowKey = (p: Pkt): string => {
  const a = `${p.src}:${p.srcPort}`;
  const b = `${p.dst}:${p.dstPort}`;
  return `${p.proto} ${a < b ? a + ' ' + b : b + ' ' + a}`;
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-benchcap-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('bench captures (--packets 20000)', () => {
  it('mix: N packets of sessions with full-size segments, DNS, and valid checksums', async () => {
    const r = ensureCapture(dir, 'mix', N);
    expect(r.reused).toBe(false);
    const frames = await readWithPcapParser(r.file);
    expect(frames.length).toBe(N);
    const pkts = frames.map(decodeFrame);
    expect(pkts.every((p) => p.checksumsOk)).toBe(true);
    const big = pkts.filter((p) => p.frameLen === 1514).length;
    expect(big / N).toBeGreaterThan(0.3);
    expect(pkts.filter((p) => p.proto === 17 && (p.dstPort === 53 || p.srcPort === 53)).length).toBeGreaterThan(100);
    const flows = new Set(pkts.map(flowKey)).size;
    // Sessions are interleaved: far more flows than one at a time, but far fewer than packets.
    expect(flows).toBeGreaterThan(1000);
    expect(flows).toBeLessThan(N / 5);
    expect(r.flows).toBeGreaterThanOrEqual(flows);
    expect(fs.statSync(r.file).size).toBe(r.bytes);
    // The bench's floor row must count what pcap-parser counts.
    expect(bareRead(r.file)).toEqual({ packets: N, bytes: frames.reduce((n, f) => n + f.capLen, 0) });
    for (let i = 1; i < pkts.length; i++) expect(pkts[i]!.tsMicros).toBeGreaterThan(pkts[i - 1]!.tsMicros);
  });

  it('churn: N small packets, about one flow per two packets', async () => {
    const r = ensureCapture(dir, 'churn', N);
    const frames = await readWithPcapParser(r.file);
    expect(frames.length).toBe(N);
    const pkts = frames.map(decodeFrame);
    expect(pkts.every((p) => p.checksumsOk && p.frameLen <= 200)).toBe(true);
    const flows = new Set(pkts.map(flowKey)).size;
    expect(flows).toBeGreaterThan(N * 0.45);
    expect(flows).toBeLessThan(N * 0.55);
    const syns = pkts.filter((p) => p.flags === 0x02).length;
    const rstAcks = pkts.filter((p) => p.flags === 0x14).length;
    expect(rstAcks).toBeGreaterThan(syns * 0.6);
  });

  it('is deterministic and skips regeneration when the sidecar matches', () => {
    const mix = path.join(dir, 'mix.pcap');
    const before = sha256(mix);
    const mtime = fs.statSync(mix).mtimeMs;
    const again = ensureCapture(dir, 'mix', N);
    expect(again.reused).toBe(true);
    expect(fs.statSync(mix).mtimeMs).toBe(mtime);

    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-benchcap2-'));
    try {
      expect(sha256(ensureCapture(other, 'mix', N).file)).toBe(before);
      // Other parameters, or a sidecar from another generator version, mean a rewrite.
      expect(ensureCapture(other, 'mix', N + 10).reused).toBe(false);
      const side = path.join(other, 'mix.pcap.json');
      fs.writeFileSync(side, JSON.stringify({ ...JSON.parse(fs.readFileSync(side, 'utf8')), version: GENERATOR_VERSION - 1 }));
      const rewritten = ensureCapture(other, 'mix', N + 10);
      expect(rewritten.reused).toBe(false);
      expect(rewritten.packets).toBe(N + 10);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
