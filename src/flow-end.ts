/**
 * The flow-end half of the pipeline (SPEC §1): every finished flow goes to the detectors
 * (whose alerts go to the alert log), the flow log and the IPFIX exporter. The pipeline
 * runs it on its own thread, or in a worker thread behind a shared ring (src/offload.ts)
 * so the packet thread does nothing per flow but copy the record into the ring.
 */
import type { Config } from './config/schema.js';
import { DETECTOR_MODULES } from './detect/registry.js';
import { createDetectorRunner, type DetectorRunner, type DetectorRunnerStats } from './detect/framework.js';
import type { AlertInput } from './detect/types.js';
import type { FlowRecord } from './flow/record.js';
import { openAlertLog, type AlertLog } from './output/alert-log.js';
import { flowWriter, type FlowsFormat } from './output/flow-format.js';
import { IpfixExporter, type IpfixExporterOptions, type IpfixStats } from './output/ipfix.js';
import { TextSink } from './output/sink.js';

export interface FlowEndOptions {
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
  /** Run only these detector modules (by id); all when absent. */
  detectorIds?: readonly string[];
  /**
   * False: no flow log, alert log or IPFIX here; alerts go to the onAlert hook (a second
   * worker that owns the outputs writes them, src/offload.ts).
   */
  outputs?: boolean;
}

export interface FlowEndStats {
  detectors: DetectorRunnerStats;
  ipfix?: IpfixStats;
}

export class FlowEndStage {
  readonly detectors: DetectorRunner;
  private readonly flowSink: TextSink | null;
  private readonly alertLog: AlertLog | null;
  private readonly ipfix: IpfixExporter | null;
  private readonly subscribers: ((f: FlowRecord) => void)[] = [];

  /** Outputs are opened here: an unwritable path throws before any packet is read. */
  constructor(opts: FlowEndOptions, hooks: { onFlow?: (f: FlowRecord) => void; onAlert?: (a: AlertInput) => void } = {}) {
    const append = { append: opts.appendOutputs === true };
    const outputs = opts.outputs !== false;
    this.flowSink = outputs && opts.flowsDest ? new TextSink(opts.flowsDest, append) : null;
    this.alertLog = outputs && opts.alertsDest ? openAlertLog(opts.alertsDest, append) : null;
    const alertLog = this.alertLog;
    const onAlert = hooks.onAlert;
    const modules = opts.detectorIds ? DETECTOR_MODULES.filter((m) => opts.detectorIds!.includes(m.id)) : DETECTOR_MODULES;
    this.detectors = createDetectorRunner(opts.config, (a) => {
      alertLog?.write(a);
      onAlert?.(a);
    }, modules);
    const detectors = this.detectors;
    this.subscribers.push((f) => detectors.onFlowEnd(f));
    if (this.flowSink) this.subscribers.push(flowWriter(opts.flowsFormat ?? 'json', this.flowSink));
    this.ipfix = outputs && opts.ipfix ? new IpfixExporter(opts.ipfix) : null;
    if (this.ipfix) this.subscribers.push(this.ipfix.write);
    if (hooks.onFlow) this.subscribers.push(hooks.onFlow);
  }

  /** A finished flow, to every consumer in order (detectors first). */
  readonly onFlow = (f: FlowRecord): void => {
    const subs = this.subscribers;
    for (let i = 0; i < subs.length; i++) subs[i]!(f);
  };

  /** An alert raised by detectors elsewhere (another worker): into this stage's alert log. */
  writeAlert(a: AlertInput): void {
    this.alertLog?.write(a);
  }

  onTick(nowMicros: number): void {
    this.detectors.onTick(nowMicros);
  }

  /** End: detectors report what is pending, every output is flushed and closed. */
  async finish(nowMicros: number): Promise<FlowEndStats> {
    this.detectors.flush(nowMicros);
    const closing: Promise<void>[] = [];
    if (this.flowSink) closing.push(this.flowSink.close());
    if (this.alertLog) closing.push(this.alertLog.close());
    // The exporter's close waits for every paced send to complete (never throws).
    if (this.ipfix) closing.push(this.ipfix.close().then(() => {}));
    await Promise.all(closing);
    return this.stats();
  }

  stats(): FlowEndStats {
    return { detectors: this.detectors.stats(), ...(this.ipfix ? { ipfix: this.ipfix.stats() } : {}) };
  }

  /** SIGHUP after logrotate moved the files: flow and alert logs start anew under their names. */
  reopenOutputs(): void {
    this.flowSink?.reopen();
    this.alertLog?.reopen();
  }

  /** Hand buffered flow records and alerts to the kernel. */
  async flushOutputs(): Promise<void> {
    this.flowSink?.flushSync();
    await this.alertLog?.flush();
  }
}
