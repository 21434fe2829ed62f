/**
 * The floor for any replay: `node dist/bench/bare-read.js FILE` reads a classic pcap with
 * fs.readSync in 8 MB chunks and walks the record headers, counting packets and bytes,
 * and nothing else. Printed as one JSON line for the bench harness.
 *
 * 8 MB chunks: STYLE.md measured ~0.8 s for 1.6 GB from the page cache this way; fewer,
 * larger reads keep syscall cost out of the figure. A record that straddles two chunks is
 * carried over by copying the tail to the front of the buffer (at most one record).
 */
import fs from 'node:fs';

const CHUNK = 8 * 1024 * 1024;
const MAX_RECORD = 16 + 262_144; // libpcap's largest snaplen (MAXIMUM_SNAPLEN)

export interface BareReadResult {
  packets: number;
  bytes: number;
}

export function bareRead(file: string): BareReadResult {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(CHUNK + MAX_RECORD);
  try {
    let have = fs.readSync(fd, buf, 0, CHUNK, null);
    if (have < 24) throw new Error(`${file}: shorter than a pcap header`);
    const magic = buf.readUInt32LE(0);
    let le: boolean;
    if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
    else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
    else throw new Error(`${file}: not a classic pcap (magic 0x${magic.toString(16)})`);
    let pos = 24;
    let packets = 0;
    let bytes = 0;
    for (;;) {
      while (pos + 16 <= have) {
        const incl = le ? buf.readUInt32LE(pos + 8) : buf.readUInt32BE(pos + 8);
        if (pos + 16 + incl > have) break;
        packets++;
        bytes += incl;
        pos += 16 + incl;
      }
      const tail = have - pos;
      buf.copy(buf, 0, pos, have);
      const n = fs.readSync(fd, buf, tail, CHUNK, null);
      if (n === 0) break;
      have = tail + n;
      pos = 0;
    }
    return { packets, bytes };
  } finally {
    fs.closeSync(fd);
  }
}

if (process.argv[1]?.endsWith('bare-read.js')) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node dist/bench/bare-read.js FILE.pcap');
    process.exit(2);
  }
  console.log(JSON.stringify(bareRead(file)));
}
