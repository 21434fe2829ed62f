/**
 * Big-endian reads straight from the capture buffer. Callers check bounds first: past the
 * end `buf[i]` is `undefined` and the arithmetic turns silently into 0/NaN, so every
 * decoder compares against `end` before it reads (never Buffer.readUInt*, which throws).
 * Small functions like these are inlined by V8's optimiser, so they cost no call.
 */
export function u16(buf: Buffer, i: number): number {
  return (buf[i]! << 8) | buf[i + 1]!;
}

export function u32(buf: Buffer, i: number): number {
  return ((buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) >>> 0;
}

/**
 * The same 32 bits as a signed int32, for stores into a Uint32Array (which keeps the bits).
 * Why not u32: a uint32 >= 2^31 is not a small integer, so V8 boxes it in a fresh
 * HeapNumber wherever the value is not inlined straight into the store; measured on the
 * bench captures, that was about 20 bytes of garbage per packet (a scavenge every 6 ms).
 */
export function i32(buf: Buffer, i: number): number {
  return (buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!;
}

/** Four address words from 16 bytes at `i` (IPv6). */
export function readAddr6(buf: Buffer, i: number, words: Uint32Array): void {
  words[0] = i32(buf, i);
  words[1] = i32(buf, i + 4);
  words[2] = i32(buf, i + 8);
  words[3] = i32(buf, i + 12);
}

/** IPv4 address at `i` as the IPv4-mapped IPv6 form ::ffff:a.b.c.d (see packet.ts). */
export function readAddr4(buf: Buffer, i: number, words: Uint32Array): void {
  words[0] = 0;
  words[1] = 0;
  words[2] = 0xffff;
  words[3] = i32(buf, i);
}

export function clearAddr(words: Uint32Array): void {
  words[0] = 0;
  words[1] = 0;
  words[2] = 0;
  words[3] = 0;
}
