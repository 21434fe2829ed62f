/**
 * Byte fixtures written as commented hex, gopacket style: each line is some bytes and,
 * after `//`, what they are. `hex()` drops the comments and the spaces.
 */
import { decode } from '../../src/decode/decode.js';
import { DecodedPacket } from '../../src/decode/packet.js';
import { NOT_FLOWED_REASONS } from '../../src/decode/reasons.js';
import { formatAddr } from '../../src/util/ip.js';

export function hex(text: string): Buffer {
  const digits = text
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex fixture: ${digits}`);
  return Buffer.from(digits, 'hex');
}

export interface Decoded {
  reason: string;
  out: DecodedPacket;
  src: string;
  dst: string;
  innerSrc: string;
  innerDst: string;
}

/**
 * Decode a fixture placed at a non-zero offset inside a larger buffer (as a reader's
 * chunk would hold it), with guard bytes after it that must never be read.
 */
export function run(
  bytes: Buffer,
  linktype: number,
  opts: { capLen?: number; wireLen?: number; out?: DecodedPacket } = {},
): Decoded {
  const capLen = opts.capLen ?? bytes.length;
  const wireLen = opts.wireLen ?? bytes.length;
  const lead = 7;
  // 0xff guard bytes: a read past capLen would see them and decode them as data.
  const chunk = Buffer.alloc(lead + bytes.length + 64, 0xff);
  bytes.copy(chunk, lead, 0, capLen);
  const out = opts.out ?? new DecodedPacket();
  const reason = decode(chunk, lead, capLen, wireLen, linktype, out);
  return {
    reason: NOT_FLOWED_REASONS[reason] ?? `invalid ${reason}`,
    out,
    src: formatAddr(out.src, out.ipVersion),
    dst: formatAddr(out.dst, out.ipVersion),
    innerSrc: formatAddr(out.innerSrc, out.innerVersion),
    innerDst: formatAddr(out.innerDst, out.innerVersion),
  };
}
