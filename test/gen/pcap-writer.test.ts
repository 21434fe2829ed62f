/**
 * Frame builders: whatever the fields, every checksum verifies (the O(1) fill-byte payload
 * sum included, odd lengths too), lengths add up and short frames are padded to 60.
 * The writer's records read back with pcap-parser.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameSpec,
  MAX_FRAME_LEN,
  PcapWriter,
  icmpEcho4Frame,
  icmpError4Frame,
  IP_OFFSET_IN_FRAME,
  tcp4Frame,
  tcp6Frame,
  udp4Frame,
  udp6Frame,
} from '../../src/gen/pcap-writer.js';
import { Prng } from '../../src/gen/prng.js';
import { decodeFrame, readWithPcapParser } from './pcap-bytes.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 65535 });
const specArb = fc.record({
  src: u32, dst: u32, src6: fc.array(u32, { minLength: 4, maxLength: 4 }), dst6: fc.array(u32, { minLength: 4, maxLength: 4 }),
  srcPort: port, dstPort: port, seq: u32, ack: u32, flags: fc.integer({ min: 0, max: 255 }),
  payloadLen: fc.integer({ min: 0, max: 1440 }), payloadByte: fc.integer({ min: 0, max: 255 }),
  pattern: fc.option(fc.uint8Array({ minLength: 1, maxLength: 300 })), from: fc.nat(1000),
});

type SpecValue = typeof specArb extends fc.Arbitrary<infer T> ? T : never;

function fill(s: FrameSpec, v: SpecValue): void {
  Object.assign(s, { src: v.src, dst: v.dst, srcPort: v.srcPort, dstPort: v.dstPort, seq: v.seq, ack: v.ack, flags: v.flags });
  s.src6.set(v.src6);
  s.dst6.set(v.dst6);
  s.payloadLen = v.payloadLen;
  s.payloadByte = v.payloadByte;
  s.payloadSrc = v.pattern ? Buffer.from(v.pattern) : null;
  s.payloadFrom = v.from;
}

const frameOf = (buf: Buffer, len: number) => ({ tsMicros: 0, capLen: len, wireLen: len, linktype: 1, data: buf.subarray(0, len) });

describe('frame builders', () => {
  const buf = Buffer.alloc(MAX_FRAME_LEN);
  const s = new FrameSpec();

  for (const [name, build, proto, ipHeader] of [
    ['tcp4', tcp4Frame, 6, 20],
    ['udp4', udp4Frame, 17, 20],
    ['tcp6', tcp6Frame, 6, 40],
    ['udp6', udp6Frame, 17, 40],
  ] as const) {
    it(`${name}: checksums verify, lengths add up, payload bytes are the pattern`, () => {
      fc.assert(
        fc.property(specArb, (v) => {
          buf.fill(0xee); // stale bytes from a previous frame must not leak in
          fill(s, v);
          const len = build(buf, 0, s);
          const p = decodeFrame(frameOf(buf, len));
          expect(p.checksumsOk).toBe(true);
          expect(p.proto).toBe(proto);
          expect([p.srcPort, p.dstPort]).toEqual([v.srcPort, v.dstPort]);
          expect(p.payloadLen).toBe(v.payloadLen);
          expect(len).toBe(Math.max(60, 14 + ipHeader + (proto === 6 ? (v.flags & 2 ? 24 : 20) : 8) + v.payloadLen));
          const want = Buffer.alloc(v.payloadLen);
          for (let i = 0; i < v.payloadLen; i++) want[i] = v.pattern ? v.pattern[(v.from + i) % v.pattern.length]! : v.payloadByte;
          expect(Buffer.compare(p.payload, want)).toBe(0);
          if (proto === 6) expect(p.flags).toBe(v.flags);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('icmp echo and icmp error checksums verify; the error quotes IP header + 8 bytes', () => {
    fc.assert(
      fc.property(specArb, (v) => {
        fill(s, v);
        s.payloadLen = Math.min(v.payloadLen, 1400);
        s.icmpType = 8;
        s.icmpId = v.srcPort;
        const elen = icmpEcho4Frame(buf, 0, s);
        const echo = decodeFrame(frameOf(buf, elen));
        expect(echo.checksumsOk).toBe(true);
        expect([echo.icmpType, echo.srcPort]).toEqual([8, v.srcPort]);

        const probe = Buffer.alloc(MAX_FRAME_LEN);
        const plen = udp4Frame(probe, 0, s);
        const q = decodeFrame(frameOf(probe, plen));
        s.src = v.dst;
        s.dst = v.src;
        s.icmpType = 3;
        s.icmpCode = 3;
        const len = icmpError4Frame(buf, 0, s, probe, IP_OFFSET_IN_FRAME);
        const p = decodeFrame(frameOf(buf, len));
        expect(p.checksumsOk).toBe(true);
        expect([p.icmpType, p.icmpCode, p.quotedProto, p.quotedDstPort]).toEqual([3, 3, 17, v.dstPort]);
        expect([p.quotedSrc, p.quotedDst]).toEqual([q.src, q.dst]);
        expect(p.ipLen).toBe(20 + 8 + 20 + 8);
      }),
      { numRuns: 200 },
    );
  });
});

describe('PcapWriter', () => {
  it('writes records pcap-parser reads back, across several buffer flushes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-writer-'));
    try {
      const file = path.join(dir, 'w.pcap');
      const w = PcapWriter.create(file, 64 * 1024); // small buffer: forces many flushes
      const s = new FrameSpec();
      const rng = new Prng(7);
      const want: { ts: number; len: number }[] = [];
      let ts = 1_700_000_000_999_990; // crosses a second boundary early
      for (let i = 0; i < 500; i++) {
        s.src = rng.nextU32();
        s.dst = rng.nextU32();
        s.payloadLen = rng.int(0, 1460);
        const off = w.begin();
        const len = tcp4Frame(w.buf, off, s);
        w.commit(ts, len);
        want.push({ ts, len });
        ts += rng.int(1, 3_000_000);
      }
      w.close();
      expect(w.packets).toBe(500);
      expect(w.fileBytes).toBe(fs.statSync(file).size);
      const frames = await readWithPcapParser(file);
      expect(frames.map((f) => ({ ts: f.tsMicros, len: f.capLen }))).toEqual(want);
      expect(frames.every((f) => f.wireLen === f.capLen && f.linktype === 1)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Prng', () => {
  it('is deterministic per seed and stays in range', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const xs = Array.from({ length: 1000 }, () => a.nextU32());
    expect(Array.from({ length: 1000 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c.nextU32())).not.toEqual(xs);
    for (let i = 0; i < 10_000; i++) {
      const v = a.int(3, 9);
      expect(v >= 3 && v <= 9 && Number.isInteger(v)).toBe(true);
    }
  });
});
