#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=2097152:glibc.malloc.trim_threshold=67108864:${GLIBC_TUNABLES} node
/**
 * tapaudit: one binary, one file per command under src/cli/. This file only dispatches
 * and turns user errors into one line without a stack trace (STYLE.md: stack traces are
 * for bugs).
 *
 * The first line runs node without NODE_EXTRA_CA_CERTS and with three glibc tunables.
 *
 * NODE_EXTRA_CA_CERTS: Node 20 reads and parses that file as it starts, before any
 * JavaScript runs, whether or not the process ever makes a TLS connection. tapaudit makes
 * none (no command uses TLS), and on this machine image, which sets it to the system's
 * 220 KB ca-certificates.crt, it cost every run ~35 ms: `node -e 0` 0.05-0.06 s without,
 * 0.09-0.10 s with (4 alternating runs each), on replays that take 0.2 s in all.
 *
 * The glibc tunables (glibc >= 2.35; the caller's own GLIBC_TUNABLES follow them, so
 * theirs win):
 * - `hugetlb=1`: glibc asks for transparent huge pages (THP "madvise" or "always") on
 *   every allocation it maps on its own, so a first touch faults 2 MiB instead of 4 KiB.
 *   A page fault costs ~11 us on this VM (400 MB touched: 1.12 s), and the flow table's
 *   slots and the detectors' records (util/slab.ts) are such allocations.
 * - `mmap_threshold` 2 MiB: every allocation of 2 MiB and more is mapped on its own.
 *   glibc's own threshold rises as large buffers are freed, and a flow-end worker's 4 MiB
 *   slabs then came from its heap, in 4 KiB pages.
 * - `trim_threshold` 64 MiB: a fixed mmap_threshold also fixes this one at 128 KiB, and
 *   glibc then gave back the top of its heaps as soon as that much was free, for V8's
 *   compiler to fault in again. 64 MiB is the most glibc's own threshold reaches.
 * The churn bench replay, alternating rounds (5 without them, 4 each with), page
 * faults / CPU s / wall s: without them 50.5-53.3k / 4.18-4.45 / 2.33-2.58; `hugetlb`
 * alone 30.0-34.6k / 4.05-4.27 / 2.30-2.46; all three with the slabs 21.1-22.1k /
 * 3.87-4.11 / 2.13-2.34
 * (all three without the slabs: no fewer than `hugetlb` alone). glibc reads its tunables
 * only when a process starts, so this is the one place to set them (`node
 * dist/bin/tapaudit.js`, which skips this line, runs without; the systemd unit sets the
 * same).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installCodeCache, saveCodeCache } from '../util/code-cache.js';
import { EXIT_OUTPUT, isUserError } from '../util/errors.js';

const VERSION = '0.1.0';

type Command = (argv: string[]) => Promise<number>;

// Each command is loaded when it runs: report/search pull in DuckDB and live pulls in the
// libpcap addon, which replay (and a SIGTERM that arrives early) should not wait for.
//
// `exitAtEnd`: the process ends with process.exit() once the command has returned (every
// output written and closed, synchronously: files, and on Linux pipes and terminals too)
// instead of when its event loop runs dry. There Node waits in NodePlatform::DrainTasks for
// every queued background task, V8's compile jobs among them, and a compile job that needs
// a garbage collection first waits for the main thread to do it, which it never does from
// there: the process hangs after its last line (nodejs/node#54918; main thread in
// DrainTasks, the V8 worker in CollectionBarrier::AwaitCollectionBackground, seen with
// gdb). Provoked with `node --v8-pool-size=1 --interrupt-budget=33792` on a 500,000-packet
// replay (346 MB), 20 s limit per run: 8 of 40, 12 of 30 and 4 of 30 runs hung; with
// process.exit() 3 of 389 (it drops queued jobs instead of running them; one already
// running can still need the GC, and exit's NodePlatform::Shutdown then waits for it:
// collectGarbage below). With `--interrupt-budget` alone, 1 of 40 hung; with Node's
// defaults none in the replays of sessions 6-16 (see collectGarbage for session 17's).
// A replay is what scripts and cron wait on. Replay and live, the commands that run long
// enough to compile much; report and search hold DuckDB, whose clean-up runs only at a
// normal end. Only when the command returned: one that threw (a full disk) may leave an
// output half open, and pino's own exit hook then threw "sonic boom is not ready yet"
// from process.exit() (test/robust/outputs.test.ts); those end the usual way.
const COMMANDS: Record<string, { run: Command; summary: string; exitAtEnd?: true }> = {
  replay: { run: async (a) => (await import('./replay.js')).replayCommand(a), summary: 'read pcap/pcapng files (plain or gzip) into flows and alerts', exitAtEnd: true },
  alerts: { run: async (a) => (await import('./alerts.js')).alertsCommand(a), summary: 'show an alert log one line per alert; -f follows it' },
  report: { run: async (a) => (await import('./report.js')).reportCommand(a), summary: 'IPAudit-style tables (and --html charts) over flow logs' },
  search: { run: async (a) => (await import('./search.js')).searchCommand(a), summary: 'find flows by time/host/port/proto/size; --pivot IP maps who a host talked to' },
  live: { run: async (a) => (await import('./live.js')).liveCommand(a), summary: 'capture on an interface (libpcap) as an always-on sensor', exitAtEnd: true },
  interfaces: { run: async (a) => (await import('./interfaces.js')).interfacesCommand(a), summary: 'list the interfaces live capture can use, with addresses' },
};

const USAGE = `tapaudit ${VERSION}: passive network sensor (flows, scans, backdoors, ICMP anomalies)

Usage: tapaudit <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`).join('\n')}

Run 'tapaudit <command> --help' for the options of a command.
`;

/** The command of that name; only COMMANDS' own keys ("toString" is no command). */
function commandNamed(name: string | undefined): (typeof COMMANDS)[string] | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const c = commandNamed(command);
  if (!c) {
    process.stderr.write(`tapaudit: unknown command "${command}"; run 'tapaudit --help' for the list\n`);
    return 2;
  }
  return c.run(rest);
}

