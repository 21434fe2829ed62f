/**
 * Memory in whole huge pages: chunks of a chunked record store (the scan/p2p compact
 * stage's records, traffic.imbalance's host records) carved out of slabs, and the size
 * to give one large buffer (flood.spoofed-source's target records).
 *
 * The CLI starts node with glibc's `hugetlb` tunable and a fixed `mmap_threshold` of
 * 2 MiB (src/cli/main.ts): glibc then maps every allocation of 2 MiB and more on its own
 * and asks for transparent huge pages on it, and a first touch faults 2 MiB instead of
 * 4 KiB (a page fault is ~11 us on this VM). Two details decide whether a buffer gets
 * them:
 * - its size. A chunk of 256 records is 16 KiB to 200 KiB; each its own ArrayBuffer, it
 *   came from glibc's heap or a mapping smaller than a huge page, 4 KiB per fault. Chunks
 *   now come out of slabs of SLAB_BYTES.
 * - its mapping's length. glibc maps the request plus its 16-byte header rounded up to
 *   4 KiB, and the kernel places a mapping on a 2 MiB boundary only when its length is a
 *   multiple of 2 MiB; otherwise only the 2 MiB-aligned stretches inside it get huge
 *   pages, half of a 4 MiB one. So a buffer is a whole number of huge pages less one
 *   4 KiB page (hugeBytes).
 * In a flow-end worker, 64 MiB in 4 MiB buffers took 15,325 page faults with `hugetlb`
 * alone, 8,218 with the fixed threshold, 32 with the threshold and this size.
 *
 * A slab is touched only as its chunks are used: a replay that never fills one leaves the
 * rest unbacked without huge pages, and at most 2 MiB unused with them.
 */
const HUGE_PAGE = 2 << 20;

/** The least whole number of huge pages less 4 KiB (see above) that holds `bytes`. */
export function hugeBytes(bytes: number): number {
  return Math.max(1, Math.ceil((bytes + 4096) / HUGE_PAGE)) * HUGE_PAGE - 4096;
}

/** Two huge pages. */
export const SLAB_BYTES = hugeBytes(HUGE_PAGE + 1);

export interface SlabPiece {
  buffer: ArrayBuffer;
  byteOffset: number;
}

export class Slab {
  private buffer: ArrayBuffer | null = null;
  private used = 0;

  /** `bytes` of zeroed memory at an 8-byte aligned offset, never handed out again. */
  take(bytes: number): SlabPiece {
    const size = (bytes + 7) & ~7;
    if (size > SLAB_BYTES) return { buffer: new ArrayBuffer(hugeBytes(size)), byteOffset: 0 };
    if (this.buffer === null || this.used + size > SLAB_BYTES) {
      this.buffer = new ArrayBuffer(SLAB_BYTES);
      this.used = 0;
    }
    const piece = { buffer: this.buffer, byteOffset: this.used };
    this.used += size;
    return piece;
  }
}
