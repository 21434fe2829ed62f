/**
 * Worker side of src/offload.ts: the flow-end stage reading finished flows from the ring.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FlowEndStage } from './flow-end.js';
import { FlowRecord } from './flow/record.js';
import { KIND_END, KIND_FLUSH, KIND_REOPEN, SlotViews } from './flow/wire.js';
import { CTRL_DEAD, CTRL_WRITE, counterAhead, ctrlRead, ctrlWaiting, deliverSlot, slotOf, type WorkerData, type WorkerMessage } from './offload.js';
import type { AlertInput } from './detect/types.js';
import { saveCodeCache } from './util/code-cache.js';
import { isUserError } from './util/errors.js';
import { FLOW_END_NICE, lowerThreadPriority } from './util/thread-priority.js';

/** Give the event loop a turn after this many slots (alert-log writes, IPFIX sends, messages). */
const YIELD_EVERY = 16_384;

/** Atomics.waitAsync (V8 / Node >= 16; ES2024, so not in this project's TS lib). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

// The packet thread comes first when the cores are busy (util/thread-priority.ts).
lowerThreadPriority(FLOW_END_NICE);

const port = parentPort!;
const data = workerData as WorkerData;
const ctrl = new Int32Array(data.ctrl);
const CTRL_READ = ctrlRead(data.index);
const CTRL_CONSUMER_WAITING = ctrlWaiting(data.index);
const peer = data.peer;
const views = new SlotViews(data.ring);
const post = (m: WorkerMessage): void => port.postMessage(m);

function fail(err: unknown): void {
  Atomics.store(ctrl, CTRL_DEAD, 1);
  const e = err as Error & { code?: string; exitCode?: number };
  post({
    type: 'error',
    error: isUserError(err)
      ? { user: true, code: e.code, exitCode: e.exitCode, message: e.message }
      : { user: false, message: e?.message ?? String(err), stack: e?.stack },
  });
}

// An error outside main()'s chain (the alert channel's listener below, a stream
// callback) would end this thread with nothing in ctrl: the packet thread, asleep in
// claim() while the ring is full, sees the worker's 'error' event only back in its event
// loop, so it waited STALL_MS (60 s) and then reported a stall instead of the error (seen
// when an alert from group A could not be written). Mark the ring dead and say why first.
process.on('uncaughtException', (err) => {
  fail(err);
  process.exit(1);
});

async function main(): Promise<void> {
  // Split (src/offload.ts): group A sends its alerts to the worker that owns the alert log,
  // which waits for A's end before closing it.
  const stage = new FlowEndStage(data.options, peer?.role === 'send'
    ? { onAlert: (a) => peer.port.postMessage({ type: 'alert', alert: a } satisfies WorkerMessage) }
    : {});
  let peerEnded: Promise<void> = Promise.resolve();
  if (peer?.role === 'receive') {
    peerEnded = new Promise<void>((resolve) => {
      peer.port.on('message', (m: WorkerMessage) => {
        if (m.type === 'alert') stage.writeAlert(m.alert as AlertInput);
        else if (m.type === 'end') resolve();
      });
    });
  }
  // A pending Atomics.waitAsync does not keep a worker's event loop alive; the port does
  // while it has a listener (nothing is posted to it: everything comes through the ring).
  port.on('message', () => {});

  let read = 0;
  for (;;) {
    const ahead = counterAhead(Atomics.load(ctrl, CTRL_WRITE), base, read);
    // Never more than the ring: anything else is a broken counter, and reading on would
    // hand slots never written to the stage (and the flow log) without end.
    if (ahead < 0 || ahead > views.slots) throw new Error(`flow ring: writer ${ahead} slots ahead of this reader (ring of ${views.slots})`);
    const written = read + ahead;
    if (written === read) {
      Atomics.store(ctrl, CTRL_CONSUMER_WAITING, 1);
      if (counterAhead(Atomics.load(ctrl, CTRL_WRITE), base, read) === 0) {
        const w = waitAsync(ctrl, CTRL_WRITE, read + base);
        if (w.async) await w.value;
      }
      Atomics.store(ctrl, CTRL_CONSUMER_WAITING, 0);
      continue;
    }
    read = drain(stage, read, written);
    Atomics.store(ctrl, CTRL_READ, read + base);
    if (read === written) continue;
    const slot = slotOf(read, wrapFrom, wrapSlots);
    const kind = views.kind(slot);
    if (kind === KIND_REOPEN) {
      stage.reopenOutputs();
    } else if (kind === KIND_FLUSH) {
      await stage.flushOutputs();
      post({ type: 'stats', stats: stage.stats(), id: views.clock(slot) });
    } else if (kind === KIND_END) {
      if (peer?.role === 'receive') await peerEnded;
      const stats = await stage.finish(views.clock(slot));
      if (peer?.role === 'send') peer.port.postMessage({ type: 'end' } satisfies WorkerMessage);
      peer?.port.close();
      Atomics.store(ctrl, CTRL_READ, read + 1 + base);
      saveCodeCache(); // a no-op unless offload-worker-boot.ts installed the cache
      post({ type: 'done', stats });
      port.removeAllListeners('message');
      return;
    } else {
      // A whole batch of flows: give the event loop a turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      continue;
    }
    read++;
    Atomics.store(ctrl, CTRL_READ, read + base);
  }
}

const record = new FlowRecord();
const { wrapFrom, wrapSlots, counterBase: base } = data;

/**
 * The flows and ticks from `read` on, up to `written` or YIELD_EVERY slots: returns the
 * first slot not consumed (a mark for main(), or the end of the batch).
 *
 * Its own function, not main()'s inner loop: TurboFan inlines the whole flow-end stage
 * into the loop it optimises, and main()'s rare paths (a flush, a reopen, the yield's
 * `new Promise`, the end) ran after main() had been optimised, each throwing the big
 * optimised code away ("Insufficient type feedback", --trace-deopt) for a ~10 ms
 * recompile. On the churn bench main() was compiled 16 times (175 ms of TurboFan time).
 */
function drain(stage: FlowEndStage, read: number, written: number): number {
  const end = written - read > YIELD_EVERY ? read + YIELD_EVERY : written;
  while (read !== end) {
    if (!deliverSlot(views, slotOf(read, wrapFrom, wrapSlots), record, stage)) return read;
    read++;
    if ((read & 1023) === 0) Atomics.store(ctrl, CTRL_READ, read + base);
  }
  return read;
}

main().catch(fail);
