/**
 * Progress of a long replay on stderr, only when stderr is a terminal (never in pipes or
 * logs). Updated from a 250 ms timer: the source yields to the event loop between chunks,
 * so the per-packet path pays nothing for it.
 */
import type { PacketSource } from '../capture/source.js';
import { lazyModule } from '../util/lazy-module.js';

/** Loaded only when a bar is shown (a terminal): ~8 ms of start-up otherwise. */
const cliProgressModule = lazyModule<typeof import('cli-progress')>('cli-progress');

export function startProgress(source: PacketSource, packets: () => number): () => void {
  if (!process.stderr.isTTY) return () => {};
  const { total } = source.progress();
  if (total <= 0) return () => {};
  const cliProgress = cliProgressModule();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'replay |{bar}| {percentage}% {doneMB}/{totalMB} MB {packets} pkts {pps} pkt/s eta {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  const payload = () => {
    const secs = (Date.now() - started) / 1000;
    return {
      doneMB: (source.progress().done / 1e6).toFixed(0),
      totalMB: (total / 1e6).toFixed(0),
      packets: packets(),
      pps: secs > 0 ? Math.round(packets() / secs) : 0,
    };
  };
  bar.start(total, 0, payload());
  const timer = setInterval(() => bar.update(source.progress().done, payload()), 250);
  return () => {
    clearInterval(timer);
    bar.stop();
  };
}
