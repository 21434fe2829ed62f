/**
 * Why a packet made no flow. Counted per reason in the run statistics (`not_flowed`), in
 * the spirit of Zeek's "weird" names. Index 0 means "the packet made (or joined) a flow".
 * The names are part of the stats output; add new ones at the end.
 */
export const NOT_FLOWED_REASONS = [
  'ok',
  'unsupported_linktype', // link type we do not decode
  'truncated_link', // record shorter than its link-layer header (incl. VLAN/MPLS tags)
  'non_ip', // ARP, LLC/CDP, LLDP, ... a valid frame that carries no IP
  'truncated_ip', // fewer captured bytes than the fixed IP header
  'bad_ip_version', // version nibble not what the link layer announced
  'bad_ip_header_len', // IPv4 IHL < 5 or past the captured data
  'bad_ip_total_len', // IPv4 total length smaller than the header
  'truncated_ipv6_ext', // IPv6 extension-header chain runs past the captured data
  'truncated_transport', // TCP/UDP/ICMP header cut short by the capture
  'bad_tcp_header_len', // TCP data offset < 5 or past the captured data
  'fragment_without_first', // non-first IP fragment whose first fragment was not seen
  'ipv6_ext_chain_too_long', // more IPv6 extension headers than any real stack sends (decode/ip.ts)
] as const;

export type NotFlowedReason = (typeof NOT_FLOWED_REASONS)[number];

export const R_OK = 0;
export const R_UNSUPPORTED_LINKTYPE = 1;
export const R_TRUNCATED_LINK = 2;
export const R_NON_IP = 3;
export const R_TRUNCATED_IP = 4;
export const R_BAD_IP_VERSION = 5;
export const R_BAD_IP_HEADER_LEN = 6;
export const R_BAD_IP_TOTAL_LEN = 7;
export const R_TRUNCATED_IPV6_EXT = 8;
export const R_TRUNCATED_TRANSPORT = 9;
export const R_BAD_TCP_HEADER_LEN = 10;
export const R_FRAGMENT_WITHOUT_FIRST = 11;
export const R_IPV6_EXT_CHAIN_TOO_LONG = 12;
export const REASON_COUNT = NOT_FLOWED_REASONS.length;
