/**
 * The bench's "real" capture generator on a small input of our own: every copy of the
 * input is there, in time order, with its unicast hosts renumbered (broadcast, multicast
 * and link-local left alone), gaps capped, and the sidecar reused only while it matches.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameSpec, PcapWriter, ipv4, tcp4Frame, tcp6Frame, udp4Frame } from '../../src/gen/pcap-writer.js';
import { MAX_GAP_MICROS, STREAMS, ensureRealCapture, writeRealReplayed } from '../../src/gen/real-replayed.js';
import { readWithPcapParser, type Frame } from './pcap-bytes.js';

let dir: string;
let input: string;
const PER_COPY = 5;

/** Five frames: a TCP exchange, a broadcast after a 5 s gap, IPv6 global to link-local, and ARP. */
function writeInput(file: string): void {
  const w = PcapWriter.create(file);
  const s = new FrameSpec();
  s.src = ipv4('10.1.2.3'); s.dst = ipv4('192.0.2.9'); s.srcPort = 40000; s.dstPort = 80;
  let off = w.begin(); w.commit(1_000_000, tcp4Frame(w.buf, off, s));
  s.src = ipv4('192.0.2.9'); s.dst = ipv4('10.1.2.3'); s.srcPort = 80; s.dstPort = 40000;
  off = w.begin(); w.commit(1_000_500, tcp4Frame(w.buf, off, s));
  s.src = ipv4('10.1.2.3'); s.dst = ipv4('255.255.255.255'); s.srcPort = 68; s.dstPort = 67;
  off = w.begin(); w.commit(6_000_500, udp4Frame(w.buf, off, s));
  s.src6.set([0x20010db8, 0, 0, 1]); s.dst6.set([0xfe800000, 0, 0, 2]); s.srcPort = 40001; s.dstPort = 443;
  off = w.begin(); w.commit(6_000_600, tcp6Frame(w.buf, off, s));
  const arp = Buffer.alloc(60);
  arp.fill(0xff, 0, 6);
  arp.writeUInt16BE(0x0806, 12);
  w.writeFrame(6_000_700, arp);
  w.close();
}

