/**
 * A tiny classic-pcap record walker for the decoder tests (allocation is fine here).
 * pcapng files return null: tests that need them use the real reader when it exists.
 */
import fs from 'node:fs';

export interface PcapRecord {
  offset: number;
  capLen: number;
  wireLen: number;
}

export interface PcapFile {
  buf: Buffer;
  linktype: number;
  records: PcapRecord[];
}

/** Magic numbers as read little-endian: µs and ns, either byte order. */
const MAGIC_LE = new Set([0xa1b2c3d4, 0xa1b23c4d]);
const MAGIC_BE = new Set([0xd4c3b2a1, 0x4d3cb2a1]);

export function readClassicPcap(file: string): PcapFile | null {
  const buf = fs.readFileSync(file);
  if (buf.length < 24) return null;
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (MAGIC_LE.has(magic)) le = true;
  else if (MAGIC_BE.has(magic)) le = false;
  else return null;
  const r32 = (i: number): number => (le ? buf.readUInt32LE(i) : buf.readUInt32BE(i));
  // Low 16 bits are the link type; the upper bits carry FCS length/reserved (pcap spec).
  const linktype = r32(20) & 0xffff;
  const records: PcapRecord[] = [];
  let pos = 24;
  while (pos + 16 <= buf.length) {
    const capLen = r32(pos + 8);
    const wireLen = r32(pos + 12);
    if (pos + 16 + capLen > buf.length) break; // truncated last record or absurd length
    records.push({ offset: pos + 16, capLen, wireLen });
    pos += 16 + capLen;
  }
  return { buf, linktype, records };
}
