/**
 * `tapaudit live -i IFACE`: the always-on sensor (SPEC §5, §6). Argument parsing and the
 * service lifecycle; the capture is src/capture/live.ts, the work src/pipeline.ts.
 *
 * Lifecycle:
 * - outputs are appended to (a restart must not wipe the logs);
 * - SIGTERM/SIGINT: stop the capture, emit every flow with reason "shutdown", flush the
 *   detectors, close the logs, exit 0;
 * - SIGHUP: reopen the flow and alert logs (logrotate moved them);
 * - every second: the packet clock follows the host clock, so flows expire and detector
 *   windows close while the link is quiet;
 * - every statsIntervalSeconds: a JSON stats line on stderr and a flush of both logs.
 */
import { DEFAULT_BUFFER_BYTES, LiveSource, mtuWarning } from '../capture/live.js';
import { openConfig } from '../config/open.js';
import type { FlowsFormat } from '../output/flow-format.js';
import type { MetricsServer } from '../output/metrics.js';
import { CaptureLossEstimator, formatStatsLine, snapshot, type SensorSnapshot } from '../output/stats-line.js';
import { Pipeline } from '../pipeline.js';
import { UserError } from '../util/errors.js';
import { parseCommandArgs, positiveIntOption } from './args.js';

export const LIVE_HELP = `Usage: tapaudit live -i IFACE [options]

Capture on a network interface (a SPAN/mirror port or tap) through libpcap, build flows,
run the detectors and append flow records and alerts to their logs until stopped.
Packets are stamped with the host clock. SIGTERM/SIGINT stop cleanly (every flow is
written with end_reason "shutdown"); SIGHUP reopens the logs (logrotate).

Options:
  -i, --interface IF    interface to capture on (see 'tapaudit interfaces')
  --bpf EXPR            BPF filter, pcap-filter(7) syntax, e.g. "not port 22"
  --config F            YAML config; see tapaudit.example.yaml
  --alerts F|-          append the alert log (NDJSON, ECS fields) to F, or stdout with -
  --flows F|-           append one flow record per line to F, or stdout with -
  --flows-format FMT    json (default) or ipaudit
  --stats-interval S    seconds between stats lines on stderr (default 60, config outputs.statsIntervalSeconds)
  --buffer-mb N         libpcap kernel buffer in MiB (default ${DEFAULT_BUFFER_BYTES / 1048576})
  --max-flows N         flow table size (default 1000000)
  -q, --quiet           no start/stop lines on stderr (stats lines stay)
  -h, --help            this help

Exit status: 0 stopped by a signal, 2 usage/config error, no such interface, bad BPF
filter, no permission or no libpcap, 4 an output cannot be written.
`;

/** How often the packet clock is moved to the host clock between packets. */
const CLOCK_TICK_MS = 1000;

