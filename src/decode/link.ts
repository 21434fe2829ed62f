/**
 * Link layers, dispatched by a table from pcap LINKTYPE_* (https://www.tcpdump.org/linktypes.html)
 * built once at load, and by one switch on the ethertype shared by Ethernet, SLL and SLL2.
 * `off` is the first byte of the frame, `end` the end of the captured bytes.
 */
import { i32, u16 } from './bytes.js';
import { decodeIPByVersion, decodeIPv4, decodeIPv6 } from './ip.js';
import { DecodedPacket } from './packet.js';
import { R_NON_IP, R_TRUNCATED_LINK, R_UNSUPPORTED_LINKTYPE } from './reasons.js';

export type LinkDecoder = (buf: Buffer, off: number, end: number, out: DecodedPacket) => number;

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const DLT_RAW_12 = 12; // DLT_RAW on most BSDs and Linux libpcap before LINKTYPE_RAW
export const DLT_RAW_14 = 14; // DLT_RAW on OpenBSD
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100; // IEEE 802.1Q C-tag
export const ETHERTYPE_QINQ = 0x88a8; // IEEE 802.1ad S-tag
export const ETHERTYPE_QINQ_OLD = 0x9100; // pre-standard QinQ, still sent by some switches
const ETHERTYPE_MPLS = 0x8847;
const ETHERTYPE_MPLS_MC = 0x8848;
const ETHERTYPE_PPPOE_SESSION = 0x8864;
const PPP_IPV4 = 0x0021; // RFC 1332
const PPP_IPV6 = 0x0057; // RFC 5072

const ETHERNET_HEADER = 14;
const SLL_HEADER = 16; // https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
const SLL2_HEADER = 20; // https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html
const NULL_HEADER = 4;
const VLAN_TAG = 4;
const MPLS_LABEL = 4;
const PPPOE_HEADER = 8; // 6 bytes PPPoE (RFC 2516) + 2 bytes PPP protocol

/** BSD address families as found in NULL/LOOP headers; IPv6 differs per OS. */
const AF_INET = 2;
const AF_INET6_BSD = 24; // NetBSD, OpenBSD, BSD/OS
const AF_INET6_FREEBSD = 28; // FreeBSD, DragonFly
const AF_INET6_DARWIN = 30; // macOS, iOS

/**
 * The payload of an ethertype field: any number of stacked VLAN tags (each 4 bytes, so
 * the loop is bounded by the captured bytes), then IP, MPLS or PPPoE. Values <= 1500 are
 * an 802.3 length (LLC/SNAP: CDP, STP, ...) and fall into non_ip with ARP, LLDP and the rest.
 */
export function decodeEtherType(buf: Buffer, off: number, end: number, etherType: number, out: DecodedPacket): number {
  while (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_OLD) {
    if (end - off < VLAN_TAG) return R_TRUNCATED_LINK;
    const vlanId = u16(buf, off) & 0x0fff;
    const count = ++out.vlanCount;
    if (count === 1) out.vlanOuter = vlanId;
    else if (count === 2) out.vlanInner = vlanId;
    etherType = u16(buf, off + 2);
    off += VLAN_TAG;
  }
  switch (etherType) {
    case ETHERTYPE_IPV4:
      return decodeIPv4(buf, off, end, out);
    case ETHERTYPE_IPV6:
      return decodeIPv6(buf, off, end, out);
    case ETHERTYPE_MPLS:
    case ETHERTYPE_MPLS_MC:
      return decodeMpls(buf, off, end, out);
    case ETHERTYPE_PPPOE_SESSION:
      return decodePppoe(buf, off, end, out);
    default:
      return R_NON_IP;
  }
}

/**
 * MPLS label stack (RFC 3032): 4-byte entries until the bottom-of-stack bit, then the
 * payload has no type field; IPv4/IPv6 are recognised by the version nibble (as Zeek and
 * Wireshark do). Anything else (pseudowire control word 0, Ethernet over MPLS) is non_ip.
 */
function decodeMpls(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  for (;;) {
    if (end - off < MPLS_LABEL) return R_TRUNCATED_LINK;
    const bottom = (buf[off + 2]! & 0x01) !== 0;
    off += MPLS_LABEL;
    if (bottom) break;
  }
  if (off >= end) return R_TRUNCATED_LINK;
  const version = buf[off]! >>> 4;
  if (version === 4) return decodeIPv4(buf, off, end, out);
  if (version === 6) return decodeIPv6(buf, off, end, out);
  return R_NON_IP;
}

