/**
 * Replay source: one or more capture files (pcap, pcapng, or either gzip-compressed) read
 * in order as one packet stream.
 *
 * Every file is opened and its header checked in `openCaptureFiles`, before any packet is
 * delivered, so a typo in the fifth path fails at once instead of after an hour of replay.
 * Then `run` reads each file in large chunks into one reused buffer and lets the format's
 * parser walk the records in place. Figures behind the design (STYLE.md, this machine):
 * fs.readSync of a 1.6 GB capture in 8 MB chunks is about 0.8 s, the floor for a replay;
 * pcap-parser, which slices a Buffer and emits an object per packet, is about 6x slower.
 */
import fs from 'node:fs';
import { pipeline } from 'node:stream';
import zlib from 'node:zlib';
import type { CaptureFormat } from './format.js';
import { detectFormat, isGzip, userInputError } from './format.js';
import type { RecordParser } from './parser.js';
import { PcapParser } from './pcap.js';
import { PcapngParser } from './pcapng.js';
import type { PacketHandler, PacketSource, SourceWarning } from './source.js';

/**
 * Read chunks, into one buffer reused for the whole run. 1 MiB, not the 8 MiB of before:
 * each page of the buffer costs a page fault the first time it is written (~11 us on the
 * session 7-9 VM, bench/RESULTS.md "Page faults"), and a 30 MB capture (25,000 real
 * packets) made ~2,000 more of them with 8 MiB: 9,100-12,100 -> 7,200-7,300 faults per
 * replay, 0.38-0.40 -> 0.31-0.34 s (4 alternating runs). 30 reads instead of 4 are noise.
 *
 * Every file is read on the packet thread. Files from 32 MB were read on a second thread
 * into shared chunks (sessions 3-10); on the session 11 VM that thread cost more than the
 * reads it took over (its start-up, the hand-over, each chunk written on one core and
 * parsed on the other, and one more thread on two cores): alternating replays, median,
 * real bench 0.97 -> 0.87 s (10 rounds, faster in 9), header-only 0.89 -> 0.82 (8),
 * mix 1.01 -> 0.99 (8), churn 4.06 -> 4.03 (8); 300,000 and 600,000 real packets (197,
 * 403 MB) 545 -> 490 and 662 -> 581 ms; the real bench read from disk after dropping the
 * page cache 1.43-1.55 -> 1.12-1.42 s (3 rounds): the kernel's own read-ahead keeps up.
 */
export const CHUNK_BYTES = 1024 * 1024;
/** Bytes read to identify a file. */
const SNIFF_BYTES = 64 * 1024;
/** Compressed bytes inflated at open to check a gzip file's inner header. */
const GZIP_SNIFF_BYTES = 1024 * 1024;
/** gunzip output chunk: fewer, larger pushes into the parser than zlib's 16 KiB default. */
const GUNZIP_CHUNK_BYTES = 256 * 1024;

interface CheckedFile {
  path: string;
  /** Size on disk (compressed size for gzip). */
  size: number;
  gzip: boolean;
  format: CaptureFormat;
}

function makeParser(name: string, format: CaptureFormat): RecordParser {
  return format.kind === 'pcap' ? new PcapParser(name, format) : new PcapngParser(name, format);
}

/** A growable chunk buffer shared by every file of a source (one allocation per run). */
interface ChunkBuffer {
  buf: Buffer;
}

/**
 * Feeds bytes to one file's parser: keeps the unparsed tail of a chunk by moving it to the
 * front of the buffer, and grows the buffer when one record is bigger than it.
 */
class Feeder {
  /** Bytes of content in `chunk.buf[0, filled)`. */
  private filled = 0;
  /** Content offset of `chunk.buf[0]` (for "at byte N" in messages). */
  private base = 0;

  constructor(
    private readonly chunk: ChunkBuffer,
    readonly parser: RecordParser,
    private readonly name: string,
  ) {}

  /** Where the next bytes go and how many fit; always at least one byte after `commit`. */
  get writeAt(): number {
    return this.filled;
  }

  get room(): number {
    return this.chunk.buf.length - this.filled;
  }

  /** `n` more bytes were written at `writeAt`: parse. False once the file cannot go on. */
  commit(n: number, onPacket: PacketHandler): boolean {
    this.filled += n;
    const buf = this.chunk.buf;
    const pos = this.parser.parse(buf, 0, this.filled, this.base, onPacket);
    if (this.parser.damaged !== null) return false;
    const left = this.filled - pos;
    if (left > 0 && pos > 0) buf.copyWithin(0, pos, this.filled);
    this.base += pos;
    this.filled = left;
    const need = this.parser.need;
    if (need > buf.length) {
      // One record bigger than the buffer: grow (rare; bounded by the parsers' record limits).
      const bigger = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
      buf.copy(bigger, 0, 0, left);
      this.chunk.buf = bigger;
    }
    return true;
  }

