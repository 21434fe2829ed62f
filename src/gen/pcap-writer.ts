/**
 * Classic pcap writer and frame builders for the capture generators (demo and bench).
 *
 * Speed matters: the bench captures are ~2M packets and up to ~1.6 GB. Frames are built
 * straight into the writer's one big output buffer (no scratch copy, no Buffer per
 * packet) and the buffer goes to the file with fs.writeSync when it is full. An 8 MB
 * buffer means ~200 write calls for 1.6 GB; the same chunk size the readers use (STYLE:
 * 8 MB fs.readSync chunks read 1.6 GB from the page cache in ~0.8 s).
 *
 * File format (libpcap's "pcap-savefile" / draft-ietf-opsawg-pcap): 24-byte global
 * header, magic 0xa1b2c3d4 written little-endian (microsecond timestamps), version 2.4,
 * snaplen 65535, linktype 1 (Ethernet); each record a 16-byte header (ts_sec, ts_usec,
 * incl_len, orig_len) and the frame. We always write whole frames: incl_len == orig_len.
 *
 * Checksums are real (IPv4 header, TCP/UDP with pseudo-header, ICMP) so that tshark
 * with checksum validation on and any decoder that checks them see clean traffic.
 * Payload bytes are either copied from a caller's pattern buffer or one repeated fill
 * byte, whose checksum contribution is computed in O(1) so 1460-byte segments cost a
 * memset and not a 730-step sum loop.
 */
import fs from 'node:fs';

export const LINKTYPE_ETHERNET = 1;
export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
export const SNAPLEN = 65535;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETH_HEADER_LEN = 14;
/** Ethernet minimum frame without FCS (IEEE 802.3: 64 bytes incl. 4-byte FCS); shorter frames are padded, as a receiving NIC shows them. */
const ETH_MIN_FRAME = 60;
const IPV4_HEADER_LEN = 20;
const IPV6_HEADER_LEN = 40;
const UDP_HEADER_LEN = 8;
const ICMP_HEADER_LEN = 8;
/** TCP header with the MSS option on SYN and SYN/ACK (RFC 9293 §3.2: kind 2, len 4). */
const TCP_HEADER_LEN = 20;
const TCP_SYN_HEADER_LEN = 24;
/** Largest frame a builder writes: Ethernet + IPv6 + TCP with options + 1500 bytes. */
export const MAX_FRAME_LEN = 1600;

const DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024;

export class PcapWriter {
  /** The output buffer; builders write a frame at the offset `begin()` returns. */
  readonly buf: Buffer;
  private pos = 0;
  private frameOff = -1;
  /** Packets and file bytes written so far (including the global header). */
  packets = 0;
  fileBytes = 0;

  constructor(
    private readonly fd: number,
    bufferBytes = DEFAULT_BUFFER_BYTES,
    snaplen = SNAPLEN,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(bufferBytes, 64 * 1024));
    const b = this.buf;
    b.writeUInt32LE(PCAP_MAGIC_MICROS, 0);
    b.writeUInt16LE(2, 4); // version major
    b.writeUInt16LE(4, 6); // version minor
    b.writeInt32LE(0, 8); // thiszone (GMT)
    b.writeUInt32LE(0, 12); // sigfigs
    b.writeUInt32LE(snaplen, 16);
    b.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    this.pos = PCAP_GLOBAL_HEADER_LEN;
  }

  /** Opens (truncates) `path` and writes the global header (`snaplen`: its snapshot length field). */
  static create(path: string, bufferBytes = DEFAULT_BUFFER_BYTES, snaplen = SNAPLEN): PcapWriter {
    return new PcapWriter(fs.openSync(path, 'w'), bufferBytes, snaplen);
  }

  /**
   * Makes room for a frame of at most `maxFrameLen` bytes and returns the offset in
   * `buf` where the builder must write it. Follow with `commit()`.
   */
  begin(maxFrameLen = MAX_FRAME_LEN): number {
    if (this.pos + PCAP_RECORD_HEADER_LEN + maxFrameLen > this.buf.length) this.flush();
    this.frameOff = this.pos + PCAP_RECORD_HEADER_LEN;
    return this.frameOff;
  }

  /**
   * Writes the record header for the frame built since `begin()`: its first `frameLen`
   * bytes are kept, `wireLen` is its length on the wire (more when the frame is cut short).
   */
  commit(tsMicros: number, frameLen: number, wireLen = frameLen): void {
    const b = this.buf;
    const h = this.frameOff - PCAP_RECORD_HEADER_LEN;
    const sec = Math.floor(tsMicros / 1e6);
    b.writeUInt32LE(sec >>> 0, h);
    b.writeUInt32LE(tsMicros - sec * 1e6, h + 4);
    b.writeUInt32LE(frameLen, h + 8);
    b.writeUInt32LE(wireLen, h + 12);
    this.pos = this.frameOff + frameLen;
    this.frameOff = -1;
    this.packets++;
  }

  /** Copies a prebuilt frame as one record (set-up paths such as the demo; not for 2M-packet loops). */
  writeFrame(tsMicros: number, frame: Buffer): void {
    const off = this.begin(frame.length);
    frame.copy(this.buf, off);
    this.commit(tsMicros, frame.length);
  }

  flush(): void {
    let done = 0;
    while (done < this.pos) done += fs.writeSync(this.fd, this.buf, done, this.pos - done);
    this.fileBytes += this.pos;
    this.pos = 0;
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}

