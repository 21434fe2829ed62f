/**
 * A buffered text output (flow log, stats) on a file or stdout. Output gathers as bytes in
 * one reused buffer and is written with fs.writeSync once 256 KiB have gathered: a flow
 * sink sees one call per flow, and batching keeps that to one syscall per ~600 records.
 * (sonic-boom was tried first: with 64 KiB batches it spent 4 s on 10,000 records here,
 * re-slicing its pending string on every write; this loop writes the same in ~10 ms.)
 *
 * Two ways in: `write(text)` encodes a string into the buffer, and byte writers fill it in
 * place (`reserve`, write from `length`, `commit`). The flow writers use the second: the
 * sink used to join record strings and encode 256 KiB at a time, and building, flattening
 * and encoding those strings was most of the ~2 us a record cost (full churn bench, 1M
 * records, 387 MB: 2.0 s of CPU for the flow output, 0.42 s written in place). Batches of
 * 64 KiB or 1 MiB measured the same as 256 KiB.
 *
 * Synchronous writes mean that what `flushSync` returned from is in the kernel: nothing
 * buffered is lost at exit or on SIGTERM. A reader that goes away (`| head`) sets
 * `closedByReader` and later output is dropped quietly; any other write error (disk full)
 * is kept and reported by `close()` as a one-line UserError.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EXIT_OUTPUT, UserError } from '../util/errors.js';

const BATCH_BYTES = 256 * 1024;
/** Room past BATCH_BYTES, so a record started below it always fits without a flush. */
const SLACK_BYTES = 64 * 1024;

export class TextSink {
  readonly dest: string;
  private fd: number;
  /**
   * What has gathered since the last flush: `bytes[0, length)`. Byte writers (the flow
   * writers) fill it in place: reserve(n), write from `length`, commit(end).
   */
  bytes: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES + SLACK_BYTES);
  length = 0;
  closedByReader = false;
  error: NodeJS.ErrnoException | null = null;

  constructor(dest: string, options: { append?: boolean } = {}) {
    this.dest = dest;
    if (dest === '-') {
      this.fd = 1;
    } else {
      this.fd = openOutputFile(dest, options.append === true, 'output');
    }
  }

  write(text: string): void {
    if (this.closedByReader || this.error) return;
    const most = text.length * 3; // UTF-8 bytes at most
    if (most > this.bytes.length - this.length) {
      this.flushSync();
      if (most > this.bytes.length) {
        this.writeOut(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.length += this.bytes.write(text, this.length);
    if (this.length >= BATCH_BYTES) this.flushSync();
  }

  /**
   * Make room for up to `n` bytes at `bytes[length]` (flushing first if needed). False
   * when output is being dropped (the reader went away, or a write failed): skip the write.
   */
  reserve(n: number): boolean {
    if (this.closedByReader || this.error) return false;
    if (n > this.bytes.length - this.length) {
      this.flushSync();
      if (n > this.bytes.length) this.bytes = Buffer.allocUnsafeSlow(n);
    }
    return true;
  }

  /** The bytes up to `end` (written after reserve) are part of the output. */
  commit(end: number): void {
    this.length = end;
    if (end >= BATCH_BYTES) this.flushSync();
  }

  /** Everything written so far is handed to the kernel before this returns. */
  flushSync(): void {
    if (this.length === 0) return;
    const n = this.length;
    this.length = 0;
    if (this.closedByReader || this.error) return;
    this.writeOut(this.bytes.subarray(0, n));
  }

  private writeOut(buf: Uint8Array): void {
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(this.fd, buf, off, buf.length - off);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EAGAIN') continue; // non-blocking pipe full: the reader catches up
        if (e.code === 'EPIPE') this.closedByReader = true;
        else this.error = e;
        return;
      }
    }
  }

  /** logrotate moved the file: flush into the old one, then start a new one with the same name. */
  reopen(): void {
    if (this.dest === '-') return;
    this.flushSync();
    const old = this.fd;
    this.fd = fs.openSync(this.dest, 'a');
    fs.closeSync(old);
  }

  /** Flush and close; a write failure becomes a one-line UserError naming the output. */
  async close(): Promise<void> {
    this.flushSync();
    if (this.dest !== '-') {
      try {
        fs.closeSync(this.fd);
      } catch (err) {
        this.error ??= err as NodeJS.ErrnoException;
      }
    }
    if (this.error) {
      throw new UserError('E_OUTPUT', `cannot write ${this.dest}: ${whyNotWritable(this.error)}`, EXIT_OUTPUT);
    }
  }
}