/**
 * A full garbage collection, before process.exit() for `exitAtEnd`. process.exit() still
 * waits for a V8 compile job already running on a helper thread (NodePlatform::Shutdown
 * joins the threads), and such a job that allocates once the heap has reached its
 * old-generation limit asks the main thread for a collection and waits for it (V8's
 * Heap::ShouldExpandOldGenerationOnSlowAllocation refuses a background allocation then,
 * unless the main thread is parked or the heap is being torn down; in exit it is
 * neither): the process hung after its last line, main thread in pthread_join, the
 * helper in CollectionBarrier::AwaitCollectionBackground (gdb, twice, with Node's default
 * flags). A collection just before leaves the heap far below its next limit. Replays of
 * the first 400,000 packets of the mix bench capture with Node's defaults
 * (`dist/bench/exit-hang.js --node-flags ""`, 15 s limit): 4 of 60 and 17 of 100 hung
 * without it, 0 of 420 with it. It costs 5-13 ms (a 6 MB heap).
 */
function collectGarbage(): void {
  // Required here, not imported: their ESM facades were ~1.3 ms of every start.
  const require = createRequire(import.meta.url);
  (require('node:v8') as typeof import('node:v8')).setFlagsFromString('--expose-gc');
  ((require('node:vm') as typeof import('node:vm')).runInNewContext('gc') as () => void)();
}

// The commands' chunks (dist/bin) and pino's single file (dist/vendor: the alert log's),
// compiled with V8's cache of an earlier run.
installCodeCache(path.dirname(fileURLToPath(import.meta.url)));

// Errors writing to stdout. Without a listener Node made them an unhandled 'error' event:
// a crash with a stack trace, exit 1. The reader went away (`tapaudit search ... | head`):
// the rest of the output is dropped and the command ends as it would have, with its own
// status. Anything else (a full disk under `> file`): one line, exit 4. (Replay and live
// write their records to fd 1 through their own sinks, which handle both the same way:
// output/sink.ts, output/alert-log.ts.)
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') {
    process.stdout.destroy(); // later writes fail quietly (their callbacks get the error)
    return;
  }
  process.stderr.write(`tapaudit: cannot write to stdout: ${e.code ?? e.message}\n`);
  process.exit(EXIT_OUTPUT);
});

const argv = process.argv.slice(2);
const exitAtEnd = commandNamed(argv[0])?.exitAtEnd === true;
main(argv).then(
  (code) => {
    process.exitCode = code;
    saveCodeCache(); // before collectGarbage: see code-cache.ts
    if (exitAtEnd) {
      collectGarbage();
      process.exit();
    }
  },
  (err: unknown) => {
    if (isUserError(err)) {
      process.stderr.write(`tapaudit: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`tapaudit: internal error (a bug, please report it with this trace):\n${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
    saveCodeCache();
    // Ending the usual way (see exitAtEnd), Node waits for every queued compile job: the
    // same collection keeps them from waiting on one in turn.
    if (exitAtEnd) collectGarbage();
  },
);
