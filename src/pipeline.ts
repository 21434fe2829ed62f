/**
 * The pipeline of SPEC §1, shared by replay and live:
 *   PacketSource -> decode (one reused struct) -> flow table (packet clock)
 *     -> expired flows -> detectors -> alert log
 *                      -> flow sink (NDJSON | IPAudit)
 * The per-packet part is `onPacket`: count, decode, add to the flow table, tick the
 * detectors once per packet-time second. Everything else happens per flow or at the end.
 */
import type { PacketHandler, PacketSource, SourceWarning } from './capture/source.js';
import type { Config } from './config/schema.js';
import { decode } from './decode/decode.js';
import { DecodedPacket } from './decode/packet.js';
import { NOT_FLOWED_REASONS, REASON_COUNT, R_OK } from './decode/reasons.js';
import { createDetectorRunner, type DetectorRunner } from './detect/framework.js';
import type { AlertInput } from './detect/types.js';
import { END_REASONS, type FlowRecord } from './flow/record.js';
import { FlowTable } from './flow/table.js';
import { openAlertLog, type AlertLog } from './output/alert-log.js';
import { FLOW_FORMATTERS, type FlowsFormat } from './output/flow-format.js';
import { IpfixExporter, type IpfixExporterOptions, type IpfixStats } from './output/ipfix.js';
import { TextSink } from './output/sink.js';

export interface PipelineOptions {
  config: Config;
  /** Flow records: a path or '-' for stdout; none when absent. */
  flowsDest?: string | null;
  flowsFormat?: FlowsFormat;
  /** Alert log: a path or '-' for stdout; none when absent. */
  alertsDest?: string | null;
  /** Append to existing output files (the live sensor) instead of replacing them (replay). */
  appendOutputs?: boolean;
  /** Export every finished flow as IPFIX over UDP to this collector (src/output/ipfix.ts). */
  ipfix?: IpfixExporterOptions | null;
  /** Also hand every flow / alert to these (tests, the live stats line). */
  onFlow?: (f: FlowRecord) => void;
  onAlert?: (a: AlertInput) => void;
}

/** The `--stats` summary (SPEC §5): fixed keys first, then extras. */
export interface RunStats {
  packets: number;
  flow_packets: number;
  not_flowed: Record<string, number>;
  flows: Record<string, number>;
  alerts: Record<string, number>;
  wall_seconds: number;
  bytes_captured: number;
  bytes_wire: number;
  flows_active: number;
  icmp_errors_attributed: number;
  hash_collisions: number;
  detector_evictions: Record<string, number>;
  alerts_suppressed: number;
  first_packet: number | null;
  last_packet: number | null;
  packets_per_second: number;
  warnings: string[];
  /** Present when flows were exported as IPFIX. */
  ipfix?: IpfixStats;
}

export class Pipeline {
  readonly table: FlowTable;
  readonly detectors: DetectorRunner;
  private readonly packet = new DecodedPacket();
  private readonly notFlowed = new Float64Array(REASON_COUNT);
  packets = 0;
  bytesCaptured = 0;
  bytesWire = 0;
  private firstTs = Infinity;
  private lastTs = -Infinity;
  private nextTickMicros = -Infinity;
  private readonly startedAt = process.hrtime.bigint();
  private readonly flowSink: TextSink | null;
  private readonly alertLog: AlertLog | null;
  private readonly ipfix: IpfixExporter | null;
  private finished = false;

  constructor(opts: PipelineOptions) {
    const config = opts.config;
    // Outputs are opened first: an unwritable path fails before any packet is read.
    const append = { append: opts.appendOutputs === true };
    this.flowSink = opts.flowsDest ? new TextSink(opts.flowsDest, append) : null;
    this.alertLog = opts.alertsDest ? openAlertLog(opts.alertsDest, append) : null;
    const alertLog = this.alertLog;
    const onAlert = opts.onAlert;
    this.detectors = createDetectorRunner(config, (a) => {
      alertLog?.write(a);
      onAlert?.(a);
    });
    this.table = new FlowTable(config.flows);
    const detectors = this.detectors;
    this.table.subscribe((f) => detectors.onFlowEnd(f));
    if (this.flowSink) {
      const sink = this.flowSink;
      const format = FLOW_FORMATTERS[opts.flowsFormat ?? 'json'];
      this.table.subscribe((f) => sink.write(format(f)));
    }
    this.ipfix = opts.ipfix ? new IpfixExporter(opts.ipfix) : null;
    if (this.ipfix) this.table.subscribe(this.ipfix.write);
    if (opts.onFlow) this.table.subscribe(opts.onFlow);
  }

