import { describe, expect, it } from 'vitest';
import { hugeBytes, Slab, SLAB_BYTES } from '../../src/util/slab.js';

const MiB = 1 << 20;

describe('hugeBytes', () => {
  it('is the least whole number of 2 MiB pages less 4 KiB that holds the bytes', () => {
    for (const [bytes, want] of [
      [1, 2 * MiB - 4096],
      [2 * MiB - 4096, 2 * MiB - 4096],
      [2 * MiB - 4095, 4 * MiB - 4096],
      [5_120_512, 6 * MiB - 4096], // flood's 10,001 target records
    ] as const) {
      expect(hugeBytes(bytes), String(bytes)).toBe(want);
    }
    expect(SLAB_BYTES).toBe(4 * MiB - 4096);
  });
});

describe('Slab', () => {
  it('hands out aligned, zeroed pieces that never overlap, a new slab when one is full', () => {
    const slab = new Slab();
    const pieces = [];
    // Odd sizes, including one larger than a slab (its own buffer).
    for (const bytes of [133_120, 12, 16_384, 196_608, 5 * MiB, 1_000_001, ...Array<number>(40).fill(133_120)]) {
      const p = slab.take(bytes);
      expect(p.byteOffset % 8).toBe(0);
      expect(p.byteOffset + bytes).toBeLessThanOrEqual(p.buffer.byteLength);
      const view = new Uint8Array(p.buffer, p.byteOffset, bytes);
      expect(view.every((b) => b === 0)).toBe(true);
      view.fill(0xab);
      pieces.push({ ...p, bytes });
    }
    for (const a of pieces) {
      for (const b of pieces) {
        if (a === b || a.buffer !== b.buffer) continue;
        expect(a.byteOffset + a.bytes <= b.byteOffset || b.byteOffset + b.bytes <= a.byteOffset).toBe(true);
      }
    }
    const buffers = new Set(pieces.map((p) => p.buffer));
    expect(buffers.size).toBeGreaterThan(2);
    for (const b of buffers) expect([SLAB_BYTES, hugeBytes(5 * MiB)]).toContain(b.byteLength);
  });
});
