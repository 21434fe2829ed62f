/**
 * Test-side reading of the generated captures: pcap-parser for the records (an
 * independent reader) and a tiny hand-written header walk plus checksum check, kept apart
 * from src/ so the tests do not trust the code they test.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';

interface PcapParserPacket {
  header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number };
  data: Buffer;
}
interface PcapParserModule {
  parse(input: string): EventEmitter;
}
// pcap-parser ships no types; load it through require with the little we use typed here.
const pcapParser = createRequire(import.meta.url)('pcap-parser') as PcapParserModule;

export interface Frame {
  tsMicros: number;
  capLen: number;
  wireLen: number;
  data: Buffer;
  linktype: number;
}

export function readWithPcapParser(file: string): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const frames: Frame[] = [];
    let linktype = -1;
    const p = pcapParser.parse(file);
    p.on('globalHeader', (h: { linkLayerType: number }) => (linktype = h.linkLayerType));
    p.on('packet', (pkt: PcapParserPacket) =>
      frames.push({
        tsMicros: pkt.header.timestampSeconds * 1e6 + pkt.header.timestampMicroseconds,
        capLen: pkt.header.capturedLength,
        wireLen: pkt.header.originalLength,
        data: pkt.data,
        linktype,
      }),
    );
    p.on('end', () => resolve(frames));
    p.on('error', reject);
  });
}

/** RFC 1071 sum of 16-bit words, unfolded. */
function sum16(b: Buffer, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  return s;
}
function folded(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

export interface Pkt {
  tsMicros: number;
  frameLen: number;
  ipVersion: number;
  /** IPv4: dotted text; IPv6: the last word in hex, enough for the tests. */
  src: string;
  dst: string;
  proto: number;
  ipLen: number;
  srcPort: number;
  dstPort: number;
  flags: number;
  payloadLen: number;
  icmpType: number;
  icmpCode: number;
  /** ICMP error: quoted src/dst/proto/dst port. */
  quotedSrc: string;
  quotedDst: string;
  quotedProto: number;
  quotedDstPort: number;
  /** Every checksum present (IPv4 header, TCP/UDP with pseudo-header, ICMP) verifies. */
  checksumsOk: boolean;
  payload: Buffer;
}

const v4 = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** Decodes the Ethernet/IPv4|IPv6/TCP|UDP|ICMP frames the generators write. */
export function decodeFrame(f: Frame): Pkt {
  const d = f.data;
  const et = d.readUInt16BE(12);
  const p: Pkt = {
    tsMicros: f.tsMicros, frameLen: d.length, ipVersion: 0, src: '', dst: '', proto: -1, ipLen: 0,
    srcPort: 0, dstPort: 0, flags: 0, payloadLen: 0, icmpType: -1, icmpCode: -1,
    quotedSrc: '', quotedDst: '', quotedProto: -1, quotedDstPort: -1, checksumsOk: true, payload: Buffer.alloc(0),
  };
  let l4: number;
  let l4Len: number;
  let pseudo: number;
  if (et === 0x0800) {
    const ip = 14;
    const ihl = (d[ip]! & 0x0f) * 4;
    p.ipVersion = 4;
    p.ipLen = d.readUInt16BE(ip + 2);
    p.proto = d[ip + 9]!;
    p.src = v4(d, ip + 12);
    p.dst = v4(d, ip + 16);
    if (folded(sum16(d, ip, ip + ihl)) !== 0xffff) p.checksumsOk = false;
    l4 = ip + ihl;
    l4Len = p.ipLen - ihl;
    pseudo = sum16(d, ip + 12, ip + 20) + p.proto + l4Len;
  } else if (et === 0x86dd) {
    const ip = 14;
    p.ipVersion = 6;
    p.ipLen = 40 + d.readUInt16BE(ip + 4);
    p.proto = d[ip + 6]!;
    p.src = d.readUInt32BE(ip + 20).toString(16);
    p.dst = d.readUInt32BE(ip + 36).toString(16);
    l4 = ip + 40;
    l4Len = p.ipLen - 40;
    pseudo = sum16(d, ip + 8, ip + 40) + p.proto + l4Len;
  } else {
    throw new Error(`unexpected ethertype ${et.toString(16)}`);
  }
  const end = l4 + l4Len;
  if (p.proto === 6) {
    p.srcPort = d.readUInt16BE(l4);
    p.dstPort = d.readUInt16BE(l4 + 2);
    p.flags = d[l4 + 13]!;
    const hl = (d[l4 + 12]! >> 4) * 4;
    p.payloadLen = l4Len - hl;
    p.payload = d.subarray(l4 + hl, end);
    if (folded(pseudo + sum16(d, l4, end)) !== 0xffff) p.checksumsOk = false;
  } else if (p.proto === 17) {
    p.srcPort = d.readUInt16BE(l4);
    p.dstPort = d.readUInt16BE(l4 + 2);
    p.payloadLen = l4Len - 8;
    p.payload = d.subarray(l4 + 8, end);
    if (folded(pseudo + sum16(d, l4, end)) !== 0xffff) p.checksumsOk = false;
  } else if (p.proto === 1) {
    p.icmpType = d[l4]!;
    p.icmpCode = d[l4 + 1]!;
    p.payloadLen = l4Len - 8;
    if (folded(sum16(d, l4, end)) !== 0xffff) p.checksumsOk = false;
    if (p.icmpType === 3 || p.icmpType === 11) {
      const q = l4 + 8;
      const qihl = (d[q]! & 0x0f) * 4;
      p.quotedProto = d[q + 9]!;
      p.quotedSrc = v4(d, q + 12);
      p.quotedDst = v4(d, q + 16);
      p.quotedDstPort = d.readUInt16BE(q + qihl + 2);
    } else {
      p.srcPort = p.dstPort = d.readUInt16BE(l4 + 4);
    }
  }
  return p;
}
