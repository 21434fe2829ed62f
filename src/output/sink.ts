/**
 * A buffered text output (flow log, stats) on a file or stdout, on top of sonic-boom
 * (pino's writer): it batches small writes, survives EAGAIN on pipes, can be reopened on
 * SIGHUP for logrotate, and flushes synchronously at exit so nothing buffered is lost.
 */
import fs from 'node:fs';
import path from 'node:path';
import sonicBoomModule from 'sonic-boom';
import type { SonicBoom as SonicBoomClass } from 'sonic-boom';
import { EXIT_OUTPUT, UserError } from '../util/errors.js';

// sonic-boom is CommonJS: at run time the default export is the class.
const SonicBoom = sonicBoomModule as unknown as typeof SonicBoomClass;

export class TextSink {
  readonly dest: string;
  private readonly boom: SonicBoomClass;
  /** Set when the reader of stdout went away (`| head`): further output is dropped. */
  closedByReader = false;
  /** First write error (disk full, ...), reported by the command at the end. */
  error: Error | null = null;

  constructor(dest: string) {
    this.dest = dest;
    if (dest !== '-') checkWritable(dest);
    this.boom = new SonicBoom({
      ...(dest === '-' ? { fd: 1 } : { dest, mkdir: true }),
      // 64 KiB batches: one write() syscall per few hundred flow records.
      minLength: 65536,
      sync: false,
    });
    this.boom.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closedByReader = true;
      else if (!this.error) this.error = err;
    });
  }

  write(text: string): void {
    if (this.closedByReader) return;
    this.boom.write(text);
  }

  /** logrotate moved the file: start a new one with the same name. */
  reopen(): void {
    if (this.dest !== '-') this.boom.reopen();
  }

  /** Everything written so far is handed to the kernel before this returns. */
  flushSync(): void {
    if (this.closedByReader) return;
    try {
      this.boom.flushSync();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EPIPE') this.closedByReader = true;
      else if (e.code !== 'EAGAIN' && !this.error) this.error = e;
    }
  }

  /** Flush and close; resolves once the data is written. */
  async close(): Promise<void> {
    if (this.closedByReader) return;
    await new Promise<void>((resolve) => {
      const done = (): void => resolve();
      this.boom.once('close', done);
      this.boom.once('error', done);
      try {
        this.boom.end();
      } catch {
        resolve();
      }
    });
    if (this.error) {
      throw new UserError('E_OUTPUT', `cannot write ${this.dest}: ${this.error.message}`, EXIT_OUTPUT);
    }
  }
}

/** An output path that cannot be written is reported before any packet is read. */
export function checkWritable(dest: string): void {
  const dir = path.dirname(path.resolve(dest));
  try {
    const st = fs.statSync(dest, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new UserError('E_OUTPUT', `${dest} is a directory; give a file name for the output`, EXIT_OUTPUT);
    if (st) fs.accessSync(dest, fs.constants.W_OK);
    else {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new UserError('E_OUTPUT', `cannot write ${dest}: ${e.code ?? e.message}; check the path and its permissions`, EXIT_OUTPUT);
  }
}
