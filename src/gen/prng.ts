/**
 * Seeded PRNG for the capture generators: the same seed gives the same bytes on every
 * machine and Node version, which Math.random cannot promise (V8 reseeds it per process).
 *
 * mulberry32 (Tommy Ettinger, public domain; 32-bit state, period 2^32): plenty for
 * choosing ports, sizes and timing gaps in a few million packets, and one Math.imul chain
 * per draw keeps it off the profile of a 2M-packet generator. Kept as a class with one
 * number of state so the generators' loops allocate nothing.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}