  /** The per-packet path. Bound once; no allocation per call. */
  readonly onPacket: PacketHandler = (buf, offset, capLen, wireLen, timestampMicros, linktype) => {
    this.packets++;
    this.bytesCaptured += capLen;
    this.bytesWire += wireLen;
    if (timestampMicros < this.firstTs) this.firstTs = timestampMicros;
    if (timestampMicros > this.lastTs) this.lastTs = timestampMicros;
    const p = this.packet;
    p.tsMicros = timestampMicros;
    let reason = decode(buf, offset, capLen, wireLen, linktype, p);
    if (reason === R_OK) reason = this.table.add(p);
    if (reason !== R_OK) this.notFlowed[reason]!++;
    const now = this.table.clockMicros;
    if (now >= this.nextTickMicros) {
      this.detectors.onTick(now);
      this.nextTickMicros = now + 1e6;
    }
  };

  /** Run a source to its end (or until stopped) through the pipeline. */
  async run(source: PacketSource): Promise<void> {
    await source.run(this.onPacket);
  }

  /**
   * End of input or shutdown: every flow leaves with reason `shutdown`, the detectors see
   * them and report what is pending, and every output is flushed and closed.
   */
  async finish(warnings: readonly SourceWarning[] = []): Promise<RunStats> {
    if (this.finished) throw new Error('pipeline finished twice');
    this.finished = true;
    this.table.expireAll('shutdown');
    const now = Number.isFinite(this.table.clockMicros) ? this.table.clockMicros : 0;
    this.detectors.flush(now);
    const closing: Promise<void>[] = [];
    if (this.flowSink) closing.push(this.flowSink.close());
    if (this.alertLog) closing.push(this.alertLog.close());
    // The exporter's close waits for every paced send to complete (never throws).
    if (this.ipfix) closing.push(this.ipfix.close().then(() => {}));
    await Promise.all(closing);
    return this.stats(warnings);
  }

  stats(warnings: readonly SourceWarning[] = []): RunStats {
    const wall = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
    const notFlowed: Record<string, number> = {};
    for (let r = 1; r < REASON_COUNT; r++) notFlowed[NOT_FLOWED_REASONS[r]!] = this.notFlowed[r]!;
    const flows: Record<string, number> = {};
    for (const reason of END_REASONS) flows[reason] = this.table.counters.flowsByReason[reason];
    const d = this.detectors.stats();
    return {
      packets: this.packets,
      flow_packets: this.table.counters.flowPackets,
      not_flowed: notFlowed,
      flows,
      alerts: d.alerts,
      wall_seconds: Math.round(wall * 1000) / 1000,
      bytes_captured: this.bytesCaptured,
      bytes_wire: this.bytesWire,
      flows_active: this.table.size,
      icmp_errors_attributed: this.table.counters.icmpErrorsAttributed,
      hash_collisions: this.table.counters.hashCollisions,
      detector_evictions: d.detector_evictions,
      alerts_suppressed: d.suppressed,
      first_packet: Number.isFinite(this.firstTs) ? this.firstTs / 1e6 : null,
      last_packet: Number.isFinite(this.lastTs) ? this.lastTs / 1e6 : null,
      packets_per_second: wall > 0 ? Math.round(this.packets / wall) : 0,
      warnings: warnings.map((w) => `${w.where}: ${w.message}`),
      ...(this.ipfix ? { ipfix: this.ipfix.stats() } : {}),
    };
  }

  /** Live, SIGHUP after logrotate moved the files: flow and alert logs start anew under their names. */
  reopenOutputs(): void {
    this.flowSink?.reopen();
    this.alertLog?.reopen();
  }

  /** Live, on the stats timer: hand buffered flow records and alerts to the kernel, so a quiet sensor's logs are current. */
  async flushOutputs(): Promise<void> {
    this.flowSink?.flushSync();
    await this.alertLog?.flush();
  }

  /**
   * Live, between packets: move the packet clock to the host clock so idle flows expire
   * and detector windows close when traffic stops (with a quiet capture the packet clock
   * would otherwise stand still). Never moves the clock backwards.
   */
  advanceClock(nowMicros: number): void {
    if (this.finished || !(nowMicros > this.table.clockMicros)) return;
    this.table.clockMicros = nowMicros;
    this.table.expireIdle(nowMicros);
    if (nowMicros >= this.nextTickMicros) {
      this.detectors.onTick(nowMicros);
      this.nextTickMicros = nowMicros + 1e6;
    }
  }
}
