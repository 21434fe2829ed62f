/**
 * IPv6 extension-header chain walker, shared by the outer header (ip.ts) and the IPv6
 * header quoted inside ICMPv6 errors (transport.ts). Results go into one preallocated
 * struct instead of a returned object, so a walk allocates nothing.
 */
import { u16, u32 } from './bytes.js';
import { R_IPV6_EXT_CHAIN_TOO_LONG, R_OK, R_TRUNCATED_IPV6_EXT } from './reasons.js';

/**
 * At most this many extension headers before the upper layer. RFC 8200 §4.1 recommends
 * each header at most once (destination options twice): hop-by-hop, dest, routing,
 * fragment, AH, ESP, dest, mobility is 8; 16 leaves room for odd but honest stacks and
 * stops crafted chains (the chain is bounded by the captured bytes too: 8+ bytes each).
 */
export const MAX_IPV6_EXT_HEADERS = 16;

/** Next-header values that are extension headers (RFC 8200 §4, RFC 4302, RFC 6275). */
const EXT_NONE = 0;
const EXT_GENERIC = 1; // (len + 1) * 8 bytes: hop-by-hop 0, routing 43, dest opts 60, mobility 135
const EXT_FRAGMENT = 2; // fixed 8 bytes: fragment 44
const EXT_AH = 3; // (len + 2) * 4 bytes: AH 51 (RFC 4302 §2.2)
const EXT_KIND = new Uint8Array(256);
EXT_KIND[0] = EXT_GENERIC;
EXT_KIND[43] = EXT_GENERIC;
EXT_KIND[60] = EXT_GENERIC;
EXT_KIND[135] = EXT_GENERIC;
EXT_KIND[44] = EXT_FRAGMENT;
EXT_KIND[51] = EXT_AH;
// HIP (139) and Shim6 (140) use the generic layout too, but nothing here needs them yet:
// as an upper-layer protocol they make a port-less flow, which is what Zeek does as well.

export class ExtWalk {
  /** Offset of the upper-layer header (or where the walk stopped). */
  offset = 0;
  /** Upper-layer protocol; on failure, the header that ran off the data. */
  proto = 0;
  /** A fragment header was seen. */
  fragment = false;
  /** Fragment offset in 8-byte units, more-fragments flag and 32-bit identification. */
  fragOffset = 0;
  fragMore = false;
  fragId = 0;
}

/** The one walk result, overwritten by every call. */
export const ext = new ExtWalk();

/**
 * Walk from `off` (just after the fixed 40-byte header) with first next-header `nh`,
 * never reading at or past `end`. A non-first fragment stops the walk: what follows it is
 * the middle of the original payload, not headers. Returns a reason index.
 */
export function walkIPv6Extensions(buf: Buffer, off: number, end: number, nh: number): number {
  ext.fragment = false;
  ext.fragOffset = 0;
  ext.fragMore = false;
  ext.fragId = 0;
  let count = 0;
  let kind = EXT_KIND[nh]!;
  while (kind !== EXT_NONE) {
    if (++count > MAX_IPV6_EXT_HEADERS) {
      ext.offset = off;
      ext.proto = nh;
      return R_IPV6_EXT_CHAIN_TOO_LONG;
    }
    // Every extension header is at least 8 bytes (RFC 8200 §4.3-4.6, RFC 4302 §2).
    if (end - off < 8) {
      ext.offset = off;
      ext.proto = nh;
      return R_TRUNCATED_IPV6_EXT;
    }
    let len: number;
    if (kind === EXT_GENERIC) len = (buf[off + 1]! + 1) << 3;
    else if (kind === EXT_AH) len = (buf[off + 1]! + 2) << 2;
    else {
      len = 8;
      const offsetFlags = u16(buf, off + 2);
      ext.fragment = true;
      ext.fragOffset = offsetFlags >>> 3;
      ext.fragMore = (offsetFlags & 1) !== 0;
      ext.fragId = u32(buf, off + 4);
      if (ext.fragOffset !== 0) {
        ext.offset = off + 8;
        ext.proto = buf[off]!;
        return R_OK;
      }
    }
    if (end - off < len) {
      ext.offset = off;
      ext.proto = nh;
      return R_TRUNCATED_IPV6_EXT;
    }
    nh = buf[off]!;
    off += len;
    kind = EXT_KIND[nh]!;
  }
  ext.offset = off;
  ext.proto = nh;
  return R_OK;
}

/**
 * RFC 2675 jumbogram: payload length 0 and the real length in the hop-by-hop Jumbo
 * Payload option (type 0xC2, data length 4). `off` is the hop-by-hop header. Returns the
 * jumbo payload length, or 0 when the option is absent or cut by the capture.
 */
export function findJumboLength(buf: Buffer, off: number, end: number): number {
  if (end - off < 8) return 0;
  let stop = off + ((buf[off + 1]! + 1) << 3);
  if (stop > end) stop = end;
  let i = off + 2;
  while (i < stop) {
    const type = buf[i]!;
    if (type === 0) { // Pad1 is the one option without a length byte (RFC 8200 §4.2)
      i++;
      continue;
    }
    if (i + 2 > stop) return 0;
    const dataLen = buf[i + 1]!;
    if (type === 0xc2 && dataLen === 4 && i + 6 <= stop) return u32(buf, i + 2);
    i += 2 + dataLen;
  }
  return 0;
}
