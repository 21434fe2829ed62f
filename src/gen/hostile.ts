/**
 * Hostile-load captures (issue 7): `node dist/gen/hostile.js DIR [--packets N]` writes
 *
 * - DIR/synflood.pcap: a SYN flood from random spoofed sources to one target,
 *   198.51.100.10:80 (TEST-NET-2). Each packet has a fresh random source address and port,
 *   so N packets carry about N distinct sources (1,200,000 by default: the birthday bound
 *   gives ~170 repeats among 2^32 addresses). No replies, as with a real forged-source
 *   flood (the StopDDoS sample in ../shared: 37,841 SYNs, 37,623 sources, no replies).
 * - DIR/udpflows.pcap: N one-packet UDP flows (1,000,000 by default): source
 *   10.0.0.0 + i (distinct for i < 2^24), random source port, random destination and
 *   port. Every packet is a new flow and none is ever answered: the flow table fills
 *   and stays full.
 *
 * Both at a steady packet rate (`PPS`) from a fixed start time, seeded: the same bytes on
 * every run. Per packet the loop draws from the PRNG and builds the frame straight into
 * the writer's buffer (no object per packet), ~1 s per million packets here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TCP_SYN as SYN } from '../decode/packet.js';
import { FrameSpec, PcapWriter, ipv4, tcp4Frame, udp4Frame } from './pcap-writer.js';
import { Prng } from './prng.js';

export const SYNFLOOD_PACKETS = 1_200_000;
export const UDPFLOWS_PACKETS = 1_000_000;
/** 50,000 packets/s: the whole flood falls in well under a minute of packet time. */
const PPS = 50_000;
/** 2024-03-05T10:00:00Z, fixed so the bytes never change. */
const START_MICROS = 1_709_632_800 * 1e6;
export const FLOOD_TARGET = '198.51.100.10';
export const FLOOD_PORT = 80;

/** A random unicast IPv4 address outside 0/8, 10/8, 127/8 and multicast/reserved (224/3). */
function randomPublic(rng: Prng): number {
  for (;;) {
    const a = rng.nextU32();
    const top = a >>> 24;
    if (top !== 0 && top !== 10 && top !== 127 && top < 224) return a;
  }
}

export function writeSynFlood(file: string, packets = SYNFLOOD_PACKETS, seed = 7): number {
  const w = PcapWriter.create(file);
  const rng = new Prng(seed);
  const s = new FrameSpec();
  s.dst = ipv4(FLOOD_TARGET);
  s.dstPort = FLOOD_PORT;
  s.flags = SYN;
  s.ttl = 240;
  for (let i = 0; i < packets; i++) {
    s.src = randomPublic(rng);
    s.srcPort = 1024 + (rng.nextU32() % 64512);
    s.seq = rng.nextU32();
    s.ipId = i & 0xffff;
    const off = w.begin();
    w.commit(START_MICROS + Math.floor((i * 1e6) / PPS), tcp4Frame(w.buf, off, s));
  }
  w.close();
  return w.packets;
}

export function writeUdpFlows(file: string, packets = UDPFLOWS_PACKETS, seed = 11): number {
  if (packets > 1 << 24) throw new RangeError('udpflows: at most 2^24 distinct sources in 10.0.0.0/8');
  const w = PcapWriter.create(file);
  const rng = new Prng(seed);
  const s = new FrameSpec();
  s.payloadLen = 32;
  s.payloadByte = 0x41;
  const base = ipv4('10.0.0.0');
  for (let i = 0; i < packets; i++) {
    s.src = (base + i) >>> 0;
    s.srcPort = 1024 + (rng.nextU32() % 64512);
    s.dst = randomPublic(rng);
    s.dstPort = 1 + (rng.nextU32() % 65535);
    s.ipId = i & 0xffff;
    const off = w.begin();
    w.commit(START_MICROS + Math.floor((i * 1e6) / PPS), udp4Frame(w.buf, off, s));
  }
  w.close();
  return w.packets;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dir = args.find((a) => !a.startsWith('--'));
  const i = args.indexOf('--packets');
  const n = i >= 0 ? Number(args[i + 1]) : 0;
  if (!dir || (i >= 0 && !(Number.isInteger(n) && n > 0))) {
    process.stderr.write('usage: node dist/gen/hostile.js DIR [--packets N]\n');
    process.exit(2);
  }
  fs.mkdirSync(dir, { recursive: true });
  const syn = writeSynFlood(path.join(dir, 'synflood.pcap'), n || SYNFLOOD_PACKETS);
  const udp = writeUdpFlows(path.join(dir, 'udpflows.pcap'), n || UDPFLOWS_PACKETS);
  process.stdout.write(`${dir}/synflood.pcap: ${syn} packets\n${dir}/udpflows.pcap: ${udp} packets\n`);
}
