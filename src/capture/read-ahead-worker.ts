/**
 * Worker side of read-ahead.ts: reads one file front to back into the shared chunks,
 * each as soon as the packet thread has handed it back.
 */
import fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import { C_EOF, C_ERRNO, C_LEN, C_STATE, FULL, FREE, type ReadAheadData } from './read-ahead.js';

const d = workerData as ReadAheadData;
const ctrl = new Int32Array(d.ctrl);
const chunks = d.chunks.map((b) => new Uint8Array(b));
const fd = fs.openSync(d.path, 'r');
let position = d.start;
try {
  for (let k = 0; ; k = (k + 1) % chunks.length) {
    while (Atomics.load(ctrl, C_STATE + k) !== FREE) Atomics.wait(ctrl, C_STATE + k, FULL);
    const buf = chunks[k]!;
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, position);
      if (n === 0) break;
      got += n;
      position += n;
    }
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
