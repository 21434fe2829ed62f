/**
 * The bench's "real" capture: real traffic (classic Ethernet pcaps, by default the four
 * of ../shared/captures/bench) replayed until it makes the packet count asked for.
 *
 *   node dist/gen/real-replayed.js OUT.pcap [--packets N] [FILE.pcap ...]
 *
 * The generated mix capture interleaves 1,500 sessions packet by packet, so two packets in
 * a row almost never share a flow (0.1 % of them); in these real captures 55-80 % of the
 * packets follow one of their own flow (a burst of segments, its ACKs). A flow builder's
 * speed depends on that, so the harness measures both.
 *
 * How: STREAMS streams run side by side, merged by time. Each plays the input files one
 * after the other, again and again; every pass ("copy") renumbers the hosts so that its
 * flows are new ones, and the gaps between packets are kept as captured but at most
 * MAX_GAP_MICROS (the inputs hold merges of captures years apart). The frames are
 * otherwise copied unchanged; checksums are not recomputed (no tool of the harness
 * checks them).
 *
 * Renumbering, copy c (c = 0 keeps the captured addresses): the third byte of an IPv4
 * unicast address (first byte 1-223, not 127) is XORed with c, so private addresses stay
 * in their private ranges and a /24 stays one /24; bytes 4 and 5 of an IPv6 global or
 * unique-local address (2000::/3, fc00::/7) are XORed with c. Broadcast, multicast,
 * loopback and link-local addresses stay. At most 65,536 copies.
 *
 * `--snaplen N` (the harness's "headers" capture: N = HEADERS_SNAPLEN) keeps only the
 * first N bytes of each frame, as a header-only trace (MAWI, CAIDA, `tcpdump -s 96`) does:
 * the same packets and flows, the wire lengths kept, a seventh of the bytes to read.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD, ETHERTYPE_VLAN } from '../decode/link.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, PcapWriter, SNAPLEN } from './pcap-writer.js';

/** Streams played at once: bursts stay together, and several copies' flows are live at once. */
export const STREAMS = 8;
/** Longest gap kept between two packets of a stream. */
export const MAX_GAP_MICROS = 1_000_000;
export const REAL_GENERATOR_VERSION = 1;
/** Bytes kept per frame in the harness's header-only capture (`tcpdump -s 96`; MAWI's traces keep 96 too). */
export const HEADERS_SNAPLEN = 96;

interface Input {
  name: string;
  data: Buffer;
  /** Per packet: offset of the frame in data, its length, its gap to the packet before (µs). */
  offsets: number[];
  lengths: number[];
  gaps: number[];
}

export interface RealCaptureResult {
  generator: 'tapaudit-real-replayed';
  version: number;
  packets: number;
  inputs: { name: string; sha256: string; packets: number }[];
  /** Bytes kept per frame (65,535: whole frames). */
  snaplen: number;
  /** Distinct (protocol, addresses, ports) of the packets written, either direction. */
  flows: number;
  bytes: number;
}

