/**
 * The live sensor's periodic stats line (SPEC §6): one JSON object on stderr, i.e. in the
 * service's journal, every `outputs.statsIntervalSeconds`. The same numbers feed the
 * optional Prometheus endpoint (src/output/metrics.ts).
 *
 * Capture loss. cap exposes no pcap_stats(), so libpcap's own drop counter (ps_drop) is out
 * of reach. The estimate compares the interface's kernel counters,
 * /sys/class/net/IF/statistics/{rx_packets, rx_dropped, rx_missed_errors}, with the packets
 * the sensor saw over the same interval:
 *
 *   loss ~= max(0, (d rx_packets + d rx_dropped + d rx_missed_errors) - d packets_seen)
 *
 * Limits, said once here and in native-notes/:
 * - a BPF filter makes it an UPPER bound: frames the filter rejected count as "lost";
 * - frames the host sends (not a mirror port) are captured but not in rx_packets, so they
 *   hide loss (the estimate is clamped at 0);
 * - rx_dropped/rx_missed_errors count frames the NIC or the stack dropped before any
 *   packet socket saw them: that is loss too, just not the sensor's;
 * - with GRO on, the kernel counts wire frames but the capture sees merged super-frames:
 *   another reason to turn GRO/LRO off on a mirror port;
 * - the two sides are read a few microseconds apart, so a busy interval is off by the
 *   packets in flight (the cumulative figure evens that out).
 * The counters are read once per interval, never per packet.
 */
import type { RunStats } from '../pipeline.js';
import { readSysfsNumber, SYS_CLASS_NET } from '../util/sysfs.js';

export interface KernelCounters {
  rxPackets: number;
  rxDropped: number;
  rxMissed: number;
}

/** Read the interface's kernel counters; null when it has none ('any', nflog, ...). */
export function readKernelCounters(iface: string, sysRoot = SYS_CLASS_NET): KernelCounters | null {
  const dir = `${sysRoot}/${iface}/statistics`;
  try {
    return {
      rxPackets: readSysfsNumber(`${dir}/rx_packets`),
      rxDropped: readSysfsNumber(`${dir}/rx_dropped`),
      rxMissed: readSysfsNumber(`${dir}/rx_missed_errors`),
    };
  } catch {
    return null;
  }
}

export interface LossEstimate {
  /** Kernel-counted frames (rx + dropped + missed) in the interval. */
  kernel_rx: number;
  kernel_dropped: number;
  seen: number;
  /** Estimated frames lost (upper bound with a BPF filter); null without kernel counters. */
  lost: number | null;
  /** lost / kernel_rx, 0..1; null without counters or without traffic. */
  ratio: number | null;
}

/**
 * Keeps the last kernel and "seen" readings and turns each new pair into the interval's
 * and the cumulative estimate.
 */
export class CaptureLossEstimator {
  private readonly start: KernelCounters | null;
  private last: KernelCounters | null;
  private readonly startSeen: number;
  private lastSeen: number;

  constructor(
    readonly iface: string,
    seenAtStart: number,
    private readonly read: (iface: string) => KernelCounters | null = readKernelCounters,
  ) {
    this.start = read(iface);
    this.last = this.start;
    this.startSeen = seenAtStart;
    this.lastSeen = seenAtStart;
  }

  get hasCounters(): boolean {
    return this.start !== null;
  }

  /** Sample now; returns [interval, since start]. */
  sample(seenNow: number): { interval: LossEstimate; total: LossEstimate } {
    const now = this.start ? this.read(this.iface) : null;
    const interval = estimate(this.last, now, seenNow - this.lastSeen);
    const total = estimate(this.start, now, seenNow - this.startSeen);
    if (now) this.last = now;
    this.lastSeen = seenNow;
    return { interval, total };
  }
}

export function estimate(before: KernelCounters | null, after: KernelCounters | null, seen: number): LossEstimate {
  if (!before || !after) return { kernel_rx: 0, kernel_dropped: 0, seen, lost: null, ratio: null };
  const dropped = Math.max(0, after.rxDropped - before.rxDropped) + Math.max(0, after.rxMissed - before.rxMissed);
  const rx = Math.max(0, after.rxPackets - before.rxPackets) + dropped;
  const lost = Math.max(0, rx - seen);
  return { kernel_rx: rx, kernel_dropped: dropped, seen, lost, ratio: rx > 0 ? round6(lost / rx) : null };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

const sum = (o: Record<string, number>): number => {
  let n = 0;
  for (const k in o) n += o[k]!;
  return n;
};

/** The numbers the stats line and the metrics endpoint share. */
export interface SensorSnapshot {
  interface: string;
  packets: number;
  bytes: number;
  flows_active: number;
  flows_emitted: number;
  flows: Record<string, number>;
  alerts: number;
  alerts_by_rule: Record<string, number>;
  alerts_suppressed: number;
  not_flowed: number;
  not_flowed_by_reason: Record<string, number>;
  capture_loss: LossEstimate;
  capture_loss_total: LossEstimate;
}

export function snapshot(iface: string, s: RunStats, loss: { interval: LossEstimate; total: LossEstimate }): SensorSnapshot {
  return {
    interface: iface,
    packets: s.packets,
    bytes: s.bytes_wire,
    flows_active: s.flows_active,
    flows_emitted: sum(s.flows),
    flows: s.flows,
    alerts: sum(s.alerts),
    alerts_by_rule: s.alerts,
    alerts_suppressed: s.alerts_suppressed,
    not_flowed: sum(s.not_flowed),
    not_flowed_by_reason: s.not_flowed,
    capture_loss: loss.interval,
    capture_loss_total: loss.total,
  };
}

/**
 * One line of JSON. `time` is the wall clock (the journal's readers want it; packet
 * times are in the logs themselves). Reasons and rules with a zero count are left out to
 * keep the line short.
 */
export function formatStatsLine(snap: SensorSnapshot, intervalSeconds: number, wallMillis = Date.now()): string {
  const nonZero = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0));
  return JSON.stringify({
    time: new Date(wallMillis).toISOString(),
    type: 'stats',
    interface: snap.interface,
    interval_seconds: intervalSeconds,
    packets: snap.packets,
    bytes: snap.bytes,
    flows_active: snap.flows_active,
    flows_emitted: snap.flows_emitted,
    alerts: snap.alerts,
    alerts_by_rule: nonZero(snap.alerts_by_rule),
    not_flowed: snap.not_flowed,
    not_flowed_by_reason: nonZero(snap.not_flowed_by_reason),
    capture_loss: snap.capture_loss,
    capture_loss_total: snap.capture_loss_total,
  }) + '\n';
}
