/**
 * The alert log: one NDJSON record per alert, ECS field names (SPEC §4), written by pino
 * through sonic-boom (asynchronous, buffered writes; flushed on demand and at close).
 *
 * Why not @elastic/ecs-pino-format: it stamps `@timestamp` with the wall clock and adds
 * `ecs.version`, `process.pid` and `host.hostname`; here `@timestamp` must be packet time
 * (replays reproduce byte for byte) and the record must carry exactly the SPEC fields. So
 * pino is set up bare (no base bindings, no time, message key "message", level written as
 * "log.level") and this file builds the ECS object itself. Alerts are rare next to packets,
 * so allocating one record object per alert is fine.
 */
import fs from 'node:fs';
import { lazyModule } from '../util/lazy-module.js';
import { RULE_NAMES, SEVERITY_LOG_LEVELS } from '../detect/rules.js';
import type { AlertInput } from '../detect/types.js';
import { EXIT_OUTPUT, UserError } from '../util/errors.js';
import { formatMicros } from '../util/time.js';
import { openOutputFile } from './sink.js';

export interface AlertLog {
  write(a: AlertInput): void;
  /** SIGHUP after logrotate: close and reopen the same path (no-op for stdout). */
  reopen(): void;
  /** Resolves when everything written so far has reached the file / stdout. */
  flush(): Promise<void>;
  /** Flush and close. */
  close(): Promise<void>;
  /** Records written. */
  readonly count: number;
}

/** The ECS record of SPEC §4 for one alert (without log.level and message, which pino writes). */
export function alertRecord(a: AlertInput): Record<string, unknown> {
  const rec: Record<string, unknown> = {
    '@timestamp': formatMicros(a.timestampMicros),
    event: {
      kind: 'alert',
      category: ['network', 'intrusion_detection'],
      severity: a.severity,
      start: formatMicros(a.startMicros),
      end: formatMicros(a.endMicros),
    },
    rule: { id: a.ruleId, name: RULE_NAMES[a.ruleId] ?? a.ruleId },
    source: { ip: a.sourceIp },
  };
  if (a.destinationIp !== undefined || a.destinationPort !== undefined) {
    const d: Record<string, unknown> = {};
    if (a.destinationIp !== undefined) d.ip = a.destinationIp;
    if (a.destinationPort !== undefined) d.port = a.destinationPort;
    rec.destination = d;
  }
  if (a.transport !== undefined) rec.network = { transport: a.transport };
  rec.tapaudit = a.evidence;
  return rec;
}

/**
 * pino is loaded with the first alert written (see openAlertLog), from the build's
 * single-file copy of it (dist/vendor/pino.cjs): require('pino') resolves and reads ~25
 * files of pino and its dependencies, 40-42 ms on this VM against 18-22 ms for the same
 * code in one file (3 runs each). A replay of captures/demo.pcap with an alert log, 15
 * alternating runs: median 256 -> 239 ms, best 212 -> 197 ms.
 */
const pinoModule = lazyModule<typeof import('pino')>('pino', { bundled: '../vendor/pino.cjs' });

/** pino and the stream it writes to. */
interface PinoOut {
  stream: ReturnType<typeof import('pino').destination>;
  logger: import('pino').Logger;
}

/**
 * Open the alert log. `dest` is a path (parent folders are created) or "-" for stdout.
 * An unwritable path is a UserError (exit code 4) here, before capture starts, rather
 * than an 'error' event from the asynchronous stream later. An existing file is replaced
 * unless `append` is set (the live sensor appends).
 */