  /** Copy `data` in and parse, as many times as it takes. False once the file cannot go on. */
  push(data: Uint8Array, onPacket: PacketHandler): boolean {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.room, data.length - off);
      this.chunk.buf.set(data.subarray(off, off + n), this.filled);
      off += n;
      if (!this.commit(n, onPacket)) return false;
    }
    return true;
  }

  /** The input ended: say how, if it did not end on a record boundary. */
  finish(warn: (message: string) => void, endedEarly: string | null): void {
    const p = this.parser;
    if (p.damaged !== null) warn(p.damaged);
    else if (endedEarly !== null) warn(endedEarly);
    else if (this.filled > 0) {
      warn(`${this.name}: truncated record at byte ${this.base} (capture cut short); ${p.packets} packets read`);
    }
    const s = p.summary();
    if (s !== null) warn(s);
  }
}

function fsError(path: string, e: unknown): never {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      throw userInputError('E_NO_FILE', `${path}: no such file; check the path`);
    case 'EISDIR':
      throw userInputError('E_IS_DIR', `${path}: is a directory, not a capture file; name the capture files inside it`);
    case 'EACCES':
    case 'EPERM':
      throw userInputError('E_UNREADABLE', `${path}: permission denied; make the file readable by this user (or run as one who can read it)`);
    default:
      throw userInputError('E_UNREADABLE', `${path}: cannot be read (${code ?? String(e)})`);
  }
}

function openOrThrow(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (e) {
    fsError(path, e);
  }
}

