/**
 * CIDR lists (localNetworks, allowSources, ...) parsed once at start into numeric ranges,
 * then matched without allocation for IPv4 text. Parsing and validation use ipaddr.js
 * (a well-kept library, ~300M downloads) rather than a home-made parser, so odd forms
 * such as "10.0.0.0/33" or "fe80::/129" are rejected the same way everywhere.
 */
import ipaddr from 'ipaddr.js';
import { parseAddr } from '../util/ip.js';

export interface ParsedCidr {
  ipVersion: 4 | 6;
  /** Network address as four 32-bit words (IPv4 in words[3]), host bits cleared. */
  words: Uint32Array;
  prefixLength: number;
}

/**
 * "10.0.0.0/8", "fc00::/7", or a bare address (taken as /32 or /128). Returns null when
 * the text is not one of these. IPv4 must be four-part decimal: ipaddr.js would also take
 * "10.1" or "0x0a.0.0.1", which nobody means in a config file.
 */
export function parseCidr(text: string): ParsedCidr | null {
  if (typeof text !== 'string') return null;
  const t = text.trim();
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let prefixLength: number;
  if (t.includes('/')) {
    if (ipaddr.IPv4.isValidCIDRFourPartDecimal(t)) {
      [addr, prefixLength] = ipaddr.IPv4.parseCIDR(t);
    } else if (ipaddr.IPv6.isValidCIDR(t)) {
      [addr, prefixLength] = ipaddr.IPv6.parseCIDR(t);
    } else return null;
  } else if (ipaddr.IPv4.isValidFourPartDecimal(t)) {
    addr = ipaddr.IPv4.parse(t);
    prefixLength = 32;
  } else if (ipaddr.IPv6.isValid(t) && !t.includes('%')) {
    addr = ipaddr.IPv6.parse(t);
    prefixLength = 128;
  } else return null;

  const words = new Uint32Array(4);
  let ipVersion: 4 | 6;
  if (addr.kind() === 'ipv4') {
    ipVersion = 4;
    const o = (addr as ipaddr.IPv4).octets;
    words[2] = 0xffff;
    words[3] = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
    words[3] = (words[3]! & maskWord(prefixLength)) >>> 0;
  } else {
    ipVersion = 6;
    const p = (addr as ipaddr.IPv6).parts;
    for (let i = 0; i < 4; i++) {
      const w = ((p[2 * i]! << 16) | p[2 * i + 1]!) >>> 0;
      words[i] = (w & maskWord(prefixLength - 32 * i)) >>> 0;
    }
  }
  return { ipVersion, words, prefixLength };
}

/** Mask for one 32-bit word when `bits` (may be <= 0 or > 32) of it are network bits. */
function maskWord(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function isCidr(text: string): boolean {
  return parseCidr(text) !== null;
}

/**
 * A set of CIDRs. IPv4 ranges are merged and kept sorted in typed arrays for a binary
 * search; IPv6 prefixes are few in practice (a site's /48s) and scanned linearly.
 */
export class CidrMatcher {
  private readonly v4Lo: Float64Array;
  private readonly v4Hi: Float64Array;
  private readonly v6Words: Uint32Array;
  private readonly v6Masks: Uint32Array;
  private readonly v6Count: number;
  /** Scratch for IPv6 text parsing; reused so matching keeps no state between calls. */
  private readonly scratch = new Uint32Array(4);

  constructor(cidrs: readonly string[]) {
    const v4: [number, number][] = [];
    const v6: ParsedCidr[] = [];
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (!c) throw new Error(`not a CIDR: ${text}`); // config validation runs first
      if (c.ipVersion === 4) {
        const lo = c.words[3]!;
        const size = 2 ** (32 - c.prefixLength);
        v4.push([lo, lo + size - 1]);
      } else v6.push(c);
    }
    v4.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of v4) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.v4Lo = Float64Array.from(merged, (r) => r[0]);
    this.v4Hi = Float64Array.from(merged, (r) => r[1]);
    this.v6Count = v6.length;
    this.v6Words = new Uint32Array(4 * v6.length);
    this.v6Masks = new Uint32Array(4 * v6.length);
    v6.forEach((c, i) => {
      for (let w = 0; w < 4; w++) {
        this.v6Words[4 * i + w] = c.words[w]!;
        this.v6Masks[4 * i + w] = maskWord(c.prefixLength - 32 * w);
      }
    });
  }

  get empty(): boolean {
    return this.v4Lo.length === 0 && this.v6Count === 0;
  }

  /** IPv4 address as an unsigned 32-bit number. */
  matchV4(addr: number): boolean {
    const lo = this.v4Lo;
    let a = 0;
    let b = lo.length - 1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (addr < lo[m]!) b = m - 1;
      else if (addr > this.v4Hi[m]!) a = m + 1;
      else return true;
    }
    return false;
  }

  /** Four address words as in DecodedPacket/FlowRecord (IPv4 in words[3]). */
  matchWords(words: Uint32Array, ipVersion: number): boolean {
    if (ipVersion === 4) return this.matchV4(words[3]!);
    for (let i = 0; i < this.v6Count; i++) {
      const o = 4 * i;
      if (
        ((words[0]! & this.v6Masks[o]!) >>> 0) === this.v6Words[o] &&
        ((words[1]! & this.v6Masks[o + 1]!) >>> 0) === this.v6Words[o + 1] &&
        ((words[2]! & this.v6Masks[o + 2]!) >>> 0) === this.v6Words[o + 2] &&
        ((words[3]! & this.v6Masks[o + 3]!) >>> 0) === this.v6Words[o + 3]
      ) return true;
    }
    return false;
  }

  /**
   * Address in text form (FlowRecord.srcIp). IPv4 is parsed with a char-code loop (no
   * regex, no allocation) because detectors call this once or twice per flow; IPv6 goes
   * through util/ip parseAddr. Anything that is not an address is not matched.
   */
  matchText(ip: string): boolean {
    const v4 = parseV4Text(ip);
    if (v4 >= 0) return this.matchV4(v4);
    if (this.v6Count === 0) return false;
    const version = parseAddr(ip, this.scratch);
    return version === 6 && this.matchWords(this.scratch, 6);
  }
}

/** Dotted-quad text -> unsigned 32-bit value, or -1. */
export function parseV4Text(s: string): number {
  const n = s.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}
