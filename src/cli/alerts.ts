/**
 * `tapaudit alerts [F] [-f]`: the human view of an alert log. One line per alert:
 *
 *   2026-01-02 03:09:05 high scan.address         10.0.0.5 -> *:445  10.0.0.5 probed ... [x 12 suppressed]
 *
 * Reads F, or stdin when F is omitted or "-". `-f` follows F like `tail -F`: it survives
 * logrotate (the file renamed and recreated: new inode; or truncated: size below what was
 * read) by finishing the old file and reading the new one from its start. Lines that are
 * not alert records are skipped and counted on stderr at the end.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import readline from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { SEVERITY_WORDS } from '../detect/rules.js';
import type { Severity } from '../detect/types.js';
import { EXIT_OUTPUT, EXIT_USAGE, UserError } from '../util/errors.js';

export const ALERTS_HELP = `Usage: tapaudit alerts [FILE] [-f]

Print an alert log (NDJSON written by tapaudit replay/live --alerts) one line per alert:
packet time, severity (info/low/high/crit), rule, source -> destination, message.

  FILE          the alert log; omitted or "-" reads stdin
  -f, --follow  keep reading as FILE grows, like tail -F (survives logrotate);
                stop with Ctrl-C
  -h, --help    this text

Colour is used on a terminal unless NO_COLOR is set. Lines that are not alert
records are skipped and counted on stderr.
`;

export interface AlertsIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  /** Stops --follow (tests); by default SIGINT/SIGTERM do. */
  signal?: AbortSignal;
  /** How often --follow looks at the file, in milliseconds. */
  pollMs: number;
}

/** `tail -F` polls once a second; a quarter second feels live and costs one stat(). */
const DEFAULT_POLL_MS = 250;

const COLOURS: Record<Severity, string> = { 1: '\x1b[36m', 2: '\x1b[33m', 3: '\x1b[31m', 4: '\x1b[1;31m' };
const RESET = '\x1b[0m';