/** PPPoE session stage (RFC 2516): IP inside PPP; discovery and PPP control are non_ip. */
function decodePppoe(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (end - off < PPPOE_HEADER) return R_TRUNCATED_LINK;
  const pppProto = u16(buf, off + 6);
  if (pppProto === PPP_IPV4) return decodeIPv4(buf, off + PPPOE_HEADER, end, out);
  if (pppProto === PPP_IPV6) return decodeIPv6(buf, off + PPPOE_HEADER, end, out);
  return R_NON_IP;
}

function decodeEthernet(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (end - off < ETHERNET_HEADER) return R_TRUNCATED_LINK;
  return decodeEtherType(buf, off + ETHERNET_HEADER, end, u16(buf, off + 12), out);
}

/** Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol. */
function decodeSll(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (end - off < SLL_HEADER) return R_TRUNCATED_LINK;
  return decodeEtherType(buf, off + SLL_HEADER, end, u16(buf, off + 14), out);
}

/** Linux cooked v2: protocol first, then reserved, ifindex, ARPHRD, type, address. */
function decodeSll2(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (end - off < SLL2_HEADER) return R_TRUNCATED_LINK;
  return decodeEtherType(buf, off + SLL2_HEADER, end, u16(buf, off), out);
}

function decodeRaw(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  return decodeIPByVersion(buf, off, end, out);
}

function decodeByFamily(buf: Buffer, off: number, end: number, family: number, out: DecodedPacket): number {
  switch (family) {
    case AF_INET:
      return decodeIPv4(buf, off, end, out);
    case AF_INET6_BSD:
    case AF_INET6_FREEBSD:
    case AF_INET6_DARWIN:
      return decodeIPv6(buf, off, end, out);
    default:
      return R_NON_IP;
  }
}

/**
 * DLT_NULL: the family is in the capturing host's byte order, which the file does not
 * record. Families are small numbers, so a value with high bits set was written by the
 * other byte order (libpcap's swap_null_header reasons the same way).
 */
function decodeNull(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (end - off < NULL_HEADER) return R_TRUNCATED_LINK;
  // int32 on purpose (no >>> 0): the comparisons only need the bits, and a small integer
  // never boxes (see i32 in bytes.ts).
  let family = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24);
  if ((family & ~0xffff) !== 0) family = i32(buf, off);
  return decodeByFamily(buf, off + NULL_HEADER, end, family, out);
}

/** LINKTYPE_LOOP (OpenBSD loopback): the same family, always in network byte order. */
function decodeLoop(buf: Buffer, off: number, end: number, out: DecodedPacket): number {
  if (end - off < NULL_HEADER) return R_TRUNCATED_LINK;
  return decodeByFamily(buf, off + NULL_HEADER, end, i32(buf, off), out);
}

function decodeUnsupported(): number {
  return R_UNSUPPORTED_LINKTYPE;
}

/**
 * linktype -> decoder, built once. A dense packed array indexed by the link type is one
 * bounds-checked load per packet; link types past its end are unsupported.
 */
export const LINK_DECODERS: readonly LinkDecoder[] = (() => {
  const table = new Array<LinkDecoder>(LINKTYPE_LINUX_SLL2 + 1).fill(decodeUnsupported);
  table[LINKTYPE_NULL] = decodeNull;
  table[LINKTYPE_ETHERNET] = decodeEthernet;
  table[DLT_RAW_12] = decodeRaw;
  table[DLT_RAW_14] = decodeRaw;
  table[LINKTYPE_RAW] = decodeRaw;
  table[LINKTYPE_LOOP] = decodeLoop;
  table[LINKTYPE_LINUX_SLL] = decodeSll;
  table[LINKTYPE_IPV4] = decodeIPv4;
  table[LINKTYPE_IPV6] = decodeIPv6;
  table[LINKTYPE_LINUX_SLL2] = decodeSll2;
  return table;
})();

/** Whether `decode` understands a link type (for a reader or `live` to warn up front). */
export function isSupportedLinktype(linktype: number): boolean {
  const d = LINK_DECODERS[linktype];
  return d !== undefined && d !== decodeUnsupported;
}