const v4 = (f: Frame, at: number): string => [...f.data.subarray(at, at + 4)].join('.');
const v6word = (f: Frame, at: number): string => f.data.toString('hex', at, at + 8);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-real-'));
  input = path.join(dir, 'in.pcap');
  writeInput(input);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('real-replayed bench capture', () => {
  it('every copy, renumbered per copy, in time order with gaps capped', async () => {
    const copies = 2 * STREAMS + 3;
    const out = path.join(dir, 'out.pcap');
    const r = writeRealReplayed(out, [input], copies * PER_COPY);
    const frames = await readWithPcapParser(out);
    expect(frames.length).toBe(copies * PER_COPY);
    expect(r.bytes).toBe(fs.statSync(out).size);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.tsMicros).toBeGreaterThanOrEqual(frames[i - 1]!.tsMicros);

    // Streams play copies side by side (stream s: copies s, s + STREAMS, ...), so the last
    // ones are cut short. Copy c's TCP frames carry 10.1.(2 ^ c).3 and 192.0.(2 ^ c).9.
    const ip4 = frames.filter((f) => f.data.readUInt16BE(12) === 0x0800 && f.data[23] === 6);
    const copiesSeen = new Set<number>();
    for (const f of ip4) {
      const client = f.data.readUInt16BE(34) === 40000 ? 26 : 30;
      const c = f.data[client + 2]! ^ 2;
      copiesSeen.add(c);
      expect([v4(f, client), v4(f, client === 26 ? 30 : 26)]).toEqual([`10.1.${2 ^ c}.3`, `192.0.${2 ^ c}.9`]);
    }
    expect([...copiesSeen].sort((a, b) => a - b)).toEqual(Array.from({ length: copiesSeen.size }, (_, c) => c));
    expect(copiesSeen.size).toBeGreaterThanOrEqual(copies);
    // Broadcast, link-local and ARP are left as captured; IPv6 global addresses are renumbered.
    const bcast = frames.filter((f) => f.data.readUInt16BE(12) === 0x0800 && f.data[23] === 17);
    expect(new Set(bcast.map((f) => v4(f, 30)))).toEqual(new Set(['255.255.255.255']));
    const six = frames.filter((f) => f.data.readUInt16BE(12) === 0x86dd);
    expect(new Set(six.map((f) => v6word(f, 38))).size).toBe(1); // fe80::2 in every copy
    expect(new Set(six.map((f) => v6word(f, 22))).size).toBe(six.length); // 2001:db8:: renumbered per copy
    const arp = frames.filter((f) => f.data.readUInt16BE(12) === 0x0806);
    expect(arp.length).toBe(six.length);
    // Flows: per copy one TCP (both directions), one UDP broadcast, one TCP over IPv6.
    expect(r.flows).toBe(copiesSeen.size + bcast.length + six.length);
    // The 5 s gap inside a copy is kept as at most MAX_GAP_MICROS: a stream plays a copy in
    // just over 1 s, so all copies fit in (copies / STREAMS + 1) * ~1.002 s.
    const span = frames.at(-1)!.tsMicros - frames[0]!.tsMicros;
    expect(span).toBeLessThan((Math.ceil(copies / STREAMS) + 1) * (MAX_GAP_MICROS + 10_000));
    expect(span).toBeGreaterThan(Math.floor(copies / STREAMS) * MAX_GAP_MICROS);
  });

  it('the sidecar makes an up-to-date file reused; another count or input writes it again', () => {
    const out = path.join(dir, 'cached.pcap');
    const a = ensureRealCapture(out, [input], 40)!;
    expect(a.reused).toBe(false);
    expect(ensureRealCapture(out, [input], 40)!.reused).toBe(true);
    expect(ensureRealCapture(out, [input], 45)!.reused).toBe(false);
    expect(ensureRealCapture(out, [path.join(dir, 'missing.pcap')], 45)).toBeNull();
  });

  it('a record longer than 65,535 bytes (a TSO super-frame) is left out, the rest of the file kept', async () => {
    const file = path.join(dir, 'big.pcap');
    const w = PcapWriter.create(file);
    const s = new FrameSpec();
    s.src = ipv4('10.9.9.1'); s.dst = ipv4('192.0.2.1'); s.srcPort = 1000; s.dstPort = 80;
    let off = w.begin(); w.commit(1_000_000, tcp4Frame(w.buf, off, s));
    const big = Buffer.alloc(70_000);
    big.writeUInt16BE(0x0800, 12);
    w.writeFrame(1_000_100, big);
    s.srcPort = 1001;
    off = w.begin(); w.commit(1_000_200, tcp4Frame(w.buf, off, s));
    w.close();
    const out = path.join(dir, 'big-out.pcap');
    writeRealReplayed(out, [file], 4);
    const frames = await readWithPcapParser(out);
    // Stream 0 plays copy 0 (the big frame skipped), then copy 8 from 1 ms later; stream
    // 1 starts copy 1 at 1 ms. The third address byte is 9 XOR the copy.
    expect(frames.map((f) => [f.capLen < 70_000, f.data.readUInt16BE(34), f.data[28]])).toEqual([[true, 1000, 9], [true, 1001, 9], [true, 1000, 8], [true, 1000, 1]]);
  });

  it('a file that is not a classic Ethernet pcap is a one-line error', () => {
    const bad = path.join(dir, 'bad.pcap');
    fs.writeFileSync(bad, Buffer.alloc(64, 7));
    expect(() => writeRealReplayed(path.join(dir, 'x.pcap'), [bad], 10)).toThrow(/not a classic pcap/);
  });
});

describe('real-replayed, header-only (the harness\'s "headers" capture)', () => {
  it('the same packets as the whole capture, each cut to the snaplen, wire lengths kept', async () => {
    const whole = path.join(dir, 'whole.pcap');
    const cut = path.join(dir, 'cut.pcap');
    const rw = writeRealReplayed(whole, [input], 3 * PER_COPY);
    const rc = writeRealReplayed(cut, [input], 3 * PER_COPY, 40);
    expect(rc.flows).toBe(rw.flows);
    expect(rc.snaplen).toBe(40);
    expect(fs.readFileSync(cut).readUInt32LE(16)).toBe(40); // the global header's snaplen
    const a = await readWithPcapParser(whole);
    const b = await readWithPcapParser(cut);
    expect(b.length).toBe(a.length);
    let shortened = 0;
    for (let i = 0; i < a.length; i++) {
      expect(b[i]!.tsMicros).toBe(a[i]!.tsMicros);
      expect(b[i]!.wireLen).toBe(a[i]!.wireLen);
      expect(b[i]!.capLen).toBe(Math.min(a[i]!.capLen, 40));
      expect(b[i]!.data.equals(a[i]!.data.subarray(0, b[i]!.capLen))).toBe(true);
      if (b[i]!.capLen < a[i]!.capLen) shortened++;
    }
    expect(shortened).toBeGreaterThan(0);
  });

  it('another snaplen does not reuse the sidecar', () => {
    const out = path.join(dir, 'cached-cut.pcap');
    expect(ensureRealCapture(out, [input], 40, 96)!.reused).toBe(false);
    expect(ensureRealCapture(out, [input], 40, 96)!.reused).toBe(true);
    expect(ensureRealCapture(out, [input], 40)!.reused).toBe(false);
  });
});
