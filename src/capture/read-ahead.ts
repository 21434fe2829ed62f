/**
 * Reading a big plain capture file on a second thread: a worker fills a ring of shared
 * chunks (READ_AHEAD_CHUNK_BYTES) with fs.readSync while the packet thread parses the chunk before, in place
 * (Feeder.feed: no copy but a record that straddles two chunks). A read from the page
 * cache is a kernel copy of every byte: on the 1.46 GB mix bench 0.27-0.36 s of system
 * time of the packet thread's ~1.1 s, which this moves to the other core. Measured end to
 * end (whole replay in-process, alternating pairs): 5-10 % faster in 7 of 8 pairs, the
 * eighth a tie; the other core is shared with the flow-end worker.
 *
 * Protocol: the file is cut into chunks of `chunkBytes`; chunk number `seq` lives in ring
 * slot seq % READ_AHEAD_CHUNKS. Whoever fills a chunk first claims its number with
 * Atomics on C_NEXT: the reader thread takes the next number each time; the packet thread
 * takes the one it is waiting for when nobody has claimed it yet, that is while the
 * reader thread is still starting (~40-60 ms of Node worker start-up, which the packet
 * thread used to spend waiting for the first chunk: ~60 ms of every big replay) and
 * reads it itself. A slot is filled with chunk seq only once chunk seq - READ_AHEAD_CHUNKS
 * has been handed back (C_RELEASED counts the chunks handed back): checking that the slot
 * is not FULL is not enough, as the packet thread may still be reading the chunk before
 * into it. Per slot k (Int32Array ctrl): C_STATE+k is FULL when C_LEN+k bytes wait for
 * the parser, FREE otherwise; each side waits on the other with Atomics.wait and wakes it
 * with Atomics.notify. C_EOF: the reader thread is done (end of file or error, C_ERRNO).
 * A chunk shorter than chunkBytes is the file's last.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';

export const FREE = 0;
export const FULL = 1;
export const READ_AHEAD_CHUNKS = 3;
/**
 * 1 MiB chunks, so the packet thread parses bytes the reader thread wrote moments ago
 * (still in a shared cache) rather than from memory: reading and decoding the 1.46 GB mix
 * bench on the packet thread took 332-339 ms (best of 6) with 8 MiB chunks, 226 ms with
 * 1 or 2 MiB, 240 ms with 4 MiB (medians 409-489 / 250-294 / 325 ms).
 */
export const READ_AHEAD_CHUNK_BYTES = 1024 * 1024;
export const C_STATE = 0;
export const C_LEN = READ_AHEAD_CHUNKS;
export const C_EOF = 2 * READ_AHEAD_CHUNKS;
export const C_ERRNO = C_EOF + 1;
/** The next chunk number nobody has claimed. */
export const C_NEXT = C_ERRNO + 1;
/** Chunks the packet thread has handed back. */
export const C_RELEASED = C_NEXT + 1;
const CTRL_INTS = C_RELEASED + 1;

export interface ReadAheadData {
  path: string;
  start: number;
  chunkBytes: number;
  ctrl: SharedArrayBuffer;
  chunks: SharedArrayBuffer[];
}

export class ReadAhead {
  private readonly ctrl: Int32Array;
  private readonly chunks: Buffer[];
  private readonly worker: Worker;
  private readonly fd: number;
  /** The number of the chunk take() hands out next. */
  private seq = 0;
  private holding = -1;

  /**
   * Opens the file here too (a missing file throws now, with its errno). `selfChunks`:
   * read at most the first this many chunks on this thread (tests force either side).
   */
  constructor(path: string, private readonly start: number, private readonly chunkBytes: number, private readonly selfChunks = Infinity) {
    this.fd = fs.openSync(path, 'r');
    const ctrl = new SharedArrayBuffer(CTRL_INTS * 4);
    const sabs = Array.from({ length: READ_AHEAD_CHUNKS }, () => new SharedArrayBuffer(chunkBytes));
    this.ctrl = new Int32Array(ctrl);
    this.chunks = sabs.map((b) => Buffer.from(b));
    const data: ReadAheadData = { path, start, chunkBytes, ctrl, chunks: sabs };
    this.worker = new Worker(new URL('./read-ahead-worker.js', import.meta.url), { workerData: data });
    this.worker.unref();
  }

  /**
   * The next chunk of the file, handing the previous one back to the reader; an empty
   * chunk at the end. Throws the reader's errno as an Error with `code`-less errno.
   */
  take(): Buffer {
    const ctrl = this.ctrl;
    if (this.holding >= 0) {
      Atomics.store(ctrl, C_STATE + this.holding, FREE);
      Atomics.add(ctrl, C_RELEASED, 1);
      Atomics.notify(ctrl, C_RELEASED);
      this.holding = -1;
    }
    const seq = this.seq;
    const k = seq % READ_AHEAD_CHUNKS;
    if (seq < this.selfChunks && Atomics.load(ctrl, C_STATE + k) !== FULL && Atomics.compareExchange(ctrl, C_NEXT, seq, seq + 1) === seq) {
      // Nobody claimed this chunk: the reader thread is not running yet. Its slot is free:
      // this thread handed back chunk seq - READ_AHEAD_CHUNKS, and the reader thread will
      // not fill it with seq + READ_AHEAD_CHUNKS before this one is handed back.
      this.fill(k, seq);
    }
    while (Atomics.load(ctrl, C_STATE + k) !== FULL) {
      if (Atomics.load(ctrl, C_EOF) === 1 && Atomics.load(ctrl, C_STATE + k) !== FULL) {
        const errno = Atomics.load(ctrl, C_ERRNO);
        if (errno !== 0) throw readFailed(-errno);
        return this.chunks[k]!.subarray(0, 0);
      }
      Atomics.wait(ctrl, C_STATE + k, FREE, 100);
    }
    this.holding = k;
    this.seq = seq + 1;
    return this.chunks[k]!.subarray(0, Atomics.load(ctrl, C_LEN + k));
  }

  /** Read chunk `seq` into slot k here, as the reader thread would. */
  private fill(k: number, seq: number): void {
    let got: number;
    try {
      got = readChunk(this.fd, this.chunks[k]!, this.start + seq * this.chunkBytes);
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).errno;
      throw readFailed(typeof errno === 'number' ? errno : -1);
    }
    Atomics.store(this.ctrl, C_LEN + k, got);
    Atomics.store(this.ctrl, C_STATE + k, FULL);
  }

  close(): void {
    fs.closeSync(this.fd);
    void this.worker.terminate();
  }
}

/**
 * What take() throws when a read fails, on either thread: `errno` as Node gives it
 * (negative; the reader thread stores it negated in C_ERRNO).
 */
function readFailed(errno: number): Error {
  return Object.assign(new Error(`read failed (errno ${errno})`), { errno });
}

/** Fill `buf` from `position` (fewer bytes only at the end of the file); the byte count. */
export function readChunk(fd: number, buf: Uint8Array, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = fs.readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}
