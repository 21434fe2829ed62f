/**
 * Worker side of read-ahead.ts: reads one file front to back into the shared chunks,
 * each as soon as the packet thread has handed it back.
 */
import fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import { C_EOF, C_ERRNO, C_LEN, C_NEXT, C_RELEASED, C_STATE, FULL, readChunk, type ReadAheadData } from './read-ahead.js';

const d = workerData as ReadAheadData;
const ctrl = new Int32Array(d.ctrl);
const chunks = d.chunks.map((b) => new Uint8Array(b));
const fd = fs.openSync(d.path, 'r');
try {
  for (;;) {
    // The next chunk nobody has claimed (the packet thread reads the first ones itself
    // while this thread starts: read-ahead.ts).
    const seq = Atomics.add(ctrl, C_NEXT, 1);
    const k = seq % chunks.length;
    // The slot's previous chunk must have been handed back (not merely read: the packet
    // thread may be reading it into the slot itself).
    for (;;) {
      const released = Atomics.load(ctrl, C_RELEASED);
      if (released > seq - chunks.length) break;
      Atomics.wait(ctrl, C_RELEASED, released);
    }
    const buf = chunks[k]!;
    const got = readChunk(fd, buf, d.start + seq * d.chunkBytes);
    Atomics.store(ctrl, C_LEN + k, got);
    Atomics.store(ctrl, C_STATE + k, FULL);
    Atomics.notify(ctrl, C_STATE + k);
    if (got < buf.length) break;
  }
} catch (e) {
  const code = (e as NodeJS.ErrnoException).errno;
  Atomics.store(ctrl, C_ERRNO, typeof code === 'number' ? -code || 1 : 1);
} finally {
  fs.closeSync(fd);
  Atomics.store(ctrl, C_EOF, 1);
  for (let k = 0; k < chunks.length; k++) Atomics.notify(ctrl, C_STATE + k);
}
