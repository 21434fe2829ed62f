/** Small integer hashes for the per-flow paths (no strings, no allocation). */

/**
 * 32-bit finaliser of MurmurHash3 (public domain): every input bit reaches every output
 * bit. Signed (int32): an unsigned result above 2^31 is a heap number in V8, one
 * allocation per call wherever the call is not inlined (flood's per-flow source hash).
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The four words of an address (IPv4 as ::ffff:a.b.c.d) folded into 32 bits. Signed (int32). */
export function addrHash32(w: Uint32Array): number {
  return fmix32(w[0]! ^ fmix32(w[1]! ^ fmix32(w[2]! ^ fmix32(w[3]!))));
}