/** Reads a classic pcap with Ethernet frames; throws a one-line message for anything else. */
function readInput(file: string): Input {
  const data = fs.readFileSync(file);
  if (data.length < 24) throw new Error(`${file}: too short for a pcap file`);
  const magic = data.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`${file}: not a classic pcap file (pcapng is not supported here)`);
  const nanos = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const u32 = (o: number) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${file}: link type ${u32(20)}, only Ethernet (1) is supported`);
  const input: Input = { name: path.basename(file), data, offsets: [], lengths: [], gaps: [] };
  let prev = -1;
  for (let pos = 24; pos + 16 <= data.length;) {
    const len = u32(pos + 8);
    if (pos + 16 + len > data.length) break; // a record cut short ends the input
    if (len > SNAPLEN) {
      // Beyond the written file's snaplen (a TSO/GRO super-frame): left out.
      pos += 16 + len;
      continue;
    }
    const ts = u32(pos) * 1e6 + (nanos ? Math.floor(u32(pos + 4) / 1000) : u32(pos + 4));
    input.offsets.push(pos + 16);
    input.lengths.push(len);
    input.gaps.push(prev < 0 ? 0 : Math.min(Math.max(ts - prev, 0), MAX_GAP_MICROS));
    prev = ts;
    pos += 16 + len;
  }
  return input;
}

/** Offset of the IP header in an Ethernet frame (past VLAN tags) and its version; -1 if none. */
function ipHeader(b: Buffer, off: number, len: number): { at: number; version: number } | null {
  let p = off + 12;
  for (;;) {
    if (p + 2 > off + len) return null;
    const type = b.readUInt16BE(p);
    if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) { p += 4; continue; }
    if (type === ETHERTYPE_IPV4 && p + 2 + 20 <= off + len) return { at: p + 2, version: 4 };
    if (type === ETHERTYPE_IPV6 && p + 2 + 40 <= off + len) return { at: p + 2, version: 6 };
    return null;
  }
}

function renumber4(b: Buffer, a: number, c: number): void {
  const first = b[a]!;
  if (first >= 1 && first <= 223 && first !== 127) b[a + 2] = b[a + 2]! ^ (c & 0xff);
}

function renumber6(b: Buffer, a: number, c: number): void {
  const first = b[a]!;
  if ((first & 0xe0) === 0x20 || (first & 0xfe) === 0xfc) {
    b[a + 4] = b[a + 4]! ^ ((c >> 8) & 0xff);
    b[a + 5] = b[a + 5]! ^ (c & 0xff);
  }
}

/** Renumber the frame at b[off..off+len) for copy c; its flow key (for the count). */
function rewrite(b: Buffer, off: number, len: number, c: number): string | null {
  const ip = ipHeader(b, off, len);
  if (ip === null) return null;
  const h = ip.at;
  let proto: number;
  let src: number;
  let dst: number;
  let alen: number;
  let l4: number;
  if (ip.version === 4) {
    if (c !== 0) { renumber4(b, h + 12, c); renumber4(b, h + 16, c); }
    proto = b[h + 9]!;
    src = h + 12; dst = h + 16; alen = 4;
    l4 = h + (b[h]! & 0x0f) * 4;
    if ((b.readUInt16BE(h + 6) & 0x1fff) !== 0) l4 = -1; // a later fragment: no ports
  } else {
    if (c !== 0) { renumber6(b, h + 8, c); renumber6(b, h + 24, c); }
    proto = b[h + 6]!;
    src = h + 8; dst = h + 24; alen = 16;
    l4 = h + 40;
  }
  const ports = (proto === 6 || proto === 17) && l4 >= 0 && l4 + 4 <= off + len;
  const a = b.toString('hex', src, src + alen) + (ports ? `:${b.readUInt16BE(l4)}` : '');
  const z = b.toString('hex', dst, dst + alen) + (ports ? `:${b.readUInt16BE(l4 + 2)}` : '');
  return a < z ? `${proto} ${a} ${z}` : `${proto} ${z} ${a}`;
}

/** Writes `packets` packets to `out` from `files`, each cut to `snaplen` bytes; what was written. */
export function writeRealReplayed(out: string, files: string[], packets: number, snaplen = SNAPLEN): RealCaptureResult {
  if (files.length === 0) throw new Error('no input capture given');
  const inputs = files.map(readInput);
  const perCopy = inputs.reduce((n, i) => n + i.offsets.length, 0);
  if (perCopy === 0) throw new Error('the input captures hold no packets');
  if (Math.ceil(packets / perCopy) > 65_536) throw new Error(`${packets} packets need more than 65,536 copies of ${perCopy}; give more input`);
  const w = PcapWriter.create(out, undefined, snaplen);
  const flows = new Set<string>();
  // Per stream: its copy number, input file, packet index, and clock.
  const copy = Array.from({ length: STREAMS }, (_, s) => s);
  const file = new Array<number>(STREAMS).fill(0);
  const index = new Array<number>(STREAMS).fill(0);
  // Streams start 1 ms apart, so their first packets do not tie.
  const clock = Array.from({ length: STREAMS }, (_, s) => 1_700_000_000_000_000 + s * 1000);
  for (let n = 0; n < packets; n++) {
    let s = 0;
    for (let t = 1; t < STREAMS; t++) if (clock[t]! < clock[s]!) s = t;
    const input = inputs[file[s]!]!;
    const i = index[s]!;
    const len = input.lengths[i]!;
    const at = w.begin(len);
    input.data.copy(w.buf, at, input.offsets[i]!, input.offsets[i]! + len);
    // Renumbered whole, then cut: the bytes past `snaplen` are overwritten by the next record.
    const key = rewrite(w.buf, at, len, copy[s]!);
    if (key !== null) flows.add(key);
    w.commit(clock[s]!, Math.min(len, snaplen), len);
    // Next packet of this stream: the next in its file, the next file, or a new copy.
    if (i + 1 < input.offsets.length) index[s] = i + 1;
    else {
      index[s] = 0;
      file[s] = file[s]! + 1;
      if (file[s] === inputs.length) { file[s] = 0; copy[s] = copy[s]! + STREAMS; }
    }
    const next = inputs[file[s]!]!;
    clock[s] = clock[s]! + (index[s] === 0 ? 1000 : next.gaps[index[s]!]!);
  }
  w.close();
  return {
    generator: 'tapaudit-real-replayed',
    version: REAL_GENERATOR_VERSION,
    packets,
    inputs: inputs.map((i) => ({ name: i.name, sha256: crypto.createHash('sha256').update(i.data).digest('hex'), packets: i.offsets.length })),
    snaplen,
    flows: flows.size,
    bytes: fs.statSync(out).size,
  };
}

/**
 * OUT unless an up-to-date copy is there (same inputs, count, snaplen and generator
 * version, per its sidecar OUT.json); null when no input exists (the harness then skips it).
 */
export function ensureRealCapture(out: string, files: string[], packets: number, snaplen = SNAPLEN): (RealCaptureResult & { file: string; reused: boolean }) | null {
  const present = files.filter((f) => fs.existsSync(f));
  if (present.length === 0) return null;
  const side = `${out}.json`;
  try {
    const old = JSON.parse(fs.readFileSync(side, 'utf8')) as RealCaptureResult;
    const sums = present.map((f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex'));
    if (old.version === REAL_GENERATOR_VERSION && old.packets === packets && (old.snaplen ?? SNAPLEN) === snaplen &&
      old.inputs.map((i) => i.sha256).join() === sums.join() && fs.statSync(out).size === old.bytes) return { ...old, file: out, reused: true };
  } catch {
    // no or unreadable sidecar: write it again
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.rmSync(side, { force: true });
  const r = writeRealReplayed(out, present, packets, snaplen);
  fs.writeFileSync(side, JSON.stringify(r, null, 2) + '\n');
  return { ...r, file: out, reused: false };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(name);
    if (at < 0) return fallback;
    const v = Number(args[at + 1]);
    args.splice(at, 2);
    return v;
  };
  const packets = option('--packets', 2_000_000);
  const snaplen = option('--snaplen', SNAPLEN);
  const [out, ...files] = args;
  if (!out || !Number.isInteger(packets) || packets < 1 || !Number.isInteger(snaplen) || snaplen < 14 || snaplen > SNAPLEN) {
    console.error('usage: node dist/gen/real-replayed.js OUT.pcap [--packets N] [--snaplen 14-65535] FILE.pcap...');
    process.exit(2);
  }
  try {
    const r = writeRealReplayed(out, files, packets, snaplen);
    console.log(`${out}: ${r.packets} packets, ${r.flows} flows, ${(r.bytes / 1e6).toFixed(1)} MB from ${r.inputs.map((i) => i.name).join(', ')}`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