export async function liveCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('live', {
    args: argv,
    allowPositionals: false,
    options: {
      interface: { type: 'string', short: 'i' },
      bpf: { type: 'string' },
      config: { type: 'string' },
      alerts: { type: 'string' },
      flows: { type: 'string' },
      'flows-format': { type: 'string' },
      'stats-interval': { type: 'string' },
      'buffer-mb': { type: 'string' },
      'max-flows': { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(LIVE_HELP);
    return 0;
  }
  const iface = values.interface;
  if (!iface) {
    throw new UserError('E_USAGE', "live: no interface given; usage: tapaudit live -i IFACE (list them with 'tapaudit interfaces')");
  }
  const config = await openConfig(values.config);
  const maxFlows = positiveIntOption('live', 'max-flows', values['max-flows']);
  if (maxFlows !== undefined) config.flows.maxFlows = maxFlows;
  const bufferMb = positiveIntOption('live', 'buffer-mb', values['buffer-mb']);
  const formatText = values['flows-format'] ?? config.outputs.flowsFormat;
  if (formatText !== 'json' && formatText !== 'ipaudit') {
    throw new UserError('E_USAGE', `live: --flows-format must be json or ipaudit, got "${formatText}"`);
  }
  const flowsFormat: FlowsFormat = formatText;
  let statsInterval = config.outputs.statsIntervalSeconds;
  if (values['stats-interval'] !== undefined) {
    statsInterval = Number(values['stats-interval']);
    if (!(statsInterval > 0) || !Number.isFinite(statsInterval)) {
      throw new UserError('E_USAGE', `live: --stats-interval must be a number of seconds > 0, got "${values['stats-interval']}"`);
    }
  }

  // The capture is opened before any output: a wrong interface, filter or permission is
  // one line and leaves no empty log behind.
  const source = new LiveSource(iface, {
    bpf: values.bpf,
    bufferBytes: bufferMb !== undefined ? bufferMb * 1048576 : undefined,
  });
  let pipeline: Pipeline;
  try {
    // Decode and flow update on the capture callback; detectors and outputs in a worker
    // thread (src/offload.ts), so the callback never waits on a write.
    pipeline = await Pipeline.open({
      config,
      flowsDest: values.flows ?? config.outputs.flows,
      flowsFormat,
      alertsDest: values.alerts ?? config.outputs.alerts,
      appendOutputs: true,
    });
  } catch (err) {
    source.stop();
    throw err;
  }

  const loss = new CaptureLossEstimator(iface, 0);
  const take = (): SensorSnapshot => snapshot(iface, pipeline.stats(), loss.sample(pipeline.packets));
  let metrics: MetricsServer | null = null;
  if (config.outputs.metricsListen) {
    try {
      // The scrape gets cumulative figures; its own sampling would disturb the stats
      // line's intervals, so it reads a separate estimator.
      const scrapeLoss = new CaptureLossEstimator(iface, 0);
      // Loaded only when configured: prom-client costs every other command's start-up nothing.
      const { startMetricsServer } = await import('../output/metrics.js');
      metrics = await startMetricsServer(config.outputs.metricsListen, () =>
        snapshot(iface, pipeline.stats(), scrapeLoss.sample(pipeline.packets)),
      );
    } catch (err) {
      source.stop();
      await pipeline.finish();
      throw err;
    }
  }

  let outputFailure: unknown = null;
  const fail = (err: unknown) => {
    outputFailure ??= err;
    source.stop();
  };
  const say = (line: string) => {
    if (!values.quiet) process.stderr.write(`tapaudit: ${line}\n`);
  };

  let stopping = false;
  const onStop = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    say(`${sig}: stopping capture, flushing flows and alerts`);
    source.stop();
  };
  const onHup = () => {
    try {
      pipeline.reopenOutputs();
      say('SIGHUP: reopened the flow and alert logs');
    } catch (err) {
      fail(err);
    }
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);

  const clockTimer = setInterval(() => pipeline.advanceClock(source.nowMicros()), CLOCK_TICK_MS);
  const statsTimer = setInterval(() => {
    process.stderr.write(formatStatsLine(take(), statsInterval));
    pipeline.flushOutputs().catch(fail);
  }, statsInterval * 1000);

  const mtu = mtuWarning(iface);
  if (mtu) say(`warning: ${mtu}`);
  const filter = values.bpf ? `, filter "${values.bpf}"` : '';
  // Tests and operators wait for this line: from here on every packet is counted.
  process.stderr.write(`tapaudit: listening on ${iface} (${source.linktypeName}, linktype ${source.linktype}${filter})` +
    `${metrics ? `, metrics on http://${metrics.address}/metrics` : ''}` +
    `${loss.hasCounters ? '' : '; no kernel counters for this interface, capture loss is not estimated'}\n`);

  try {
    await pipeline.run(source);
  } finally {
    clearInterval(clockTimer);
    clearInterval(statsTimer);
  }
  let stats;
  try {
    stats = await pipeline.finish(source.warnings);
  } finally {
    await metrics?.close();
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
  process.stderr.write(formatStatsLine(snapshot(iface, stats, loss.sample(stats.packets)), statsInterval));
  if (outputFailure) throw outputFailure;
  if (source.truncatedFrames > 0) {
    say(`warning: ${source.truncatedFrames} frames were larger than 64 KiB and cut (GRO/LRO on? see native-notes/)`);
  }
  say(`stopped: ${stats.packets} packets, ${Object.values(stats.flows).reduce((a, b) => a + b, 0)} flows, ` +
    `${Object.values(stats.alerts).reduce((a, b) => a + b, 0)} alerts`);
  return 0;
}
