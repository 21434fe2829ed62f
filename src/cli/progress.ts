/**
 * Progress of a long replay on stderr, only when stderr is a terminal (never in pipes or
 * logs). Updated from a 250 ms timer: the source yields to the event loop between chunks,
 * so the per-packet path pays nothing for it.
 */
import type { PacketSource } from '../capture/source.js';
import { lazyModule } from '../util/lazy-module.js';

/** Loaded only when a bar is shown (a terminal, a replay past PROGRESS_DELAY_MS). */
const cliProgressModule = lazyModule<typeof import('cli-progress')>('cli-progress');

/**
 * The bar shows once a replay has run this long. A shorter one is over before a bar
 * could tell anything, and on a terminal it loaded cli-progress (require 12-20 ms on this
 * VM) and drew a bar in every run, for a bar nobody could read. Replay of the demo
 * capture on a terminal (`script`), 12 alternating runs: median 188 -> 166 ms.
 */
export const PROGRESS_DELAY_MS = 1000;

export function startProgress(source: PacketSource, packets: () => number): () => void {
  if (!process.stderr.isTTY) return () => {};
  const { total } = source.progress();
  if (total <= 0) return () => {};
  const started = Date.now();
  let stopBar: (() => void) | undefined;
  const delay = setTimeout(() => {
    stopBar = showBar(source, packets, total, started);
  }, PROGRESS_DELAY_MS);
  return () => {
    clearTimeout(delay);
    stopBar?.();
  };
}

function showBar(source: PacketSource, packets: () => number, total: number, started: number): () => void {
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
  const payload = () => {
    const secs = (Date.now() - started) / 1000;
    return {
      doneMB: (source.progress().done / 1e6).toFixed(0),
      totalMB: (total / 1e6).toFixed(0),
      packets: packets(),
      pps: secs > 0 ? Math.round(packets() / secs) : 0,
    };
  };
  bar.start(total, source.progress().done, payload());
  const timer = setInterval(() => bar.update(source.progress().done, payload()), 250);
  return () => {
    clearInterval(timer);
    bar.stop();
  };
}
