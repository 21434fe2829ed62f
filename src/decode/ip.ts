/**
 * IPv4 and IPv6 network layer. `off` is the first byte of the IP header, `end` the end of
 * the captured bytes; nothing at or past `end` is read.
 */
import { readAddr4, readAddr6, u16 } from './bytes.js';
import { ext, findJumboLength, walkIPv6Extensions } from './ipv6ext.js';
import { DecodedPacket, FRAG_FIRST, FRAG_LATER, FRAG_NONE } from './packet.js';
import {
  R_BAD_IP_HEADER_LEN,
  R_BAD_IP_TOTAL_LEN,
  R_BAD_IP_VERSION,
  R_OK,
  R_TRUNCATED_IP,
} from './reasons.js';
import { decodeTransport } from './transport.js';

const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const IPV4_MF = 0x2000;
const IPV4_OFFSET_MASK = 0x1fff;

/**
 * IPv4 (RFC 791). The version is checked before the length so that a frame that is not
 * IPv4 at all is named for what it is (tcpdump: "IP6 version error", "unknown ip 3").
 */
export function decodeIPv4(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (off >= end) return R_TRUNCATED_IP;
  const b0 = buf[off]!;
  if (b0 >>> 4 !== 4) return R_BAD_IP_VERSION;
  if (end - off < IPV4_MIN_HEADER) return R_TRUNCATED_IP;
  const hdrLen = (b0 & 0x0f) << 2;
  if (hdrLen < IPV4_MIN_HEADER || hdrLen > end - off) return R_BAD_IP_HEADER_LEN;
  const totalLen = u16(buf, off + 2);
  // Total length 0 is what TSO/LSO offload leaves in locally sent segments (Wireshark
  // then presumes TSO); we do not guess and count it as bad, like tcpdump's "bad-len 0".
  if (totalLen < hdrLen) return R_BAD_IP_TOTAL_LEN;

  const proto = buf[off + 9]!;
  out.ipVersion = 4;
  out.ipLen = totalLen;
  out.ipId = u16(buf, off + 4);
  out.ttl = buf[off + 8]!;
  out.proto = proto;
  readAddr4(buf, off + 12, out.src);
  readAddr4(buf, off + 16, out.dst);

  // Options are skipped by IHL. A total length beyond the capture is normal with a
  // snaplen: ipLen still counts it, but transport parsing stops at the captured bytes.
  const ipPayloadLen = totalLen - hdrLen;
  const flagsOffset = u16(buf, off + 6);
  if ((flagsOffset & IPV4_OFFSET_MASK) !== 0) {
    // A later fragment has no transport header; the flow table joins it by ipId.
    out.fragment = FRAG_LATER;
    out.payloadLen = ipPayloadLen;
    return R_OK;
  }
  if ((flagsOffset & IPV4_MF) !== 0) out.fragment = FRAG_FIRST;
  const ipEnd = off + totalLen;
  return decodeTransport(buf, off + hdrLen, ipEnd < end ? ipEnd : end, ipPayloadLen, proto, out);
}

/** IPv6 (RFC 8200) with its extension-header chain. */
export function decodeIPv6(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (off >= end) return R_TRUNCATED_IP;
  if (buf[off]! >>> 4 !== 6) return R_BAD_IP_VERSION;
  if (end - off < IPV6_HEADER) return R_TRUNCATED_IP;
  const payloadLen = u16(buf, off + 4);
  const firstNext = buf[off + 6]!;
  out.ipVersion = 6;
  out.ttl = buf[off + 7]!;
  readAddr6(buf, off + 8, out.src);
  readAddr6(buf, off + 24, out.dst);

  let ipLen = IPV6_HEADER + payloadLen;
  if (payloadLen === 0) {
    // RFC 2675 jumbogram: the length is in the hop-by-hop Jumbo option. Without one
    // (td__ipv6_missing_jumbo_payload_option) take what was captured: never negative.
    const jumbo = firstNext === 0 ? findJumboLength(buf, off + IPV6_HEADER, end) : 0;
    ipLen = jumbo > 0 ? IPV6_HEADER + jumbo : end - off;
  }
  out.ipLen = ipLen;
  const ipEnd = off + ipLen < end ? off + ipLen : end;

  const r = walkIPv6Extensions(buf, off + IPV6_HEADER, ipEnd, firstNext);
  out.proto = ext.proto;
  if (ext.fragment) {
    out.ipId = ext.fragId;
    out.fragment = ext.fragOffset !== 0 ? FRAG_LATER : ext.fragMore ? FRAG_FIRST : FRAG_NONE;
  }
  if (r !== R_OK) return r;
  const ipPayloadLen = ipLen - (ext.offset - off);
  if (ext.fragOffset !== 0) {
    out.payloadLen = ipPayloadLen;
    return R_OK;
  }
  return decodeTransport(buf, ext.offset, ipEnd, ipPayloadLen, ext.proto, out);
}

/** Raw IP: the version nibble decides (LINKTYPE_RAW, DLT_RAW, MPLS payload, NULL/LOOP). */
export function decodeIPByVersion(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (off >= end) return R_TRUNCATED_IP;
  const version = buf[off]! >>> 4;
  if (version === 4) return decodeIPv4(buf, off, end, out);
  if (version === 6) return decodeIPv6(buf, off, end, out);
  return R_BAD_IP_VERSION;
}
