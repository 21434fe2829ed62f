/**
 * An independent walk of a capture's record framing (not the reader under test): where the
 * file header ends, where each record or block ends, and where each packet record ends.
 */
export interface Framing {
  headerEnd: number;
  /** Every offset where a record or block ends (the header end included). */
  boundaries: Set<number>;
  /** End offset of each packet record, in order. */
  packetEnds: number[];
}

export function frame(bytes: Buffer): Framing {
  const boundaries = new Set<number>();
  const packetEnds: number[] = [];
  if (bytes.readUInt32BE(0) === 0x0a0d0d0a) {
    let le = true;
    let pos = 0;
    let headerEnd = -1;
    while (pos + 12 <= bytes.length) {
      if (bytes.readUInt32LE(pos) === 0x0a0d0d0a) le = bytes.readUInt32LE(pos + 8) === 0x1a2b3c4d;
      const type = le ? bytes.readUInt32LE(pos) : bytes.readUInt32BE(pos);
      const len = le ? bytes.readUInt32LE(pos + 4) : bytes.readUInt32BE(pos + 4);
      pos += len;
      if (headerEnd < 0) headerEnd = pos;
      boundaries.add(pos);
      // EPB, SPB, obsolete PB
      if (type === 6 || type === 3 || type === 2) packetEnds.push(pos);
    }
    if (pos !== bytes.length) throw new Error(`pcapng framing ends at ${pos}, file is ${bytes.length}`);
    return { headerEnd, boundaries, packetEnds };
  }
  const magic = bytes.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  let pos = 24;
  boundaries.add(pos);
  while (pos + 16 <= bytes.length) {
    const caplen = le ? bytes.readUInt32LE(pos + 8) : bytes.readUInt32BE(pos + 8);
    pos += 16 + caplen;
    boundaries.add(pos);
    packetEnds.push(pos);
  }
  if (pos !== bytes.length) throw new Error(`pcap framing ends at ${pos}, file is ${bytes.length}`);
  return { headerEnd: 24, boundaries, packetEnds };
}
