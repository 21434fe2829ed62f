/**
 * Transport layer: TCP, UDP, SCTP ports; ICMP/ICMPv6 type, code, echo identifier, and the
 * IP header quoted inside ICMP errors. One switch on the IP protocol is the dispatch.
 *
 * `off..end` are the captured transport bytes, already bounded by the IP length (so an
 * Ethernet trailer is never read as header). `ipPayloadLen` is what the IP header says the
 * transport segment is; payload lengths come from it, not from the capture, because the
 * flow counts wire bytes (SPEC §3: bytes = IP total length).
 */
import { clearAddr, readAddr4, readAddr6, u16 } from './bytes.js';
import { ext, walkIPv6Extensions } from './ipv6ext.js';
import { DecodedPacket, PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PROTO_UDP } from './packet.js';
import { R_BAD_TCP_HEADER_LEN, R_OK, R_TRUNCATED_TRANSPORT } from './reasons.js';

const PROTO_SCTP = 132;

/** What an ICMP type means for flows: 0 nothing special (ports 0), echo (id as port), error. */
const ICMP_ECHO = 1;
const ICMP_ERROR = 2;

/**
 * ICMPv4 (RFC 792): 8 echo request / 0 echo reply; errors that quote the offending
 * datagram ("Internet Header + 64 bits of Data Datagram"): 3 unreachable, 4 source quench,
 * 5 redirect, 11 time exceeded, 12 parameter problem. Redirect is counted as an error on
 * purpose: it quotes the datagram it is about, so attributing it to that flow is right
 * (Suricata's ICMPV4_IS_ERROR_MSG lists the same five types); the unreachable detector
 * looks at type 3 only, so redirects do not inflate it.
 */
const ICMP4_KIND = new Uint8Array(256);
ICMP4_KIND[0] = ICMP_ECHO;
ICMP4_KIND[8] = ICMP_ECHO;
ICMP4_KIND[3] = ICMP_ERROR;
ICMP4_KIND[4] = ICMP_ERROR;
ICMP4_KIND[5] = ICMP_ERROR;
ICMP4_KIND[11] = ICMP_ERROR;
ICMP4_KIND[12] = ICMP_ERROR;

/**
 * ICMPv6 (RFC 4443): 128 echo request / 129 reply; errors 1 destination unreachable,
 * 2 packet too big, 3 time exceeded, 4 parameter problem (types 0-127 are errors, but only
 * these four are defined and quote the invoking packet).
 */
const ICMP6_KIND = new Uint8Array(256);
ICMP6_KIND[128] = ICMP_ECHO;
ICMP6_KIND[129] = ICMP_ECHO;
ICMP6_KIND[1] = ICMP_ERROR;
ICMP6_KIND[2] = ICMP_ERROR;
ICMP6_KIND[3] = ICMP_ERROR;
ICMP6_KIND[4] = ICMP_ERROR;

const TCP_MIN_HEADER = 20;
/**
 * Ports (0-3), data offset (12) and flags (13) are all a flow needs. A segment the
 * capture cut short by its snaplen (capLen < wireLen) is kept when these 14 bytes are
 * there: `tcpdump -s 54/64/68`-style captures would otherwise lose every SYN with options.
 */
const TCP_MIN_FOR_FLOW = 14;
const UDP_HEADER = 8;
const SCTP_COMMON_HEADER = 12; // RFC 9260 §3.1
const ICMP_HEADER = 8; // type, code, checksum, 4 bytes of rest-of-header (RFC 792/4443)

export function decodeTransport(
  buf: Buffer,
  off: number,
  end: number,
  ipPayloadLen: number,
  proto: number,
  out: DecodedPacket,
): number {
  const avail = end - off;
  switch (proto) {
    case PROTO_TCP: {
      if (avail < TCP_MIN_FOR_FLOW) return R_TRUNCATED_TRANSPORT;
      const hdrLen = (buf[off + 12]! >>> 4) << 2;
      if (hdrLen < TCP_MIN_HEADER || hdrLen > ipPayloadLen) return R_BAD_TCP_HEADER_LEN;
      if (hdrLen > avail && out.capLen >= out.wireLen) {
        // The whole frame was captured, yet the header runs off it: the lengths lie.
        return avail < TCP_MIN_HEADER ? R_TRUNCATED_TRANSPORT : R_BAD_TCP_HEADER_LEN;
      }
      out.srcPort = u16(buf, off);
      out.dstPort = u16(buf, off + 2);
      out.tcpFlags = buf[off + 13]!;
      out.payloadLen = ipPayloadLen - hdrLen;
      return R_OK;
    }
    case PROTO_UDP: {
      if (avail < UDP_HEADER) return R_TRUNCATED_TRANSPORT;
      out.srcPort = u16(buf, off);
      out.dstPort = u16(buf, off + 2);
      out.payloadLen = ipPayloadLen > UDP_HEADER ? ipPayloadLen - UDP_HEADER : 0;
      return R_OK;
    }
    case PROTO_ICMP:
      return decodeIcmp(buf, off, end, ipPayloadLen, ICMP4_KIND, out);
    case PROTO_ICMP6:
      return decodeIcmp(buf, off, end, ipPayloadLen, ICMP6_KIND, out);
    case PROTO_SCTP: {
      if (avail < SCTP_COMMON_HEADER) return R_TRUNCATED_TRANSPORT;
      out.srcPort = u16(buf, off);
      out.dstPort = u16(buf, off + 2);
      out.payloadLen = ipPayloadLen > SCTP_COMMON_HEADER ? ipPayloadLen - SCTP_COMMON_HEADER : 0;
      return R_OK;
    }
    default:
      // GRE, ESP, OSPF, no-next-header (59), ...: a port-less flow (SPEC §2).
      out.payloadLen = ipPayloadLen;
      return R_OK;
  }
}

