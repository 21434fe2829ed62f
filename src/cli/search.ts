/** `tapaudit search FLOWS...` and `--pivot IP`: argument parsing and output; queries in src/report/search.ts. */
import { openConfig } from '../config/open.js';
import { openFlowDb } from '../report/db.js';
import { canonicalAddr, countOption, parseTimeMicros, portOption, protoOption } from '../report/params.js';
import { pivot, searchFlows, type SearchOptions } from '../report/search.js';
import { peersTable, table } from '../report/text.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, positiveIntOption } from './args.js';

const DEFAULT_LIMIT = 100;

export const SEARCH_HELP = `Usage: tapaudit search FLOWS... [filters] [--json]
       tapaudit search FLOWS... --pivot IP [--depth 2] [filters] [--json]

Search flow logs (NDJSON from 'tapaudit replay/live --flows F'; plain or .gz; several
files and globs at once). Prints matching flows in time order.

With --pivot IP: every host IP talked to, with flows, bytes each way, the server ports
used and first/last time; --depth 2 also lists every host those peers talked to, to
follow a compromise from host to host.

Filters (all optional, combined with AND):
  --from T, --to T     flows overlapping this time range (2026-01-02T03:04:05Z, 2026-01-02, epoch s; UTC)
  --host IP            IP on either side
  --local-port P       port P on the local side (localNetworks in the config)
  --remote-port P      port P on the remote side
  --proto P            tcp, udp, icmp, icmp6 or an IP protocol number
  --min-bytes N        at least N bytes (IP bytes, both directions)
  --max-bytes N        at most N bytes
Output:
  --limit N            at most N flows (default ${DEFAULT_LIMIT}); with --pivot, N peers per host
  --json               one JSON object per line
  --config F           YAML config (localNetworks)
  -h, --help           this help

Exit status: 0 done (also when nothing matched), 2 usage or config error, 3 a flow log cannot be read.
`;

export async function searchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('search', {
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      host: { type: 'string' },
      'local-port': { type: 'string' },
      'remote-port': { type: 'string' },
      proto: { type: 'string' },
      'min-bytes': { type: 'string' },
      'max-bytes': { type: 'string' },
      limit: { type: 'string' },
      pivot: { type: 'string' },
      depth: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SEARCH_HELP);
    return 0;
  }
  const config = await openConfig(values.config);
  const opts: SearchOptions = {
    fromMicros: values.from !== undefined ? parseTimeMicros('search', 'from', values.from) : undefined,
    toMicros: values.to !== undefined ? parseTimeMicros('search', 'to', values.to) : undefined,
    host: values.host !== undefined ? canonicalAddr('search', 'host', values.host) : undefined,
    localPort: portOption('search', 'local-port', values['local-port']),
    remotePort: portOption('search', 'remote-port', values['remote-port']),
    proto: protoOption('search', values.proto),
    minBytes: countOption('search', 'min-bytes', values['min-bytes']),
    maxBytes: countOption('search', 'max-bytes', values['max-bytes']),
    limit: positiveIntOption('search', 'limit', values.limit) ?? DEFAULT_LIMIT,
  };
  if (opts.fromMicros !== undefined && opts.toMicros !== undefined && opts.fromMicros > opts.toMicros) {
    throw new UserError('E_USAGE', 'search: --from is after --to; swap them');
  }
  let depth: 1 | 2 = 1;
  if (values.depth !== undefined) {
    if (values.depth !== '1' && values.depth !== '2') throw new UserError('E_USAGE', `search: --depth must be 1 or 2, got "${values.depth}"`);
    if (values.pivot === undefined) throw new UserError('E_USAGE', 'search: --depth goes with --pivot IP');
    depth = values.depth === '2' ? 2 : 1;
  }
  if (values.pivot !== undefined && opts.host !== undefined) {
    throw new UserError('E_USAGE', 'search: give --pivot IP or --host IP, not both (--pivot already follows that host)');
  }

  const db = await openFlowDb('search', positionals, config.localNetworks);
  try {
    if (values.pivot !== undefined) {
      const ip = canonicalAddr('search', 'pivot', values.pivot);
      const rows = await pivot(db, ip, depth, opts);
      if (values.json) process.stdout.write(rows.map((r) => JSON.stringify(r) + '\n').join(''));
      else if (rows.length === 0) process.stdout.write(`no flows of ${ip} match\n`);
      else process.stdout.write(peersTable(rows.map((r) => ({ ...r, peer: `${r.peer}${r.local ? ' *' : ''}` })), true) + '(* = local host)\n');
      return 0;
    }
    const { rows, more } = await searchFlows(db, opts);
    if (values.json) {
      process.stdout.write(rows.map((r) => JSON.stringify(r) + '\n').join(''));
    } else {
      process.stdout.write(rows.length === 0 ? 'no flows match\n' : table(rows, [
        { key: 'start', title: 'start' }, { key: 'end', title: 'end' }, { key: 'proto', title: 'proto' },
        { key: 'src_ip', title: 'src', format: (v, r) => endpoint(v, r.src_port) },
        { key: 'dst_ip', title: 'dst', format: (v, r) => endpoint(v, r.dst_port) },
        { key: 'pkts_toserver', title: 'pkts >', num: true }, { key: 'pkts_toclient', title: 'pkts <', num: true },
        { key: 'bytes_toserver', title: 'bytes >', num: true }, { key: 'bytes_toclient', title: 'bytes <', num: true },
        { key: 'state', title: 'state' }, { key: 'tcp_flags', title: 'flags' },
      ]));
    }
    if (more) process.stderr.write(`tapaudit: search: showing the first ${opts.limit} flows; more match (raise --limit or narrow the filters)\n`);
  } finally {
    db.close();
  }
  return 0;
}

/** "10.0.0.1:80", "[2001:db8::1]:443". */
function endpoint(ip: unknown, port: unknown): string {
  const a = String(ip);
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}
