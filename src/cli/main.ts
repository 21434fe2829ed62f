#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1:${GLIBC_TUNABLES} node
/**
 * tapaudit: one binary, one file per command under src/cli/. This file only dispatches
 * and turns user errors into one line without a stack trace (STYLE.md: stack traces are
 * for bugs).
 *
 * The first line runs node with glibc's `hugetlb` tunable (glibc >= 2.35; the caller's
 * own GLIBC_TUNABLES follow it, so theirs win): glibc then asks for transparent huge pages
 * (THP "madvise" or "always") on its large allocations, the flow table's slots and the
 * detectors' per-host records among them, and a first touch faults 2 MiB instead of
 * 4 KiB. A page fault costs ~11 us on this VM (400 MB touched: 1.12 s). The churn bench
 * replay, 6 alternating rounds: 54k -> 30k page faults, CPU 5.16-5.77 -> 4.39-5.53 s,
 * wall median 3.14 -> 2.89 s, faster in every round. glibc reads its tunables only when
 * a process starts, so this is the one place to set them (`node dist/bin/tapaudit.js`,
 * which skips this line, runs without; the systemd unit sets the same).
 */
import { isUserError } from '../util/errors.js';

const VERSION = '0.1.0';

type Command = (argv: string[]) => Promise<number>;

// Each command is loaded when it runs: report/search pull in DuckDB and live pulls in the
// libpcap addon, which replay (and a SIGTERM that arrives early) should not wait for.
const COMMANDS: Record<string, { run: Command; summary: string }> = {
  replay: { run: async (a) => (await import('./replay.js')).replayCommand(a), summary: 'read pcap/pcapng files (plain or gzip) into flows and alerts' },
  alerts: { run: async (a) => (await import('./alerts.js')).alertsCommand(a), summary: 'show an alert log one line per alert; -f follows it' },
  report: { run: async (a) => (await import('./report.js')).reportCommand(a), summary: 'IPAudit-style tables (and --html charts) over flow logs' },
  search: { run: async (a) => (await import('./search.js')).searchCommand(a), summary: 'find flows by time/host/port/proto/size; --pivot IP maps who a host talked to' },
  live: { run: async (a) => (await import('./live.js')).liveCommand(a), summary: 'capture on an interface (libpcap) as an always-on sensor' },
  interfaces: { run: async (a) => (await import('./interfaces.js')).interfacesCommand(a), summary: 'list the interfaces live capture can use, with addresses' },
};

const USAGE = `tapaudit ${VERSION}: passive network sensor (flows, scans, backdoors, ICMP anomalies)

Usage: tapaudit <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`).join('\n')}

Run 'tapaudit <command> --help' for the options of a command.
`;

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
  const c = COMMANDS[command];
  if (!c) {
    process.stderr.write(`tapaudit: unknown command "${command}"; run 'tapaudit --help' for the list\n`);
    return 2;
  }
  return c.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isUserError(err)) {
      process.stderr.write(`tapaudit: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`tapaudit: internal error (a bug, please report it with this trace):\n${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
  },
);