function decodeIcmp(
  buf: Buffer,
  off: number,
  end: number,
  ipPayloadLen: number,
  kinds: Uint8Array,
  out: DecodedPacket,
): number {
  const avail = end - off;
  // Type and code are the least an ICMP flow needs (zeek__icmp-header-trunc has less).
  if (avail < 4) return R_TRUNCATED_TRANSPORT;
  const type = buf[off]!;
  out.icmpType = type;
  out.icmpCode = buf[off + 1]!;
  out.payloadLen = ipPayloadLen > ICMP_HEADER ? ipPayloadLen - ICMP_HEADER : 0;
  const kind = kinds[type]!;
  if (kind === ICMP_ECHO) {
    // The identifier (bytes 4-5) keys the flow so request and reply meet in one flow.
    if (avail < 6) return R_TRUNCATED_TRANSPORT;
    const id = u16(buf, off + 4);
    out.srcPort = id;
    out.dstPort = id;
  } else if (kind === ICMP_ERROR && avail > ICMP_HEADER) {
    out.icmpError = decodeQuoted(buf, off + ICMP_HEADER, end, out);
  }
  return R_OK;
}

/**
 * The datagram quoted by an ICMP error, as its sender wrote it. Only the addresses and the
 * protocol are required; ports come from the first 4 bytes of the quoted transport header,
 * which is all RFC 792 guarantees (64 bits of data). Quoted headers are often cut short
 * or bogus: every read is bounded by `end`. Returns false when the addresses or protocol
 * are not there, so the packet is then an ordinary ICMP flow.
 */
function decodeQuoted(buf: Buffer, q: number, end: number, out: DecodedPacket): boolean {
  const version = buf[q]! >>> 4;
  if (version === 4) {
    if (end - q < 20) return false;
    const hdrLen = (buf[q]! & 0x0f) << 2;
    if (hdrLen < 20) return false;
    const proto = buf[q + 9]!;
    out.innerVersion = 4;
    out.innerProto = proto;
    readAddr4(buf, q + 12, out.innerSrc);
    readAddr4(buf, q + 16, out.innerDst);
    // A non-first fragment quotes no transport header.
    if ((u16(buf, q + 6) & 0x1fff) === 0) quotedPorts(buf, q + hdrLen, end, proto, PROTO_ICMP, out);
    return true;
  }
  if (version === 6) {
    if (end - q < 40) return false;
    readAddr6(buf, q + 8, out.innerSrc);
    readAddr6(buf, q + 24, out.innerDst);
    out.innerVersion = 6;
    const r = walkIPv6Extensions(buf, q + 40, end, buf[q + 6]!);
    out.innerProto = ext.proto;
    if (r === R_OK && ext.fragOffset === 0) quotedPorts(buf, ext.offset, end, ext.proto, PROTO_ICMP6, out);
    return true;
  }
  return false;
}

function quotedPorts(buf: Buffer, t: number, end: number, proto: number, icmpProto: number, out: DecodedPacket): void {
  if (end - t < 4) return;
  if (proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP) {
    out.innerSrcPort = u16(buf, t);
    out.innerDstPort = u16(buf, t + 2);
  } else if (proto === icmpProto && end - t >= 6) {
    // A quoted echo: its identifier, as both ports, names the echo flow it answers.
    const kinds = proto === PROTO_ICMP ? ICMP4_KIND : ICMP6_KIND;
    if (kinds[buf[t]!] === ICMP_ECHO) {
      const id = u16(buf, t + 4);
      out.innerSrcPort = id;
      out.innerDstPort = id;
    }
  }
}

/** Clear the inner-header fields (the caller resets everything per packet). */
export function clearInner(out: DecodedPacket): void {
  out.icmpError = false;
  out.innerVersion = 0;
  clearAddr(out.innerSrc);
  clearAddr(out.innerDst);
  out.innerProto = 0;
  out.innerSrcPort = 0;
  out.innerDstPort = 0;
}
