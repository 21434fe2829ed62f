/** `tapaudit replay FILE...`: argument parsing and the run; the work is in src/pipeline.ts. */
import { openCaptureFiles } from '../capture/file-source.js';
import { openConfig } from '../config/open.js';
import type { FlowsFormat } from '../output/flow-format.js';
import { ipfixOptions } from '../output/ipfix.js';
import { checkWritable, TextSink } from '../output/sink.js';
import { Pipeline, type RunStats } from '../pipeline.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, positiveIntOption } from './args.js';
import { startProgress } from './progress.js';

export const REPLAY_HELP = `Usage: tapaudit replay FILE... [options]

Read capture files (pcap or pcapng, plain or gzip-compressed; several files are read in
order as one stream) into bidirectional flows, run the detectors on every finished flow,
and write flow records, alerts and a run summary. Time is packet time: a replay gives the
same output every time.

Options:
  --config F          YAML config (local networks, timeouts, thresholds); see tapaudit.example.yaml
  --alerts F|-        write the alert log (NDJSON, ECS fields) to F, or stdout with -
  --flows F|-         write one flow record per line to F, or stdout with -
  --flows-format FMT  json (default, NDJSON with SPEC field names) or ipaudit (IPAudit's columns)
  --stats F|-         write the JSON run summary (packets, flows by end reason, ...) to F or stdout
  --ipfix HOST:PORT   also export every flow as IPFIX (RFC 7011, biflows per RFC 5103) over UDP
                      to a collector such as nfcapd; see docs/ipfix.md
  --ipfix-domain N    IPFIX observation domain id (default 1)
  --max-flows N       flow table size (default 1000000); the least recently used flow leaves beyond it
  -q, --quiet         no summary or warnings on stderr
  -h, --help          this help

Exit status: 0 done, 2 usage or config error, 3 an input is not a readable capture,
4 an output cannot be written.
`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('replay', {
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      alerts: { type: 'string' },
      flows: { type: 'string' },
      'flows-format': { type: 'string' },
      stats: { type: 'string' },
      ipfix: { type: 'string' },
      'ipfix-domain': { type: 'string' },
      'max-flows': { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(REPLAY_HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw new UserError('E_USAGE', "replay: no capture file given; usage: tapaudit replay FILE... (see 'tapaudit replay --help')");
  }
  const config = await openConfig(values.config);
  const maxFlows = positiveIntOption('replay', 'max-flows', values['max-flows']);
  if (maxFlows !== undefined) config.flows.maxFlows = maxFlows;
  const formatText = values['flows-format'] ?? config.outputs.flowsFormat;
  if (formatText !== 'json' && formatText !== 'ipaudit') {
    throw new UserError('E_USAGE', `replay: --flows-format must be json or ipaudit, got "${formatText}"`);
  }
  const flowsFormat: FlowsFormat = formatText;
  const statsDest = values.stats ?? config.outputs.stats ?? null;
  if (statsDest && statsDest !== '-') checkWritable(statsDest);

  // Inputs are checked (every header) before anything is written.
  const source = openCaptureFiles(positionals);
  // Detectors and outputs run in worker threads beside the packet work (src/offload.ts),
  // one or two as the traffic's flows per packet decide.
  const pipeline = await Pipeline.open({
    config,
    flowsDest: values.flows ?? config.outputs.flows,
    flowsFormat,
    alertsDest: values.alerts ?? config.outputs.alerts,
    ipfix: ipfixOptions('replay', config.outputs.ipfix, values.ipfix, values['ipfix-domain']),
  }, 'adaptive', source.progress().total);

  // SIGTERM/SIGINT: stop reading, then finish normally: every flow in memory is emitted
  // with reason "shutdown", detectors flush, outputs are closed. Nothing is lost.
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    if (!values.quiet) process.stderr.write(`tapaudit: ${sig}: stopping, flushing flows and alerts\n`);
    source.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const stopProgress = values.quiet ? () => {} : startProgress(source, () => pipeline.packets);
  try {
    await pipeline.run(source);
  } finally {
    stopProgress();
  }
  const stats = await pipeline.finish(source.warnings);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);

  if (statsDest) {
    const text = JSON.stringify(stats, null, 2) + '\n';
    if (statsDest === '-') process.stdout.write(text);
    else {
      // Through a TextSink: a full disk is one line and exit 4, not an uncaught ENOSPC.
      const sink = new TextSink(statsDest);
      sink.write(text);
      await sink.close();
    }
  }
  if (!values.quiet) {
    for (const w of source.warnings) process.stderr.write(`tapaudit: warning: ${w.where}: ${w.message}\n`);
    process.stderr.write(summaryLine(positionals.length, stats));
  }
  return 0;
}

function summaryLine(files: number, s: RunStats): string {
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const notFlowed = sum(s.not_flowed);
  const alerts = Object.entries(s.alerts).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ');
  return `tapaudit: ${files} file${files === 1 ? '' : 's'}: ${s.packets} packets` +
    (notFlowed ? ` (${notFlowed} not in flows)` : '') +
    `, ${sum(s.flows)} flows, ${sum(s.alerts)} alerts${alerts ? ` (${alerts})` : ''}` +
    ` in ${s.wall_seconds.toFixed(2)} s (${s.packets_per_second} pkt/s)\n`;
}
