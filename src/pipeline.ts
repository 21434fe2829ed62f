/**
 * The pipeline of SPEC §1, shared by replay and live:
 *   PacketSource -> decode (one reused struct) -> flow table (packet clock)
 *     -> expired flows -> detectors -> alert log
 *                      -> flow sink (NDJSON | IPAudit)
 * The per-packet part is `onPacket`: count, decode, add to the flow table, tick the
 * detectors once per packet-time second. Everything else happens per flow or at the end,
 * on this thread (new Pipeline) or in worker threads (Pipeline.open, src/offload.ts).
 */
import type { PacketHandler, PacketSource, SourceWarning } from './capture/source.js';
import { decode } from './decode/decode.js';
import { DecodedPacket } from './decode/packet.js';
import { NOT_FLOWED_REASONS, REASON_COUNT, R_OK } from './decode/reasons.js';
import type { DetectorRunnerStats } from './detect/framework.js';
import type { AlertInput } from './detect/types.js';
import { FlowEndStage, type FlowEndOptions, type FlowEndStats } from './flow-end.js';
import { END_REASONS, type FlowRecord } from './flow/record.js';
import { FlowTable } from './flow/table.js';
import type { IpfixStats } from './output/ipfix.js';
import { FlowOffload } from './offload.js';
import { checkWritable } from './output/sink.js';
import { WARM_UP_FLOWS, WARM_UP_MIN_BYTES, warmUp } from './warmup.js';

export interface PipelineOptions extends FlowEndOptions {
  /** Also hand every flow / alert to these (tests). Only with the in-thread flow-end stage. */
  onFlow?: (f: FlowRecord) => void;
  onAlert?: (a: AlertInput) => void;
}

/**
 * Two flow-end workers (src/offload.ts) when flows start at least this often per packet:
 * the churn bench (0.5) took 5.5-6.9 s with two against 8.3-9.5 s with one; the mix bench
 * (0.027) 1.84-1.99 s with two against 1.40-1.79 s with one (a second worker's ~0.25 s
 * of module loading competes with the packet thread, and there is little flow work to
 * share). Ordinary traffic makes a few flows per hundred packets; scans and floods one
 * per packet or two. Measured again with the bundled build (a worker's module loading ~45
 * ms): mix, 8 alternating runs, one worker 1.02 s best / 1.09 s median, two 1.12 / 1.23 s.
 */
const SPLIT_FLOWS_PER_PACKET = 0.1;

