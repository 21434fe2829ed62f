/**
 * captures/demo.pcap: regenerated twice it gives the same bytes as the committed file;
 * every frame reads with pcap-parser, checksums verify, and the scenes captures/README.md
 * promises are in the bytes (counted here by decoding the frames, not by trusting the
 * generator's own numbers).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDemo } from '../../src/gen/demo.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { decodeFrame, readWithPcapParser, type Pkt } from './pcap-bytes.js';

const COMMITTED = path.join(REPO_ROOT, 'captures', 'demo.pcap');
const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

let tmp: string;
let pkts: Pkt[] = [];
let written = 0;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-demo-'));
  written = writeDemo(path.join(tmp, 'a.pcap'));
  const frames = await readWithPcapParser(path.join(tmp, 'a.pcap'));
  expect(new Set(frames.map((f) => f.linktype))).toEqual(new Set([1]));
  pkts = frames.map(decodeFrame);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const isTestNet = (ip: string): boolean => /^(192\.0\.2|198\.51\.100|203\.0\.113)\./.test(ip);
const isLocal = (ip: string): boolean => ip.startsWith('10.1.');
const SYN = 0x02, RST = 0x04, ACK = 0x10, FIN = 0x01;

describe('demo.pcap generation', () => {
  it('is byte-for-byte deterministic and equal to the committed capture', () => {
    writeDemo(path.join(tmp, 'b.pcap'));
    const a = sha256(path.join(tmp, 'a.pcap'));
    expect(sha256(path.join(tmp, 'b.pcap'))).toBe(a);
    // If this fails after a generator change: `npm run gen:demo` and commit captures/demo.pcap.
    expect(sha256(COMMITTED)).toBe(a);
  });

  it('stays small, spans about ten minutes, in time order', () => {
    expect(fs.statSync(COMMITTED).size).toBeLessThan(1_000_000);
    expect(pkts.length).toBe(written);
    const span = (pkts.at(-1)!.tsMicros - pkts[0]!.tsMicros) / 1e6;
    expect(span).toBeGreaterThan(540);
    expect(span).toBeLessThan(660);
    for (let i = 1; i < pkts.length; i++) expect(pkts[i]!.tsMicros).toBeGreaterThanOrEqual(pkts[i - 1]!.tsMicros);
  });

  it('has valid checksums, sane lengths and only local or TEST-NET IPv4 addresses', () => {
    for (const p of pkts) {
      expect(p.checksumsOk).toBe(true);
      expect(p.frameLen).toBeGreaterThanOrEqual(60);
      expect(p.frameLen).toBeGreaterThanOrEqual(14 + p.ipLen);
      if (p.ipVersion === 4) {
        for (const ip of [p.src, p.dst]) expect(isLocal(ip) || isTestNet(ip), ip).toBe(true);
      }
    }
  });

  it('holds the vertical scan 203.0.113.50 -> 10.1.0.10, ports 1..200 in about 20 s', () => {
    const syns = pkts.filter((p) => p.src === '203.0.113.50' && p.dst === '10.1.0.10' && p.flags === SYN);
    expect(new Set(syns.map((p) => p.dstPort))).toEqual(new Set(Array.from({ length: 200 }, (_, i) => i + 1)));
    expect((syns.at(-1)!.tsMicros - syns[0]!.tsMicros) / 1e6).toBeLessThan(25);
    const fromTarget = pkts.filter((p) => p.src === '10.1.0.10' && p.dst === '203.0.113.50');
    expect(fromTarget.filter((p) => p.flags === (RST | ACK)).length).toBe(198);
    const synAcks = fromTarget.filter((p) => p.flags === (SYN | ACK));
    expect(synAcks.map((p) => p.srcPort).sort((a, b) => a - b)).toEqual([22, 80]);
    const resets = pkts.filter((p) => p.src === '203.0.113.50' && p.flags === RST);
    expect(resets.map((p) => p.dstPort).sort((a, b) => a - b)).toEqual([22, 80]);
  });

  it('holds the address scan 198.51.100.23 -> 10.1.0.1..120 tcp/445 from one source port, unanswered', () => {
    const syns = pkts.filter((p) => p.src === '198.51.100.23' && p.flags === SYN && p.dstPort === 445);
    expect(syns.length).toBe(120);
    expect(new Set(syns.map((p) => p.dst)).size).toBe(120);
    for (const p of syns) expect(Number(p.dst.split('.')[3])).toBeGreaterThanOrEqual(1);
    expect(syns.every((p) => p.dst.startsWith('10.1.0.') && Number(p.dst.split('.')[3]) <= 120)).toBe(true);
    expect(new Set(syns.map((p) => p.srcPort)).size).toBe(1);
    expect(pkts.filter((p) => p.dst === '198.51.100.23').length).toBe(0);
  });

  it('holds the backdoor session 203.0.113.66 -> 10.1.0.31:31337 with KBs both ways and FINs', () => {
    const toServer = pkts.filter((p) => p.src === '203.0.113.66' && p.dst === '10.1.0.31' && p.dstPort === 31337);
    const toClient = pkts.filter((p) => p.src === '10.1.0.31' && p.dst === '203.0.113.66' && p.srcPort === 31337);
    expect(toServer[0]!.flags).toBe(SYN);
    expect(toClient[0]!.flags).toBe(SYN | ACK);
    const bytes = (ps: Pkt[]): number => ps.reduce((n, p) => n + p.payloadLen, 0);
    expect(bytes(toServer)).toBeGreaterThan(2000);
    expect(bytes(toClient)).toBeGreaterThan(2000);
    expect(toServer.some((p) => p.flags & FIN)).toBe(true);
    expect(toClient.some((p) => p.flags & FIN)).toBe(true);
    expect(Buffer.concat(toServer.map((p) => p.payload)).toString('latin1')).toContain('cat /etc/passwd');
  });

  it('holds 40 UDP probes 10.1.0.77 -> 10.1.0.20, each answered by a port unreachable quoting it', () => {
    const probes = pkts.filter((p) => p.proto === 17 && p.src === '10.1.0.77' && p.dst === '10.1.0.20');
    expect(new Set(probes.map((p) => p.dstPort)).size).toBe(40);
    const unreach = pkts.filter((p) => p.proto === 1 && p.icmpType === 3);
    expect(unreach.length).toBe(40);
    for (const u of unreach) {
      expect([u.src, u.dst, u.icmpCode]).toEqual(['10.1.0.20', '10.1.0.77', 3]);
      expect([u.quotedSrc, u.quotedDst, u.quotedProto]).toEqual(['10.1.0.77', '10.1.0.20', 17]);
    }
    expect(new Set(unreach.map((u) => u.quotedDstPort))).toEqual(new Set(probes.map((p) => p.dstPort)));
  });

  it('holds normal traffic: 30-60 complete web sessions, DNS, SSH, pings, a little IPv6', () => {
    const webSyns = pkts.filter((p) => p.flags === SYN && (p.dstPort === 80 || p.dstPort === 443) && isLocal(p.src));
    expect(webSyns.length).toBeGreaterThanOrEqual(30);
    expect(webSyns.length).toBeLessThanOrEqual(60);
    for (const s of webSyns) {
      const same = (p: Pkt): boolean =>
        (p.src === s.src && p.srcPort === s.srcPort && p.dst === s.dst && p.dstPort === s.dstPort) ||
        (p.src === s.dst && p.srcPort === s.dstPort && p.dst === s.src && p.dstPort === s.srcPort);
      const conv = pkts.filter((p) => p.proto === 6 && same(p));
      expect(conv.filter((p) => p.flags & FIN).length).toBe(2);
      expect(conv.some((p) => p.src === s.dst && p.payloadLen > 0)).toBe(true);
    }
    const dns = pkts.filter((p) => p.proto === 17 && (p.dstPort === 53 || p.srcPort === 53));
    expect(dns.filter((p) => p.dst === '10.1.0.53').length).toBe(dns.filter((p) => p.src === '10.1.0.53').length);
    expect(dns.length).toBeGreaterThanOrEqual(60);
    expect(pkts.filter((p) => p.proto === 6 && p.dstPort === 22 && p.src === '10.1.1.15').length).toBeGreaterThan(50);
    const echoes = pkts.filter((p) => p.icmpType === 8);
    const replies = pkts.filter((p) => p.icmpType === 0);
    expect(echoes.length).toBeGreaterThan(0);
    expect(replies.length).toBe(echoes.length);
    for (const e of echoes) expect(e.ipLen).not.toBe(92); // not Nachi-sized
    expect(pkts.filter((p) => p.ipVersion === 6).length).toBeGreaterThan(5);
  });
});