export function openAlertLog(dest: string, options: { append?: boolean } = {}): AlertLog {
  const toStdout = dest === '-';
  const append = options.append === true;
  // A replay starts its files afresh (like --flows); a sensor appends to its log. The file
  // is there (and checked) from the start, even if no alert comes.
  const create = (): void => {
    if (!toStdout) fs.closeSync(openOutputFile(dest, append, 'alert log', 'give a writable path with --alerts (or "-" for stdout)'));
  };
  create();
  let failure: Error | undefined;
  // The reader of stdout went away (`| head`): pino's own EPIPE filter stops the stream,
  // and later alerts are dropped quietly, as the flow sink does.
  let readerGone = false;
  // With sync:false sonic-boom opens the file in the background; remember when it is open.
  let opened = toStdout;
  let out: PinoOut | undefined;

  /**
   * pino and its stream, made with the first alert: loading pino was ~30 ms of a replay's
   * start (require('pino') 28-32 ms on the session 9 VM; ~20 ms from the single file, see
   * pinoModule), and a replay without alerts, as most short ones are, never needs it. In a
   * flow-end worker it was also ~30 ms more before the worker read its first record.
   */
  function sink(): PinoOut {
    if (out) return out;
    const { pino } = pinoModule();
    // sync:false: writes are buffered and handed to the OS in the background, so a burst
    // of alerts never blocks packet processing; flush()/close() wait for them.
    const stream = pino.destination({ dest: toStdout ? 1 : dest, sync: false, mkdir: true, append: true });
    stream.once('ready', () => {
      opened = true;
    });
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') {
        readerGone = true;
        return;
      }
      failure ??= err;
      // pino's sonic-boom 4 flushSync retries any other write error (ENOSPC, EIO) every
      // 100 ms forever, and pino calls it at exit: close the failed log now so that neither
      // a flush nor the exit hook spins on it. close() reports the failure.
      stream.destroy();
    });
    const logger = pino(
      {
        level: 'info',
        base: undefined,
        timestamp: false,
        messageKey: 'message',
        formatters: { level: (label: string) => ({ 'log.level': label }) },
      },
      stream,
    );
    return (out = { stream, logger });
  }

  let count = 0;
  let closed: Promise<void> | undefined;

  function ready(stream: PinoOut['stream']): Promise<void> {
    if (opened) return Promise.resolve();
    return new Promise((resolve, reject) => {
      stream.once('ready', () => resolve());
      stream.once('error', reject);
    });
  }

  async function flush(): Promise<void> {
    if (closed) return closed;
    if (!out) return; // nothing written yet
    const stream = out.stream;
    await ready(stream);
    if (failure) throw new UserError('E_OUTPUT', `writing the alert log ${dest} failed: ${failure.message}`, EXIT_OUTPUT);
    if (readerGone) return;
    // sonic-boom's flush(cb) calls back after the chunk in flight (16 KiB), not after all
    // buffered data (measured: 32 of 5000 records on disk). flushSync writes everything
    // that is buffered, in order, and is cheap at the rare points we flush (exit, SIGHUP,
    // the live stats timer, tests); but a flushSync beside an asynchronous write still in
    // flight can land its lines first (seen once in CI: record 4,999 of 5,000 not last).
    // So first let the write in flight finish (sonic-boom's own `_writing` flag; it goes
    // on chunk after chunk while it holds data), then write the rest synchronously.
    const inFlight = stream as unknown as { _writing?: boolean; destroyed?: boolean };
    while (inFlight._writing && !inFlight.destroyed && !failure) await new Promise<void>((resolve) => setImmediate(resolve));
    if (!inFlight.destroyed) stream.flushSync();
    const failed = failure as Error | undefined; // set by the 'error' handler meanwhile
    if (failed) throw new UserError('E_OUTPUT', `writing the alert log ${dest} failed: ${failed.message}`, EXIT_OUTPUT);
  }

  return {
    write(a: AlertInput): void {
      if (closed) throw new Error('alert log already closed');
      if (failure || readerGone) return; // reported by close() / dropped quietly (see above)
      sink().logger[SEVERITY_LOG_LEVELS[a.severity] ?? 'warn'](alertRecord(a), a.message);
      count++;
    },
    reopen(): void {
      if (toStdout || closed) return;
      // sonic-boom writes what it holds to the old file, then opens the path again. Before
      // the first alert there is no stream: the path is made again (logrotate moved it).
      if (out) out.stream.reopen();
      else create();
    },
    flush,
    close(): Promise<void> {
      closed ??= (async () => {
        if (!out) return;
        const stream = out.stream;
        await ready(stream);
        if (!failure && !readerGone) {
          // An error while ending is recorded by the handler above (and the stream closed).
          await new Promise<void>((resolve) => {
            stream.once('close', () => resolve());
            stream.once('error', () => resolve());
            stream.end();
          });
        }
        if (failure) throw new UserError('E_OUTPUT', `writing the alert log ${dest} failed: ${failure.message}`, EXIT_OUTPUT);
      })();
      return closed;
    },
    get count() {
      return count;
    },
  };
}
