/**
 * Mutations of capture bytes for the fuzz tests and `npm run fuzz`: the kinds of damage
 * that real broken captures show (tcpdump's CVE reproducers and libpcap's bad-header tests
 * in ../shared/captures/malformed are mostly one of these) applied to real captures, so
 * that most cases get past the file header into the record and packet parsers.
 *
 * - flip one bit, or set one byte;
 * - write an "interesting" 16/32-bit value (0, 1, 0x7fff..., 0xffff..., just over common
 *   limits) in either byte order: record and block lengths, IHL/total length, ports;
 * - cut the file short; delete, duplicate or insert a run of bytes (framing shifts).
 *
 * Set-up and test code: allocating per case here is fine (the hot path is what is fuzzed).
 */
import fc from 'fast-check';

/** 16/32-bit values that sit on parser limits: zero, one, sign bits, all ones, pcap snaplen. */
export const INTERESTING_U32 = [
  0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 20, 24, 28, 32, 40, 60, 64, 127, 128, 255, 256, 1500, 1514, 4096,
  0x7fff, 0x8000, 0xffff, 0x10000, 262144, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
] as const;

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'word'; at: number; value: number; size: 2 | 4; le: boolean }
  | { kind: 'cut'; at: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'dup'; at: number; len: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('word' as const),
      at: fc.nat(),
      value: fc.oneof(fc.constantFrom(...INTERESTING_U32), fc.nat()),
      size: fc.constantFrom(2 as const, 4 as const),
      le: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 256 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }) },
);

/**
 * Apply mutations to a copy of `seed`. Offsets are taken modulo the current length, and
 * from `keep` on when `keep` is below the length (keep = the file header's size: damage
 * then lands in records and packets, which is where most parser code is).
 */
export function mutate(seed: Uint8Array, muts: readonly Mutation[], keep = 0): Uint8Array {
  let b = Uint8Array.from(seed);
  const pos = (at: number): number => {
    const lo = keep < b.length ? keep : 0;
    return lo + (at % Math.max(1, b.length - lo));
  };
  for (const m of muts) {
    if (b.length === 0) break;
    const at = pos(m.at);
    switch (m.kind) {
      case 'flip':
        b[at]! ^= 1 << m.bit;
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'word': {
        const v = m.size === 2 ? m.value & 0xffff : m.value >>> 0;
        for (let i = 0; i < m.size && at + i < b.length; i++) {
          const shift = 8 * (m.le ? i : m.size - 1 - i);
          b[at + i] = (v >>> shift) & 0xff;
        }
        break;
      }
      case 'cut':
        b = b.subarray(0, at);
        break;
      case 'delete': {
        const out = new Uint8Array(b.length - Math.min(m.len, b.length - at));
        out.set(b.subarray(0, at));
        out.set(b.subarray(at + m.len), at);
        b = out;
        break;
      }
      case 'dup': {
        const piece = b.subarray(at, at + m.len);
        const out = new Uint8Array(b.length + piece.length);
        out.set(b.subarray(0, at + piece.length));
        out.set(piece, at + piece.length);
        out.set(b.subarray(at + piece.length), at + 2 * piece.length);
        b = out;
        break;
      }
      case 'insert': {
        const out = new Uint8Array(b.length + m.bytes.length);
        out.set(b.subarray(0, at));
        out.set(m.bytes, at);
        out.set(b.subarray(at), at + m.bytes.length);
        b = out;
        break;
      }
    }
  }
  return b;
}

/** Size of the file header a mutation may be told to keep: pcap 24 bytes; pcapng the first SHB. */
export function headerBytes(b: Uint8Array): number {
  if (b.length >= 12 && b[0] === 0x0a && b[1] === 0x0d && b[2] === 0x0d && b[3] === 0x0a) {
    const le = b[8] === 0x4d;
    const len = le ? b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24) : (b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!;
    return Math.min(b.length, len >>> 0);
  }
  return Math.min(b.length, 24);
}
