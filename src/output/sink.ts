/**
 * A buffered text output (flow log, stats) on a file or stdout. Records are joined into
 * one string and written with fs.writeSync once 256 KiB have gathered: a flow sink sees
 * one call per flow, and batching keeps that to one syscall per ~600 records. (sonic-boom
 * was tried first: with 64 KiB batches it spent 4 s on 10,000 records here, re-slicing its
 * pending string on every write; this loop writes the same in ~10 ms.)
 *
 * Synchronous writes mean that what `flushSync` returned from is in the kernel: nothing
 * buffered is lost at exit or on SIGTERM. A reader that goes away (`| head`) sets
 * `closedByReader` and later output is dropped quietly; any other write error (disk full)
 * is kept and reported by `close()` as a one-line UserError.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EXIT_OUTPUT, UserError } from '../util/errors.js';

const BATCH_CHARS = 256 * 1024;

export class TextSink {
  readonly dest: string;
  private fd: number;
  private pending = '';
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
    this.pending += text;
    if (this.pending.length >= BATCH_CHARS) this.flushSync();
  }

  /** Everything written so far is handed to the kernel before this returns. */
  flushSync(): void {
    if (this.pending.length === 0 || this.closedByReader || this.error) return;
    const buf = Buffer.from(this.pending, 'utf8');
    this.pending = '';
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
    return fs.openSync(dest, append ? 'a' : 'w');
  } catch (err) {
    throw new UserError('E_OUTPUT', `cannot write the ${what} ${dest}: ${whyNotWritable(err as NodeJS.ErrnoException)}; ${hint}`, EXIT_OUTPUT);
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