const NO_DETECTOR_STATS: DetectorRunnerStats = { alerts: {}, detector_evictions: {}, suppressed: 0, allowlisted: 0 };

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
  /** The flow-end stage on this thread (new Pipeline) or in a worker (Pipeline.open). */
  private readonly stage: FlowEndStage | null;
  private offload: FlowOffload | null = null;
  /** The input being run (its size lets a replay foresee its flow count: expectedFlows). */
  private source: PacketSource | null = null;
  private readonly packet = new DecodedPacket();
  private readonly notFlowed = new Float64Array(REASON_COUNT);
  packets = 0;
  bytesCaptured = 0;
  bytesWire = 0;
  private firstTs = Infinity;
  private lastTs = -Infinity;
  private nextTickMicros = -Infinity;
  private readonly startedAt = process.hrtime.bigint();
  private finished = false;
  private endStats: FlowEndStats | null = null;

  /** The flow-end stage runs on this thread: no ring, no worker (new Pipeline, a small replay). */
  get flowEndHere(): boolean {
    return this.stage !== null;
  }

  /**
   * Everything on this thread (`offloaded`: only the packet half, for Pipeline.open).
   * Outputs are opened first: an unwritable path fails before any packet is read.
   */
  constructor(opts: PipelineOptions, offloaded = false) {
    this.table = new FlowTable(opts.config.flows);
    if (offloaded) {
      this.stage = null;
      return;
    }
    this.stage = new FlowEndStage(opts, { onFlow: opts.onFlow, onAlert: opts.onAlert });
    this.table.subscribe(this.stage.onFlow);
  }

  /**
   * The flow-end stage (detectors and every output) in a worker thread (src/offload.ts),
   * the packet work on this one: what the CLI runs. Output paths are checked here, before
   * any packet is read. A replay of a small input (`inputBytes` below WARM_UP_MIN_BYTES)
   * runs everything on this thread, as `new Pipeline`.
   */
  static async open(opts: FlowEndOptions, when: 'now' | 'adaptive' = 'now', inputBytes = -1): Promise<Pipeline> {
    // The usual mistakes (no such folder, read-only, a directory) are caught here, so
    // packets need not wait for the workers to load their modules and open the files.
    for (const dest of [opts.flowsDest, opts.alertsDest]) if (dest && dest !== '-') checkWritable(dest);
    // A small replay seldom starts a worker, and then late: the spoofed SYN flood of
    // ../shared (2.9 MB, 37k packets, one flow each) filled half the ring near its end and
    // started two workers, which loaded and compiled the flow-end stage for its last few
    // thousand flows. On this thread instead (no ring, no worker), alternating runs:
    // 869 -> 695 ms median (12 rounds); the 10,000-port scan capture (0.9 MB) 535 -> 519
    // ms (15); the tiny and the bench captures of ../shared unchanged (196-270 ms). From 8
    // MB up the ring stays: 22-78 MB of real or mixed traffic was 1-7 % slower without it
    // (6 rounds each), and a 300,000-SYN flood (28 MB) 1.57 -> 1.70 s.
    if (when === 'adaptive' && inputBytes >= 0 && inputBytes < WARM_UP_MIN_BYTES) return new Pipeline(opts);
    // Made-up packets through a pipeline built the same way, first (src/warmup.ts): a
    // small table (WARM_UP_FLOWS), no outputs, no worker; dropped afterwards. Not for a
    // small input (`inputBytes`, -1 when unknown: WARM_UP_MIN_BYTES; a replay of one
    // returned above).
    if (inputBytes < 0 || inputBytes >= WARM_UP_MIN_BYTES) {
      const spare = Pipeline.offloaded({ config: { ...opts.config, flows: { ...opts.config.flows, ...WARM_UP_FLOWS } } });
      warmUp({ onPacket: spare.onPacket, expireAll: () => spare.table.expireAll('shutdown'), asStarted: () => spare.offload!.warmUpAsStarted() });
    }
    const p = Pipeline.offloaded(opts);
    // 'adaptive' (replay): the workers start when the traffic's shape is known (tick below).
    if (when === 'now') p.offload!.start();
    return p;
  }

  /** The packet half here, flows into a FlowOffload whose workers start later (open). */
  private static offloaded(opts: FlowEndOptions): Pipeline {
    const p = new Pipeline(opts, true);
    const offload = new FlowOffload(opts, () => p.flowsPerPacket() >= SPLIT_FLOWS_PER_PACKET);
    p.offload = offload;
    p.table.subscribe(offload.onFlow);
    return p;
  }

  /** Flows started per packet so far (records emitted, active cuts included, plus live flows). */
  private flowsPerPacket(): number {
    return this.packets === 0 ? 0 : this.flowsSoFar() / this.packets;
  }

  private flowsSoFar(): number {
    let emitted = 0;
    for (const reason of END_REASONS) emitted += this.table.counters.flowsByReason[reason];
    return emitted + this.table.size;
  }

  /** Flow records the whole input should make at this rate per input byte; -1 if its size is unknown. */
  private expectedFlows(): number {
    const p = this.source?.progress();
    if (!p || p.total <= 0 || p.done <= 0) return -1;
    return (this.flowsSoFar() * p.total) / p.done;
  }

  private tick(nowMicros: number): void {
    if (this.stage) {
      this.stage.onTick(nowMicros);
      return;
    }
    this.offload!.maybeStart(this.packets, this.expectedFlows()); // a no-op once the workers run
    this.offload!.tick(nowMicros);
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
      this.tick(now);
      this.nextTickMicros = now + 1e6;
    }
  };

  /** Run a source to its end (or until stopped) through the pipeline. */
  async run(source: PacketSource): Promise<void> {
    this.source = source;
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
    this.endStats = this.stage ? await this.stage.finish(now) : await this.offload!.finish(now);
    return this.stats(warnings);
  }

  stats(warnings: readonly SourceWarning[] = []): RunStats {
    const wall = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
    const notFlowed: Record<string, number> = {};
    for (let r = 1; r < REASON_COUNT; r++) notFlowed[NOT_FLOWED_REASONS[r]!] = this.notFlowed[r]!;
    const flows: Record<string, number> = {};
    for (const reason of END_REASONS) flows[reason] = this.table.counters.flowsByReason[reason];
    const end = this.endStats ?? this.stage?.stats() ?? this.offload?.stats() ?? null;
    const d = end?.detectors ?? NO_DETECTOR_STATS;
    const ipfix: IpfixStats | undefined = end?.ipfix;
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
      ...(ipfix ? { ipfix } : {}),
    };
  }

  /** Live, SIGHUP after logrotate moved the files: flow and alert logs start anew under their names. */
  reopenOutputs(): void {
    this.stage?.reopenOutputs();
    this.offload?.reopenOutputs();
  }

  /** Live, on the stats timer: hand buffered flow records and alerts to the kernel, so a quiet sensor's logs are current. */
  async flushOutputs(): Promise<void> {
    await this.stage?.flushOutputs();
    await this.offload?.flushOutputs();
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
      this.tick(nowMicros);
      this.nextTickMicros = nowMicros + 1e6;
    }
  }
}
