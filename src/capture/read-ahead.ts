/**
 * Reading a big plain capture file on a second thread: a worker fills a ring of shared
 * 8 MiB chunks with fs.readSync while the packet thread parses the chunk before, in place
 * (Feeder.feed: no copy but a record that straddles two chunks). A read from the page
 * cache is a kernel copy of every byte: on the 1.46 GB mix bench 0.27-0.36 s of system
 * time of the packet thread's ~1.1 s, which this moves to the other core. Measured end to
 * end (whole replay in-process, alternating pairs): 5-10 % faster in 7 of 8 pairs, the
 * eighth a tie; the other core is shared with the flow-end worker.
 *
 * Protocol per chunk k (Int32Array ctrl): C_STATE+k is FREE (the reader may fill it) or
 * FULL (C_LEN+k bytes for the parser); each side waits on the other with Atomics.wait and
 * wakes it with Atomics.notify. C_EOF: the reader is done (end of file or error, C_ERRNO).
 */
import { Worker } from 'node:worker_threads';

export const FREE = 0;
export const FULL = 1;
export const READ_AHEAD_CHUNKS = 3;
export const C_STATE = 0;
export const C_LEN = READ_AHEAD_CHUNKS;
export const C_EOF = 2 * READ_AHEAD_CHUNKS;
export const C_ERRNO = C_EOF + 1;
const CTRL_INTS = C_ERRNO + 1;

export interface ReadAheadData {
  path: string;
  start: number;
  ctrl: SharedArrayBuffer;
  chunks: SharedArrayBuffer[];
}

export class ReadAhead {
  private readonly ctrl: Int32Array;
  private readonly chunks: Buffer[];
  private readonly worker: Worker;
  private next = 0;
  private holding = -1;

  constructor(path: string, start: number, chunkBytes: number) {
    const ctrl = new SharedArrayBuffer(CTRL_INTS * 4);
    const sabs = Array.from({ length: READ_AHEAD_CHUNKS }, () => new SharedArrayBuffer(chunkBytes));
    this.ctrl = new Int32Array(ctrl);
    this.chunks = sabs.map((b) => Buffer.from(b));
    const data: ReadAheadData = { path, start, ctrl, chunks: sabs };
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
      Atomics.notify(ctrl, C_STATE + this.holding);
      this.holding = -1;
    }
    const k = this.next;
    while (Atomics.load(ctrl, C_STATE + k) !== FULL) {
      if (Atomics.load(ctrl, C_EOF) === 1 && Atomics.load(ctrl, C_STATE + k) !== FULL) {
        const errno = Atomics.load(ctrl, C_ERRNO);
        if (errno !== 0) throw Object.assign(new Error(`read failed (errno ${errno})`), { errno: -errno });
        return this.chunks[k]!.subarray(0, 0);
      }
      Atomics.wait(ctrl, C_STATE + k, FREE, 100);
    }
    this.holding = k;
    this.next = (k + 1) % READ_AHEAD_CHUNKS;
    return this.chunks[k]!.subarray(0, Atomics.load(ctrl, C_LEN + k));
  }

  close(): void {
    void this.worker.terminate();
  }
}
