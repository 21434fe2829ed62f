/** `tapaudit report FLOWS...`: argument parsing and output; the tables are in src/report/. */
import fs from 'node:fs';
import { openConfig } from '../config/open.js';
import { openFlowDb } from '../report/db.js';
import { renderReportHtml } from '../report/html.js';
import { canonicalAddr, parseTimeMicros } from '../report/params.js';
import { buildReport, REPORT_DEFAULTS } from '../report/report.js';
import { renderReportText } from '../report/text.js';
import { checkWritable } from '../output/sink.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, positiveIntOption } from './args.js';

export const REPORT_HELP = `Usage: tapaudit report FLOWS... [options]

IPAudit-style report over flow logs (NDJSON written by 'tapaudit replay/live --flows F';
plain or .gz; several files and globs such as 'flows-2026-01-*.ndjson' at once):
traffic by protocol and service, top talkers by bytes sent and received, busiest host
pairs, who runs and who uses HTTP/HTTPS/SMTP/SSH/Telnet servers, remote hosts per local
host, and possible scans (sources that tried many hosts or ports and got few answers).
Local hosts are those in localNetworks of the config.

Options:
  --config F        YAML config (localNetworks decides what is local)
  --host IP         only flows of this host, plus a table of every peer it talked to
  --from T, --to T  only flows overlapping this time range (2026-01-02T03:04:05Z, 2026-01-02, epoch s)
  --top N           rows per table (default ${REPORT_DEFAULTS.top})
  --alerts F        alert log (NDJSON from --alerts) to count and show on the HTML timeline
  --json            one JSON object with every table instead of text
  --html F          also write a self-contained HTML report with traffic charts to F
  -h, --help        this help

Exit status: 0 done, 2 usage or config error, 3 a flow log cannot be read, 4 an output cannot be written.
`;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('report', {
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      host: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      top: { type: 'string' },
      alerts: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      html: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(REPORT_HELP);
    return 0;
  }
  const config = await openConfig(values.config);
  const host = values.host !== undefined ? canonicalAddr('report', 'host', values.host) : undefined;
  const fromMicros = values.from !== undefined ? parseTimeMicros('report', 'from', values.from) : undefined;
  const toMicros = values.to !== undefined ? parseTimeMicros('report', 'to', values.to) : undefined;
  const top = positiveIntOption('report', 'top', values.top) ?? REPORT_DEFAULTS.top;
  for (const a of values.alerts ?? []) {
    if (!fs.existsSync(a)) throw new UserError('E_INPUT', `report: cannot read alert log ${a}: no such file`, 3);
  }
  if (values.html) checkWritable(values.html);

  const db = await openFlowDb('report', positionals, config.localNetworks);
  try {
    const data = await buildReport(db, {
      ...REPORT_DEFAULTS, top, host, fromMicros, toMicros, alerts: values.alerts, series: values.html !== undefined,
    });
    if (values.html) fs.writeFileSync(values.html, renderReportHtml(data));
    if (values.json) process.stdout.write(JSON.stringify({ ...data, series: undefined }) + '\n');
    else process.stdout.write(renderReportText(data));
  } finally {
    db.close();
  }
  return 0;
}
