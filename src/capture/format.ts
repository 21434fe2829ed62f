/**
 * Capture format detection from the first bytes of a file (never from its name: some
 * `.pcapng` files are classic pcap and the other way round). Everything here runs once per
 * file at open time, before any packet is delivered, so every mistake the operator can
 * fix is reported up front as one `UserError` line naming the file.
 */
import { EXIT_BAD_INPUT, UserError } from '../util/errors.js';

export const PCAP_HEADER_BYTES = 24;
/** Smallest legal SHB: type, length, byte-order magic, versions, section length, trailer. */
export const PCAPNG_MIN_SHB_BYTES = 28;
export const PCAPNG_SHB_TYPE = 0x0a0d0d0a;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Classic pcap magics as read big-endian from the first four bytes of the file. */
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Alexey Kuznetzov's patched libpcap: 24-byte record headers (libpcap sf-pcap.c reads it). */
const PCAP_MAGIC_KUZNETZOV = 0xa1b2cd34;

export type CaptureFormat = PcapFormat | PcapngFormat;

export interface PcapFormat {
  kind: 'pcap';
  littleEndian: boolean;
  nanoseconds: boolean;
  /** Record header size: 16, or 24 for the Kuznetzov variant. */
  recordHeaderBytes: number;
  versionMajor: number;
  versionMinor: number;
  /** Link type: low 16 bits of the header's link-type field (upper bits carry FCS info). */
  linktype: number;
  snaplen: number;
}

export interface PcapngFormat {
  kind: 'pcapng';
  /** Byte order of the first section; later sections carry their own. */
  littleEndian: boolean;
}

export function userInputError(code: string, message: string): UserError {
  return new UserError(code, message, EXIT_BAD_INPUT);
}

function hex4(b: Uint8Array): string {
  const out: string[] = [];
  for (let i = 0; i < Math.min(4, b.length); i++) out.push(b[i]!.toString(16).padStart(2, '0'));
  return out.join(' ');
}

/** Known non-pcap containers, by their leading bytes, with what the operator should do. */
const FOREIGN_MAGICS: Array<{ bytes: number[]; what: (name: string) => string; code: string }> = [
  // RFC 1761: "snoop\0\0\0"
  { bytes: [0x73, 0x6e, 0x6f, 0x6f, 0x70, 0, 0, 0], code: 'E_NOT_CAPTURE',
    what: (n) => `${n}: Solaris snoop capture, not pcap/pcapng; convert it with editcap -F pcap ${n} OUT.pcap` },
  // zstd frame magic 0xFD2FB528, little-endian on disk (RFC 8878 §3.1.1)
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], code: 'E_COMPRESSED',
    what: (n) => `${n} is zstd-compressed; decompress it first: zstd -d ${n}` },
  { bytes: [0x42, 0x5a, 0x68], code: 'E_COMPRESSED',
    what: (n) => `${n} is bzip2-compressed; decompress it first: bunzip2 -k ${n}` },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], code: 'E_COMPRESSED',
    what: (n) => `${n} is xz-compressed; decompress it first: xz -dk ${n}` },
  { bytes: [0x50, 0x4b, 0x03, 0x04], code: 'E_COMPRESSED',
    what: (n) => `${n} is a zip archive; extract the capture from it first: unzip ${n}` },
  // Microsoft Network Monitor 2.x "GMBU"
  { bytes: [0x47, 0x4d, 0x42, 0x55], code: 'E_NOT_CAPTURE',
    what: (n) => `${n}: Microsoft Network Monitor capture, not pcap/pcapng; convert it with editcap -F pcap ${n} OUT.pcap` },
];

/** Is this the gzip magic 1f 8b (RFC 1952 §2.3.1)? */
export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/**
 * Identify and check a capture from its first bytes. `prefix` holds the start of the
 * (decompressed) content; `totalBytes` is the content length if known, else -1.
 * Throws `UserError` (exit code 3) with one line naming `name` and what was found.
 */
export function detectFormat(name: string, prefix: Uint8Array, totalBytes: number): CaptureFormat {
  if (prefix.length === 0) {
    throw userInputError('E_EMPTY', `${name}: file is empty (0 bytes), not a capture; check that the capture was written completely`);
  }
  for (const f of FOREIGN_MAGICS) {
    if (prefix.length >= f.bytes.length && f.bytes.every((v, i) => prefix[i] === v)) {
      throw userInputError(f.code, f.what(name));
    }
  }
  if (prefix.length < 4) return notCapture(name, prefix);
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const be = view.getUint32(0, false);
  const le = view.getUint32(0, true);
  if (be === PCAPNG_SHB_TYPE) return checkShb(name, view, totalBytes);
  for (const [magic, nano, recHdr] of [
    [PCAP_MAGIC_US, false, 16],
    [PCAP_MAGIC_NS, true, 16],
    [PCAP_MAGIC_KUZNETZOV, false, 24],
  ] as const) {
    if (be === magic || le === magic) return checkPcapHeader(name, view, le === magic, nano, recHdr);
  }
  return notCapture(name, prefix);
}

