#!/usr/bin/env node
/**
 * tapaudit: one binary, one file per command under src/cli/. This file only dispatches
 * and turns user errors into one line without a stack trace (STYLE.md: stack traces are
 * for bugs).
 */
import { isUserError } from '../util/errors.js';
import { alertsCommand } from './alerts.js';
import { interfacesCommand } from './interfaces.js';
import { liveCommand } from './live.js';
import { replayCommand } from './replay.js';
import { reportCommand } from './report.js';
import { searchCommand } from './search.js';

const VERSION = '0.1.0';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; summary: string }> = {
  replay: { run: replayCommand, summary: 'read pcap/pcapng files (plain or gzip) into flows and alerts' },
  alerts: { run: alertsCommand, summary: 'show an alert log one line per alert; -f follows it' },
  report: { run: reportCommand, summary: 'IPAudit-style tables (and --html charts) over flow logs' },
  search: { run: searchCommand, summary: 'find flows by time/host/port/proto/size; --pivot IP maps who a host talked to' },
  live: { run: liveCommand, summary: 'capture on an interface (libpcap) as an always-on sensor' },
  interfaces: { run: interfacesCommand, summary: 'list the interfaces live capture can use, with addresses' },
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