export async function alertsCommand(argv: string[], ioIn: Partial<AlertsIo> = {}): Promise<number> {
  const io: AlertsIo = {
    stdout: ioIn.stdout ?? process.stdout,
    stderr: ioIn.stderr ?? process.stderr,
    stdin: ioIn.stdin ?? process.stdin,
    env: ioIn.env ?? process.env,
    pollMs: ioIn.pollMs ?? DEFAULT_POLL_MS,
    ...(ioIn.signal ? { signal: ioIn.signal } : {}),
  };
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { follow: { type: 'boolean', short: 'f' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    throw new UserError('E_USAGE', `tapaudit alerts: ${(e as Error).message}; see tapaudit alerts --help`, EXIT_USAGE);
  }
  if (args.values.help) {
    io.stdout.write(ALERTS_HELP);
    return 0;
  }
  if (args.positionals.length > 1) {
    throw new UserError('E_USAGE', 'tapaudit alerts: give one alert log file (or none for stdin); see tapaudit alerts --help', EXIT_USAGE);
  }
  const file = args.positionals[0];
  const fromStdin = file === undefined || file === '-';
  const following = args.values.follow === true;
  if (following && fromStdin) {
    throw new UserError('E_USAGE', 'tapaudit alerts: -f needs a FILE to follow (stdin cannot be reopened after rotation)', EXIT_USAGE);
  }

  const colour = io.stdout.isTTY === true && !io.env.NO_COLOR;
  let skipped = 0;
  let pendingDrain: Promise<unknown> | undefined;
  // The reader of stdout went away (`| head`, a closed `less`): stop reading and end with
  // 0, as the writer into a closed pipe does in a shell pipeline. Without this the EPIPE
  // came out as an internal error with a stack trace (exit 70). Another write error (a
  // full disk under `> file`) ends the command with it (on process.stdout main.ts's own
  // listener ends the process first, with the same line and status).
  const controller = new AbortController();
  let writeError: NodeJS.ErrnoException | undefined;
  const onWriteError = (e: NodeJS.ErrnoException): void => {
    if (e.code !== 'EPIPE') writeError ??= e;
    controller.abort();
  };
  io.stdout.on('error', onWriteError);
  const onLine = (line: string): void => {
    if (controller.signal.aborted) return;
    const text = formatAlertLine(line, colour);
    if (text === null) {
      if (line.trim() !== '') skipped++;
      return;
    }
    // Respect back-pressure so a large log piped into `less` is not buffered whole. Waiting
    // ends with the write error too ('error' rejects once(); onWriteError has it).
    if (!io.stdout.write(`${text}\n`)) {
      pendingDrain ??= once(io.stdout, 'drain', { signal: controller.signal }).catch(() => {}).finally(() => (pendingDrain = undefined));
    }
  };

  try {
    await readAll();
  } finally {
    io.stdout.off('error', onWriteError);
  }
  if (writeError) {
    throw new UserError('E_OUTPUT', `cannot write to stdout: ${writeError.code ?? writeError.message}`, EXIT_OUTPUT);
  }
  if (skipped > 0) io.stderr.write(`tapaudit alerts: skipped ${skipped} line${skipped === 1 ? '' : 's'} that were not alert records\n`);
  return 0;

  async function readAll(): Promise<void> {
    if (fromStdin) {
      const rl = readline.createInterface({ input: io.stdin, crlfDelay: Infinity });
      for await (const line of rl) {
        onLine(line);
        if (pendingDrain) await pendingDrain;
        if (controller.signal.aborted) {
          // Close stdin too: a writer still feeding it (`tail -f log | tapaudit alerts |
          // head`) then gets its own EPIPE, and this process is not kept alive by it.
          io.stdin.destroy();
          break;
        }
      }
    } else if (!following) {
      let input: fs.ReadStream;
      try {
        fs.accessSync(file, fs.constants.R_OK);
        if (fs.statSync(file).isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
        input = fs.createReadStream(file);
      } catch (e) {
        throw unreadable(file, e);
      }
      const rl = readline.createInterface({ input, crlfDelay: Infinity });
      try {
        for await (const line of rl) {
          onLine(line);
          if (pendingDrain) await pendingDrain;
          if (controller.signal.aborted) break;
        }
      } finally {
        input.destroy();
      }
    } else {
      const stop = () => controller.abort();
      io.signal?.addEventListener('abort', stop, { once: true });
      if (io.signal?.aborted) stop();
      const useProcessSignals = ioIn.signal === undefined;
      if (useProcessSignals) {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }
      try {
        await follow(file, onLine, controller.signal, io.pollMs, () => pendingDrain, (t) => io.stderr.write(t));
      } finally {
        if (useProcessSignals) {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }
    }
    if (pendingDrain) await pendingDrain;
  }
}

function unreadable(file: string, e: unknown): UserError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'no such file'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'EISDIR' ? 'it is a directory'
    : (code ?? String(e));
  return new UserError('E_INPUT', `tapaudit alerts: cannot read ${file}: ${why}; give the path of an alert log (--alerts of replay/live)`, EXIT_USAGE);
}

/**
 * Follow `file` until `signal` aborts, like tail -F: read to the end, then every `pollMs`
 * read what was appended; when the path names a new file (inode changed) finish the old
 * one and start the new one from byte 0; when the file shrank (truncated) start over.
 * A missing file (between rename and re-creation, or not created yet) is waited for.
 */
async function follow(
  file: string,
  onLine: (line: string) => void,
  signal: AbortSignal,
  pollMs: number,
  drain: () => Promise<unknown> | undefined,
  note: (text: string) => void,
): Promise<void> {
  const buf = Buffer.alloc(64 * 1024);
  let fd = -1;
  let ino = -1;
  let pos = 0;
  let partial = '';
  let decoder = new StringDecoder('utf8');

  const feed = (text: string): void => {
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    for (const p of parts) onLine(p.endsWith('\r') ? p.slice(0, -1) : p);
  };
  const drainFd = async (): Promise<void> => {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      feed(decoder.write(buf.subarray(0, n)));
      const d = drain();
      if (d) await d;
    }
  };
  const openCurrent = (): boolean => {
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw unreadable(file, e);
    }
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) {
      fs.closeSync(fd);
      fd = -1;
      throw unreadable(file, Object.assign(new Error('directory'), { code: 'EISDIR' }));
    }
    ino = st.ino;
    pos = 0;
    partial = '';
    decoder = new StringDecoder('utf8');
    return true;
  };

  // Like tail -F, a log that does not exist yet is waited for (said once).
  if (!openCurrent()) note(`tapaudit alerts: waiting for ${file} to appear\n`);
  try {
    while (!signal.aborted) {
      if (fd >= 0) {
        await drainFd();
        let st: fs.Stats | undefined;
        try {
          st = fs.statSync(file);
        } catch {
          st = undefined; // renamed away, not recreated yet
        }
        if (st && st.ino !== ino) {
          await drainFd(); // lines written to the old file just before the rename
          if (partial !== '') onLine(partial); // the writer is gone; the last line is whole
          fs.closeSync(fd);
          fd = -1;
          if (openCurrent()) continue;
        } else if (st && st.size < pos) {
          pos = 0; // truncated in place (copytruncate)
          partial = '';
          decoder = new StringDecoder('utf8');
          continue;
        }
      } else if (openCurrent()) continue;
      try {
        await sleep(pollMs, undefined, { signal });
      } catch {
        break; // aborted
      }
    }
    if (fd >= 0) await drainFd();
    if (partial !== '') onLine(partial);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** One alert NDJSON line -> the human line, or null when it is not an alert record. */
export function formatAlertLine(line: string, colour: boolean): string | null {
  let rec: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- untrusted JSON, checked below
  try {
    rec = JSON.parse(line);
  } catch {
    return null;
  }
  if (rec === null || typeof rec !== 'object' || typeof rec.rule?.id !== 'string') return null;
  const ts = typeof rec['@timestamp'] === 'string' ? rec['@timestamp'] : '';
  const time = ts.length >= 19 ? `${ts.slice(0, 10)} ${ts.slice(11, 19)}` : ts.padEnd(19);
  const sev = rec.event?.severity as Severity;
  const word = (SEVERITY_WORDS[sev] ?? '?').padEnd(4);
  const sevText = colour && COLOURS[sev] ? `${COLOURS[sev]}${word}${RESET}` : word;
  const src = typeof rec.source?.ip === 'string' ? rec.source.ip : '?';
  const dst = formatDestination(rec.destination);
  const who = dst ? `${src} -> ${dst}` : src;
  let msg = typeof rec.message === 'string' ? rec.message : '';
  const n = rec.tapaudit?.suppressed;
  // Summaries written by tapaudit already say "(N more in the last W s)"; say it once.
  if (rec.tapaudit?.summary === true && typeof n === 'number' && !msg.includes(' more in the last ')) msg += ` [x ${n} suppressed]`;
  return `${time} ${sevText} ${String(rec.rule.id).padEnd(20)} ${who}  ${msg}`;
}

function formatDestination(d: { ip?: unknown; port?: unknown } | undefined): string {
  if (!d || typeof d !== 'object') return '';
  const ip = typeof d.ip === 'string' ? d.ip : undefined;
  const port = typeof d.port === 'number' ? d.port : undefined;
  if (ip !== undefined && port !== undefined) return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  if (ip !== undefined) return ip;
  if (port !== undefined) return `*:${port}`;
  return '';
}