function notCapture(name: string, prefix: Uint8Array): never {
  throw userInputError('E_NOT_CAPTURE',
    `${name}: starts with bytes ${hex4(prefix)}, not a pcap or pcapng magic; give a capture file written by tcpdump, dumpcap or Wireshark`);
}

function tooShort(name: string, have: number, what: string, need: number): never {
  throw userInputError('E_NOT_CAPTURE',
    `${name}: not a capture: ${have} bytes, shorter than a ${what} (${need} bytes); the file is cut short`);
}

function checkPcapHeader(name: string, v: DataView, littleEndian: boolean, nanoseconds: boolean, recordHeaderBytes: number): PcapFormat {
  if (v.byteLength < PCAP_HEADER_BYTES) tooShort(name, v.byteLength, 'pcap file header', PCAP_HEADER_BYTES);
  const versionMajor = v.getUint16(4, littleEndian);
  const versionMinor = v.getUint16(6, littleEndian);
  // libpcap sf-pcap.c: major < 2 is "archaic pcap savefile format"; only 2.0-2.4 are read,
  // plus 543.0 written by DG/UX tcpdump.
  if (versionMajor < 2) {
    throw userInputError('E_BAD_VERSION',
      `${name}: archaic pcap version ${versionMajor}.${versionMinor} (libpcap reads 2.0-2.4); rewrite it with a current tool or check the file is intact`);
  }
  if (!((versionMajor === 2 && versionMinor <= 4) || (versionMajor === 543 && versionMinor === 0))) {
    throw userInputError('E_BAD_VERSION',
      `${name}: unsupported pcap version ${versionMajor}.${versionMinor} (libpcap reads 2.0-2.4); check the file is intact`);
  }
  const linkField = v.getUint32(20, littleEndian);
  return {
    kind: 'pcap',
    littleEndian,
    nanoseconds,
    recordHeaderBytes,
    versionMajor,
    versionMinor,
    // The upper bits hold the FCS length and reserved bits (libpcap LT_LINKTYPE_EXT); every
    // assigned LINKTYPE_ value fits in 16 bits.
    linktype: linkField & 0xffff,
    snaplen: v.getUint32(16, littleEndian),
  };
}

/**
 * Check a pcapng Section Header Block at the start of the content. The first SHB is this
 * reader's "file header": a file cut inside it, an unknown byte-order magic, an unsupported
 * version or a damaged length is rejected here, as libpcap's pcap_ng_check_header does.
 */
function checkShb(name: string, v: DataView, totalBytes: number): PcapngFormat {
  const have = totalBytes >= 0 ? Math.min(totalBytes, v.byteLength) : v.byteLength;
  if (have < 12) tooShort(name, have, 'pcapng section header', PCAPNG_MIN_SHB_BYTES);
  const bom = v.getUint32(8, false);
  let littleEndian: boolean;
  if (bom === PCAPNG_BYTE_ORDER_MAGIC) littleEndian = false;
  else if (v.getUint32(8, true) === PCAPNG_BYTE_ORDER_MAGIC) littleEndian = true;
  else {
    throw userInputError('E_NOT_CAPTURE',
      `${name}: starts like pcapng (0a 0d 0d 0a) but its byte-order magic is ${bom.toString(16).padStart(8, '0')}, not 1a2b3c4d; the file is damaged or not a capture`);
  }
  if (have < PCAPNG_MIN_SHB_BYTES) tooShort(name, have, 'pcapng section header', PCAPNG_MIN_SHB_BYTES);
  const blockLen = v.getUint32(4, littleEndian);
  const major = v.getUint16(12, littleEndian);
  const minor = v.getUint16(14, littleEndian);
  // libpcap sf-pcapng.c reads SHB versions 1.0 and 1.2 (1.2 was written by some tools for
  // the same format) and rejects 1.1, 0.x and 2.x.
  if (!(major === 1 && (minor === 0 || minor === 2))) {
    throw userInputError('E_BAD_VERSION',
      `${name}: unsupported pcapng version ${major}.${minor} (libpcap reads 1.0 and 1.2); check the file is intact`);
  }
  if (blockLen < PCAPNG_MIN_SHB_BYTES || blockLen % 4 !== 0) {
    throw userInputError('E_DAMAGED',
      `${name}: pcapng section header has length ${blockLen} (must be a multiple of 4, at least ${PCAPNG_MIN_SHB_BYTES}); the file is damaged`);
  }
  if (blockLen <= v.byteLength) {
    const trailer = v.getUint32(blockLen - 4, littleEndian);
    if (trailer !== blockLen) {
      throw userInputError('E_DAMAGED',
        `${name}: pcapng section header length ${blockLen} does not match its trailer ${trailer}; the file is damaged`);
    }
  } else if (totalBytes >= 0 && totalBytes < blockLen) {
    tooShort(name, totalBytes, 'pcapng section header', blockLen);
  }
  return { kind: 'pcapng', littleEndian };
}
