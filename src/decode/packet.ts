/**
 * The one reused struct a packet is decoded into (gopacket's DecodingLayerParser idea):
 * `decode()` overwrites these fields for every packet and allocates nothing. Consumers
 * read the numbers synchronously and copy what they keep.
 *
 * Addresses are four 32-bit words, network order word by word. IPv4 is stored as the
 * IPv4-mapped IPv6 form ::ffff:a.b.c.d (words 0,0,0xffff,addr) so that v4 and v6 keys
 * never collide; `ipVersion` says how to print it.
 */
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMP6 = 58;

/** TCP flag bits as in the header byte; letters in SPEC order FSRPAUEC. */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** Fragment position of the IP datagram this packet carries. */
export const FRAG_NONE = 0;
/** First fragment (offset 0, more-fragments set): carries the transport header. */
export const FRAG_FIRST = 1;
/** Later fragment: no transport header; joins its flow through (src, dst, proto, id). */
export const FRAG_LATER = 2;

export class DecodedPacket {
  tsMicros = 0;
  capLen = 0;
  wireLen = 0;

  /** Number of VLAN tags seen (802.1Q/802.1ad), and the outer two ids. */
  vlanCount = 0;
  vlanOuter = 0;
  vlanInner = 0;

  ipVersion = 0; // 4 or 6
  readonly src = new Uint32Array(4);
  readonly dst = new Uint32Array(4);
  /** Bytes this packet counts for: IPv4 total length, or 40 + IPv6 payload length. */
  ipLen = 0;
  ttl = 0;
  /** IPv4 identification or IPv6 fragment-header identification. */
  ipId = 0;
  fragment = FRAG_NONE;

  /** Final IP protocol after the IPv6 extension chain. */
  proto = 0;
  /** Ports for TCP/UDP; for ICMP/ICMPv6 echo the identifier is in both; else 0. */
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  /** Transport payload bytes (after the TCP/UDP/ICMP header), from the IP lengths. */
  payloadLen = 0;

  /** ICMP/ICMPv6 type and code; -1 when not ICMP. */
  icmpType = -1;
  icmpCode = -1;

  /**
   * ICMP error (unreachable, time exceeded, parameter problem, source quench, packet too
   * big) with enough of the quoted datagram to name the flow it answers: the inner header
   * as the original sender wrote it (inner src = the host that caused the error).
   */
  icmpError = false;
  innerVersion = 0;
  readonly innerSrc = new Uint32Array(4);
  readonly innerDst = new Uint32Array(4);
  innerProto = 0;
  innerSrcPort = 0;
  innerDstPort = 0;
}