/** Check one file: it exists, is readable, and starts with a capture header we read. */
function checkFile(path: string): CheckedFile {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    fsError(path, e);
  }
  if (st.isDirectory()) fsError(path, Object.assign(new Error(), { code: 'EISDIR' }));
  if (!st.isFile()) {
    throw userInputError('E_NOT_CAPTURE', `${path}: not a regular file; save the capture to a file and replay that`);
  }
  if (st.size === 0) {
    throw userInputError('E_EMPTY', `${path}: file is empty (0 bytes), not a capture; check that the capture was written completely`);
  }
  const fd = openOrThrow(path);
  try {
    const head = Buffer.alloc(Math.min(st.size, isGzipPath(fd) ? GZIP_SNIFF_BYTES : SNIFF_BYTES));
    const got = readFully(fd, head);
    const prefix = head.subarray(0, got);
    if (isGzip(prefix)) {
      // SYNC_FLUSH: return what inflates from a prefix instead of failing on its cut end.
      // Damage further in (a bad CRC at the end of a small file, flipped bytes) is the
      // replay's business (a warning), so on error retry with shorter prefixes: only a
      // file whose first bytes do not inflate is rejected here.
      let inner: Buffer | null = null;
      let wholeFile = false;
      let lastError = '';
      for (const n of [got, 16384, 1024, 64]) {
        if (n > got || (n < got && inner !== null)) continue;
        try {
          inner = zlib.gunzipSync(prefix.subarray(0, n), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
          wholeFile = n === st.size;
          break;
        } catch (e) {
          lastError = (e as Error).message;
        }
      }
      if (inner === null) {
        throw userInputError('E_DAMAGED', `${path}: gzip data is damaged at the start (${lastError}); check the file is intact`);
      }
      // The whole compressed file was inflated: its content length is known.
      const known = wholeFile ? inner.length : -1;
      if (inner.length === 0 && known === 0) {
        throw userInputError('E_EMPTY', `${path}: gzip file holds no data, not a capture`);
      }
      return { path, size: st.size, gzip: true, format: detectFormat(`${path} (gzip)`, inner, known) };
    }
    return { path, size: st.size, gzip: false, format: detectFormat(path, prefix, st.size) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Peek at the first two bytes of an open file: gzip gets a larger sniff. */
function isGzipPath(fd: number): boolean {
  const b = Buffer.alloc(2);
  return fs.readSync(fd, b, 0, 2, 0) === 2 && isGzip(b);
}

function readFully(fd: number, into: Buffer): number {
  let got = 0;
  while (got < into.length) {
    const n = fs.readSync(fd, into, got, into.length - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class FileCaptureSource implements PacketSource {
  readonly name: string;
  readonly warnings: SourceWarning[] = [];
  private stopped = false;
  private readonly total: number;
  private doneBefore = 0;
  private currentDone: () => number = () => 0;
  private readonly chunk: ChunkBuffer = { buf: Buffer.alloc(0) };

  constructor(private readonly files: CheckedFile[]) {
    this.name = files.map((f) => f.path).join(', ');
    this.total = files.reduce((s, f) => s + f.size, 0);
  }

  stop(): void {
    this.stopped = true;
  }

  progress(): { done: number; total: number } {
    return { done: this.doneBefore + this.currentDone(), total: this.total };
  }

  async run(onPacket: PacketHandler): Promise<void> {
    if (this.chunk.buf.length === 0) this.chunk.buf = Buffer.allocUnsafe(CHUNK_BYTES);
    for (const f of this.files) {
      if (this.stopped) break;
      const feeder = new Feeder(this.chunk, makeParser(f.path, f.format), f.path);
      const warn = (message: string): void => {
        this.warnings.push({ where: f.path, message });
      };
      if (f.gzip) await this.runGzip(f, feeder, onPacket, warn);
      else await this.runPlain(f, feeder, onPacket, warn);
      this.doneBefore += f.size;
      this.currentDone = () => 0;
    }
  }

  /** A plain file, in chunks read into the feeder's buffer and parsed there. */
  private async runPlain(f: CheckedFile, feeder: Feeder, onPacket: PacketHandler, warn: (m: string) => void): Promise<void> {
    const fd = openOrThrow(f.path);
    let read = 0;
    this.currentDone = () => read;
    try {
      for (;;) {
        let n: number;
        try {
          n = fs.readSync(fd, this.chunk.buf, feeder.writeAt, feeder.room, null);
        } catch (e) {
          fsError(f.path, e); // EIO from a failing disk, say: one line naming the file
        }
        if (n === 0) break;
        read += n;
        if (!feeder.commit(n, onPacket)) break;
        await yieldToEventLoop();
        if (this.stopped) return;
      }
    } finally {
      fs.closeSync(fd);
    }
    feeder.finish(warn, null);
  }

  private async runGzip(f: CheckedFile, feeder: Feeder, onPacket: PacketHandler, warn: (m: string) => void): Promise<void> {
    const rs = fs.createReadStream(f.path, { highWaterMark: CHUNK_BYTES });
    const gz = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
    this.currentDone = () => rs.bytesRead;
    // pipeline() forwards a read error into gz, so the loop below sees every failure.
    pipeline(rs, gz, () => {});
    let endedEarly: string | null = null;
    try {
      for await (const data of gz as AsyncIterable<Buffer>) {
        if (!feeder.push(data, onPacket)) break;
        if (this.stopped) break;
      }
    } catch (e) {
      endedEarly = `${f.path}: gzip stream is damaged or cut short (${(e as Error).message}); ${feeder.parser.packets} packets read, the rest of the file is skipped`;
    } finally {
      gz.destroy();
      rs.destroy();
    }
    if (this.stopped) return;
    feeder.finish(warn, endedEarly);
  }
}

/**
 * Open capture files for replay, in the order given. Every file's header is checked here;
 * any problem is a `UserError` (exit code 3) naming the file.
 */
export function openCaptureFiles(paths: string[]): PacketSource {
  if (paths.length === 0) throw userInputError('E_NO_FILE', 'no capture file given; name at least one pcap or pcapng file');
  return new FileCaptureSource(paths.map(checkFile));
}

/**
 * Parse a capture held in memory, synchronously, through the same format check, parsers
 * and chunk handling as a file (`chunkBytes` sets the chunk size, to exercise records that
 * straddle chunks). For tests and tools; replay of files goes through `openCaptureFiles`.
 */
export function replayBytes(
  name: string,
  bytes: Uint8Array,
  onPacket: PacketHandler,
  chunkBytes = CHUNK_BYTES,
): { packets: number; warnings: string[] } {
  const format = detectFormat(name, bytes, bytes.length);
  const warnings: string[] = [];
  const feeder = new Feeder({ buf: Buffer.allocUnsafe(chunkBytes) }, makeParser(name, format), name);
  let off = 0;
  while (off < bytes.length) {
    const n = Math.min(chunkBytes, bytes.length - off);
    if (!feeder.push(bytes.subarray(off, off + n), onPacket)) break;
    off += n;
  }
  feeder.finish((m) => warnings.push(m), null);
  return { packets: feeder.parser.packets, warnings };
}