/**
 * Everything a builder needs for one frame; callers keep one instance and overwrite the
 * fields per packet (no object per packet). IPv4 addresses are unsigned 32-bit numbers;
 * IPv6 addresses are four network-order words in `src6`/`dst6`.
 */
export class FrameSpec {
  src = 0;
  dst = 0;
  readonly src6 = new Uint32Array(4);
  readonly dst6 = new Uint32Array(4);
  srcPort = 0;
  dstPort = 0;
  ttl = 64;
  ipId = 0;
  /** TCP */
  seq = 0;
  ack = 0;
  flags = 0;
  window = 64240;
  /** ICMP type/code and echo identifier/sequence. */
  icmpType = 8;
  icmpCode = 0;
  icmpId = 0;
  icmpSeq = 0;
  /** Transport payload length and where its bytes come from. */
  payloadLen = 0;
  /** When set, payload bytes are copied from here, cyclically from `payloadFrom`. */
  payloadSrc: Buffer | null = null;
  payloadFrom = 0;
  /** Otherwise every payload byte is this value. */
  payloadByte = 0;
}

// ---- checksum helpers (RFC 1071: 16-bit one's-complement sum) ----

/** Sum of big-endian 16-bit words of buf[start, end), odd last byte padded with zero. */
function sumWords(buf: Buffer, start: number, end: number): number {
  let s = 0;
  let i = start;
  for (; i + 1 < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) s += buf[i]! << 8;
  return s;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

/**
 * Writes the payload at `off` and returns its checksum contribution, given that it
 * starts at an even offset from the checksummed region (all our headers are even).
 */
function writePayload(buf: Buffer, off: number, s: FrameSpec): number {
  const n = s.payloadLen;
  if (n === 0) return 0;
  const src = s.payloadSrc;
  if (src === null) {
    buf.fill(s.payloadByte, off, off + n);
    // n/2 words of (b<<8|b), plus b<<8 for an odd trailing byte: no loop over 1460 bytes.
    const b = s.payloadByte;
    return (n >>> 1) * ((b << 8) | b) + (n & 1 ? b << 8 : 0);
  }
  let done = 0;
  let from = s.payloadFrom % src.length;
  while (done < n) {
    const take = Math.min(n - done, src.length - from);
    src.copy(buf, off + done, from, from + take);
    done += take;
    from = 0;
  }
  return sumWords(buf, off, off + n);
}

function writeEthernet(buf: Buffer, off: number, srcWord: number, dstWord: number, etherType: number): void {
  // Locally administered unicast MACs 02:00:<last 4 address bytes>: stable per host and
  // readable in Wireshark next to the IP.
  buf[off] = 0x02;
  buf[off + 1] = 0;
  buf.writeUInt32BE(dstWord >>> 0, off + 2);
  buf[off + 6] = 0x02;
  buf[off + 7] = 0;
  buf.writeUInt32BE(srcWord >>> 0, off + 8);
  buf.writeUInt16BE(etherType, off + 12);
}

function writeIpv4(buf: Buffer, off: number, s: FrameSpec, proto: number, l4Len: number): void {
  buf[off] = 0x45; // version 4, IHL 5
  buf[off + 1] = 0; // DSCP/ECN
  buf.writeUInt16BE(IPV4_HEADER_LEN + l4Len, off + 2);
  buf.writeUInt16BE(s.ipId & 0xffff, off + 4);
  buf.writeUInt16BE(0x4000, off + 6); // DF, offset 0
  buf[off + 8] = s.ttl;
  buf[off + 9] = proto;
  buf.writeUInt16BE(0, off + 10);
  buf.writeUInt32BE(s.src >>> 0, off + 12);
  buf.writeUInt32BE(s.dst >>> 0, off + 16);
  buf.writeUInt16BE(fold(sumWords(buf, off, off + IPV4_HEADER_LEN)), off + 10);
}

function writeIpv6(buf: Buffer, off: number, s: FrameSpec, nextHeader: number, l4Len: number): void {
  buf.writeUInt32BE(0x60000000, off); // version 6, traffic class 0, flow label 0
  buf.writeUInt16BE(l4Len, off + 4);
  buf[off + 6] = nextHeader;
  buf[off + 7] = s.ttl;
  for (let i = 0; i < 4; i++) {
    buf.writeUInt32BE(s.src6[i]!, off + 8 + 4 * i);
    buf.writeUInt32BE(s.dst6[i]!, off + 24 + 4 * i);
  }
}

function pseudoSum4(s: FrameSpec, proto: number, l4Len: number): number {
  return (s.src >>> 16) + (s.src & 0xffff) + (s.dst >>> 16) + (s.dst & 0xffff) + proto + l4Len;
}

function pseudoSum6(s: FrameSpec, proto: number, l4Len: number): number {
  let sum = proto + (l4Len >>> 16) + (l4Len & 0xffff);
  for (let i = 0; i < 4; i++) {
    const a = s.src6[i]!;
    const b = s.dst6[i]!;
    sum += (a >>> 16) + (a & 0xffff) + (b >>> 16) + (b & 0xffff);
  }
  return sum;
}

/** TCP header + payload at `off`; returns the segment length. `pseudo` is the pseudo-header sum. */
function writeTcp(buf: Buffer, off: number, s: FrameSpec, pseudoOf: (s: FrameSpec, p: number, l: number) => number): number {
  const syn = (s.flags & 0x02) !== 0;
  const hl = syn ? TCP_SYN_HEADER_LEN : TCP_HEADER_LEN;
  const len = hl + s.payloadLen;
  buf.writeUInt16BE(s.srcPort, off);
  buf.writeUInt16BE(s.dstPort, off + 2);
  buf.writeUInt32BE(s.seq >>> 0, off + 4);
  buf.writeUInt32BE(s.ack >>> 0, off + 8);
  buf[off + 12] = (hl / 4) << 4;
  buf[off + 13] = s.flags;
  buf.writeUInt16BE(s.window, off + 14);
  buf.writeUInt32BE(0, off + 16); // checksum, urgent pointer
  if (syn) buf.writeUInt32BE(0x020405b4, off + 20); // MSS 1460
  const payloadSum = writePayload(buf, off + hl, s);
  const sum = pseudoOf(s, 6, len) + sumWords(buf, off, off + hl) + payloadSum;
  buf.writeUInt16BE(fold(sum), off + 16);
  return len;
}

function writeUdp(buf: Buffer, off: number, s: FrameSpec, pseudoOf: (s: FrameSpec, p: number, l: number) => number): number {
  const len = UDP_HEADER_LEN + s.payloadLen;
  buf.writeUInt16BE(s.srcPort, off);
  buf.writeUInt16BE(s.dstPort, off + 2);
  buf.writeUInt16BE(len, off + 4);
  buf.writeUInt16BE(0, off + 6);
  const payloadSum = writePayload(buf, off + UDP_HEADER_LEN, s);
  const c = fold(pseudoOf(s, 17, len) + sumWords(buf, off, off + UDP_HEADER_LEN) + payloadSum);
  buf.writeUInt16BE(c === 0 ? 0xffff : c, off + 6); // RFC 768: a computed zero is sent as all ones
  return len;
}

/** Pads to the Ethernet minimum and returns the frame length. */
function finishFrame(buf: Buffer, off: number, len: number): number {
  if (len >= ETH_MIN_FRAME) return len;
  buf.fill(0, off + len, off + ETH_MIN_FRAME);
  return ETH_MIN_FRAME;
}

/** Ethernet + IPv4 + TCP at `off`; returns the frame length. */
export function tcp4Frame(buf: Buffer, off: number, s: FrameSpec): number {
  writeEthernet(buf, off, s.src, s.dst, ETHERTYPE_IPV4);
  const ip = off + ETH_HEADER_LEN;
  const l4 = writeTcp(buf, ip + IPV4_HEADER_LEN, s, pseudoSum4);
  writeIpv4(buf, ip, s, 6, l4);
  return finishFrame(buf, off, ETH_HEADER_LEN + IPV4_HEADER_LEN + l4);
}

/** Ethernet + IPv4 + UDP at `off`; returns the frame length. */
export function udp4Frame(buf: Buffer, off: number, s: FrameSpec): number {
  writeEthernet(buf, off, s.src, s.dst, ETHERTYPE_IPV4);
  const ip = off + ETH_HEADER_LEN;
  const l4 = writeUdp(buf, ip + IPV4_HEADER_LEN, s, pseudoSum4);
  writeIpv4(buf, ip, s, 17, l4);
  return finishFrame(buf, off, ETH_HEADER_LEN + IPV4_HEADER_LEN + l4);
}

/** Ethernet + IPv4 + ICMP echo request/reply (s.icmpType 8 or 0) at `off`. */
export function icmpEcho4Frame(buf: Buffer, off: number, s: FrameSpec): number {
  writeEthernet(buf, off, s.src, s.dst, ETHERTYPE_IPV4);
  const ip = off + ETH_HEADER_LEN;
  const icmp = ip + IPV4_HEADER_LEN;
  const len = ICMP_HEADER_LEN + s.payloadLen;
  buf[icmp] = s.icmpType;
  buf[icmp + 1] = s.icmpCode;
  buf.writeUInt16BE(0, icmp + 2);
  buf.writeUInt16BE(s.icmpId, icmp + 4);
  buf.writeUInt16BE(s.icmpSeq, icmp + 6);
  const payloadSum = writePayload(buf, icmp + ICMP_HEADER_LEN, s);
  buf.writeUInt16BE(fold(sumWords(buf, icmp, icmp + ICMP_HEADER_LEN) + payloadSum), icmp + 2);
  writeIpv4(buf, ip, s, 1, len);
  return finishFrame(buf, off, ETH_HEADER_LEN + IPV4_HEADER_LEN + len);
}

/**
 * Ethernet + IPv4 + ICMP error (type 3 unreachable, 11 time exceeded, ...) at `off`,
 * quoting the original datagram found at `quoted[quotedIpOff]`: its IP header plus the
 * first 8 bytes of its payload (RFC 792: "Internet Header + 64 bits of Original Data
 * Datagram"). s.src is the host sending the error, s.dst the original sender.
 */
export function icmpError4Frame(buf: Buffer, off: number, s: FrameSpec, quoted: Buffer, quotedIpOff: number): number {
  const ihl = (quoted[quotedIpOff]! & 0x0f) * 4;
  const totalLen = quoted.readUInt16BE(quotedIpOff + 2);
  const quoteLen = Math.min(totalLen, ihl + 8);
  writeEthernet(buf, off, s.src, s.dst, ETHERTYPE_IPV4);
  const ip = off + ETH_HEADER_LEN;
  const icmp = ip + IPV4_HEADER_LEN;
  const len = ICMP_HEADER_LEN + quoteLen;
  buf[icmp] = s.icmpType;
  buf[icmp + 1] = s.icmpCode;
  buf.writeUInt32BE(0, icmp + 2); // checksum + first half of "unused"
  buf.writeUInt16BE(0, icmp + 6);
  quoted.copy(buf, icmp + ICMP_HEADER_LEN, quotedIpOff, quotedIpOff + quoteLen);
  buf.writeUInt16BE(fold(sumWords(buf, icmp, icmp + len)), icmp + 2);
  writeIpv4(buf, ip, s, 1, len);
  return finishFrame(buf, off, ETH_HEADER_LEN + IPV4_HEADER_LEN + len);
}

/** Ethernet + IPv6 + TCP at `off`; returns the frame length. */
export function tcp6Frame(buf: Buffer, off: number, s: FrameSpec): number {
  writeEthernet(buf, off, s.src6[3]!, s.dst6[3]!, ETHERTYPE_IPV6);
  const ip = off + ETH_HEADER_LEN;
  const l4 = writeTcp(buf, ip + IPV6_HEADER_LEN, s, pseudoSum6);
  writeIpv6(buf, ip, s, 6, l4);
  return finishFrame(buf, off, ETH_HEADER_LEN + IPV6_HEADER_LEN + l4);
}

/** Ethernet + IPv6 + UDP at `off`; returns the frame length. */
export function udp6Frame(buf: Buffer, off: number, s: FrameSpec): number {
  writeEthernet(buf, off, s.src6[3]!, s.dst6[3]!, ETHERTYPE_IPV6);
  const ip = off + ETH_HEADER_LEN;
  const l4 = writeUdp(buf, ip + IPV6_HEADER_LEN, s, pseudoSum6);
  writeIpv6(buf, ip, s, 17, l4);
  return finishFrame(buf, off, ETH_HEADER_LEN + IPV6_HEADER_LEN + l4);
}

/** Offset of the IP header inside a frame written by the builders above. */
export const IP_OFFSET_IN_FRAME = ETH_HEADER_LEN;

/** "a.b.c.d" -> unsigned 32-bit number (set-up only, not for the packet loop). */
export function ipv4(text: string): number {
  const p = text.split('.');
  if (p.length !== 4) throw new Error(`not an IPv4 address: ${text}`);
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}