/** Why an output cannot be written, in words (errno codes mean little to an operator). */
function whyNotWritable(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'it is a directory';
    case 'ENOTDIR': return 'a parent is not a directory';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'ENOENT': return 'its folder does not exist and cannot be created there';
    default: return e.code ?? e.message;
  }
}

/**
 * Create the missing folders of `dir` one level at a time, top down. Node 20's
 * mkdirSync({recursive: true}) spins forever where a parent exists but a child cannot be
 * made there (e.g. under /proc); one level at a time, that is an ENOENT we can report.
 */
function makeParents(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (let i = missing.length - 1; i >= 0; i--) fs.mkdirSync(missing[i]!);
}

/**
 * Open an output file (parent folders created), replacing it or appending. Failing here,
 * before any packet is read, is the point: one line naming the file and what to do.
 * `what` names the output in the message ("alert log", "output").
 */
export function openOutputFile(dest: string, append: boolean, what: string, hint = 'check the path and its permissions'): number {
  try {
    makeParents(path.dirname(path.resolve(dest)));
    if (!append) replaceNotTruncate(dest);
    return fs.openSync(dest, append ? 'a' : 'w');
  } catch (err) {
    throw new UserError('E_OUTPUT', `cannot write the ${what} ${dest}: ${whyNotWritable(err as NodeJS.ErrnoException)}; ${hint}`, EXIT_OUTPUT);
  }
}

/**
 * A replay's output replaces an existing regular file by a new one (unlink, then create)
 * rather than truncating it: on ext4 (auto_da_alloc) a file truncated and written again
 * is forced to disk when it is closed, 134 ms for the 380 MB flow log of the churn bench,
 * where a new file closes at once. Anything else (a device such as /dev/null, a FIFO, a
 * symlink, a folder we may not unlink in) is opened as before.
 *
 * Freeing the old file's blocks is left to libuv's thread pool: the file is held open
 * across the unlink, so the unlink only drops the name, and the blocks go when that
 * descriptor is closed there (or at exit). On this VM's ext4, mounted with `discard`,
 * unlinking the churn bench's 388 MB flow log once it is on disk took 180 ms of waiting
 * (0.03 s of CPU), at the start of the flow-end worker that writes the flow log; a
 * bigger old file takes longer still.
 */
function replaceNotTruncate(dest: string): void {
  let old = -1;
  try {
    if (!fs.lstatSync(dest).isFile()) return;
    try {
      old = fs.openSync(dest, 'r');
    } catch {
      // not readable: unlinked here, blocks and all
    }
    fs.unlinkSync(dest);
  } catch {
    // absent, or not ours to unlink: the 'w' open below truncates or explains
  } finally {
    if (old >= 0) fs.close(old, () => {});
  }
}

/**
 * An output written only at the end (--stats) is checked before any packet is read,
 * without creating it yet.
 */
export function checkWritable(dest: string): void {
  try {
    const st = fs.statSync(dest, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st) fs.accessSync(dest, fs.constants.W_OK);
    else {
      const dir = path.dirname(path.resolve(dest));
      makeParents(dir);
      fs.accessSync(dir, fs.constants.W_OK);
    }
  } catch (err) {
    throw new UserError('E_OUTPUT', `cannot write the output ${dest}: ${whyNotWritable(err as NodeJS.ErrnoException)}; check the path and its permissions`, EXIT_OUTPUT);
  }
}
