/**
 * The flow-end stage (detectors, flow log, alert log, IPFIX: src/flow-end.ts) in a worker
 * thread. The packet thread only decodes, updates the flow table and copies each finished
 * flow into a shared ring of fixed slots (src/flow/wire.ts); the worker reads the ring in
 * order and does everything else. On this 2-core machine the two halves then run side by
 * side: on the churn bench (1M flows) the per-flow work of the detectors and the flow
 * log is as large as the packet work, so a replay takes about the longer of the two
 * instead of their sum (figures in bench/RESULTS.md).
 *
 * Ring protocol (one producer, one or two consumers that each read every slot; Atomics on
 *   a small Int32Array): ctrl[WRITE] = slots published by the main thread, ctrlRead(i) =
 *   slots worker i is done with. The main thread waits (Atomics.wait, 2 ms steps) only
 *   when the slowest worker is a whole ring behind; a worker sleeps in Atomics.waitAsync
 *   when it has read everything, so its event loop keeps running (alert log writes, IPFIX
 *   sends). Ticks, SIGHUP reopens, flushes and the end travel as slots too, so they stay
 *   in order with the flows.
 */
import os from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { DetectorRunnerStats } from './detect/framework.js';
import { DETECTOR_MODULES } from './detect/registry.js';
import { FlowEndStage, type FlowEndOptions, type FlowEndStats } from './flow-end.js';
import { FlowRecord } from './flow/record.js';
import { KIND_END, KIND_FLOW, KIND_FLUSH, KIND_REOPEN, KIND_TICK, SLOT_BYTES, SlotViews } from './flow/wire.js';
import { UserError } from './util/errors.js';

export const CTRL_WRITE = 0;
/** A worker stopped on an error: the main thread must not wait for room any more. */
export const CTRL_DEAD = 1;
/** Per worker i: slots it is done with (ring room is the slowest worker's). */
export const ctrlRead = (i: number): number => 2 + 2 * i;
/** Per worker i: it sleeps on CTRL_WRITE and wants a notify. */
export const ctrlWaiting = (i: number): number => 3 + 2 * i;

/**
 * With two or more cores the flow-end work is split over two workers that read the same
 * ring: this one runs scan, p2p and flood and sends its alerts to the other, which runs
 * imbalance and the light detectors and owns every output (the flow log among them).
 * Placed by timing the churn bench, where the replay is CPU-bound on two cores (5-6
 * alternating rounds each): with scan and p2p sharing their per-source stage
 * (shared-attempts.ts), flood in the other group took 3.17-3.87 s (median 3.35) and
 * flood here 2.91-3.71 s (median 3.10; 3.45-4.27, median 3.54, before sharing); after
 * imbalance's totals-first records, 2.71 against 2.63 s (medians). With huge pages
 * (session 14, src/cli/main.ts) this worker took 1.24-1.45 s of CPU and the other 0.99 s;
 * the light detectors (backdoor, icmpUnreachable, icmpNachi, policy: ~70 ns per flow
 * together) moved there: median 2.56 -> 2.48 s, faster in 6 of 6 rounds; flood there
 * too was no different (2.27 against 2.24 s). The workers' idle
 * times in --cpu-prof profiles moved from run to run (0.1-0.4 s, either worker), so
 * they did not decide it. Scan and p2p must stay in one group: they share state. The other
 * modules keep all their state to themselves and the rules are disjoint, so the split
 * changes no alert; only the order of lines in the alert log can differ.
 */
export const SPLIT_GROUP_A: readonly string[] = ['scan', 'p2p', 'flood'];

/** 65,536 slots of 256 B: 16 MiB, about a second of churn-bench flows. */
export const RING_SLOTS = 65_536;
/**
 * A replay's single worker cycles through this many slots after those written before it
 * started (slotOf), not through the whole ring: a page of the ring costs a page fault the
 * first time the packet thread writes it, ~11 us on the session 7 VM (bench/RESULTS.md,
 * "Page faults"). 16,384 slots (4 MiB) saved 2,000-2,700 faults on the mix and real
 * benches against the whole 16 MiB (session 7). Since the worker no longer makes address
 * text for every record (FlowRecord.srcIp, session 10) it keeps up once it runs, and what
 * the packet thread waited for was the worker's start: on the header-only bench the ring
 * filled ~16,000 records after the worker was started, and the packet thread waited
 * ~135 ms in claim() while the worker loaded and warmed up. With 49,152 slots (12 MiB),
 * alternating runs, median wall: headers 0.87 -> 0.84 s (12 rounds, faster in 10),
 * real 1.00 -> 0.96 s (10 rounds). Two workers (spawn) and the live sensor keep the whole
 * ring: there it absorbs bursts while a worker is busy, and a waiting packet thread loses
 * packets.
 */
export const REPLAY_WRAP_SLOTS = 49_152;
/** At most this many flow-end workers (see SPLIT_GROUP_A). */
const MAX_WORKERS = 2;
/**
 * Replay: no start before this many packets, so the flows per packet are known
 * (maybeStart). Early on every session of the capture is new, which overstates the flows
 * to come: at 20,000 packets a 400,000-packet mix capture (292 MB, 11,715 flows) looked
 * like 30,000 flows and started a worker it did not need; at 100,000, 0.405/0.427 ->
 * 0.371/0.386 s best/median (5 alternating runs), the 2M-packet mix bench 0.910/0.941 ->
 * 0.868/0.893 s (6 runs), churn unchanged.
 */
const DECIDE_EARLY_PACKETS = 100_000;
/** Replay of input of unknown size: start the workers after this many packets. */
const DECIDE_PACKETS = 200_000;
/** Workers pay for their start from this many records (see finish); the ring holding them starts them too. */
const DECIDE_SLOTS = RING_SLOTS / 2;
/** Wake a sleeping worker after this many flows (see publish). */
const NOTIFY_EVERY = 256;
/** Make records visible to the workers this many at a time, and at every mark (see publish). */
const PUBLISH_EVERY = 32;
/** No progress from the worker for this long while the ring is full: it is stuck. */
const STALL_MS = 60_000;

/**
 * The shared counters (CTRL_WRITE, ctrlRead) are int32, since Atomics.wait takes an
 * Int32Array; the counts behind them are not. A sensor past 2^31 flows (about 30 hours at
 * 20,000 flows/s) stores them wrapped: the packet thread then saw its reader 2^32 slots
 * behind and waited for room until the stall limit, and a worker saw its writer far ahead
 * and read slots never written. Each side keeps its own count in full and reads the other
 * side's as a signed int32 distance from its own, which is never more than a ring:
 * `counterAhead`. Stored values are count + base; base is 0 but for the test that starts
 * the counters just short of the wrap.
 */
export function counterAhead(stored: number, base: number, own: number): number {
  return (stored - base - own) | 0;
}

/** What the worker posts. */
export type WorkerMessage =
  | { type: 'stats'; stats: FlowEndStats; id?: number }
  | { type: 'done'; stats: FlowEndStats }
  | { type: 'alert'; alert: unknown }
  | { type: 'end' }
  | { type: 'error'; error: { user: boolean; code?: string; exitCode?: number; message: string; stack?: string } };

export interface WorkerData {
  options: FlowEndOptions;
  ring: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  /** This worker's index (its read counter in ctrl). */
  index: number;
  /** Where records are in the ring (slotOf). */
  wrapFrom: number;
  wrapSlots: number;
  /** Added to the counts stored in ctrl (counterAhead). */
  counterBase: number;
  /** Split: the alert channel, "send" (group A) or "receive" (the output worker). */
  peer?: { port: MessagePort; role: 'send' | 'receive' };
}

export class FlowOffload {
  private readonly views: SlotViews;
  private readonly ctrl: Int32Array;
  private readonly ring: SharedArrayBuffer;
  private readonly ctrlBuffer: SharedArrayBuffer;
  private readonly slots: number;
  /** Records from this one on cycle through wrapSlots slots (slotOf); set when the workers start. */
  private wrapFrom = 0;
  private wrapSlots = RING_SLOTS;
  private workers: Worker[] = [];
  /** Workers reading the ring: 0 until they start (the ring's room and wake checks loop over them). */
  private readers = 0;
  private spawned = false;
  private written = 0;
  private notified = 0;
  private failure: Error | null = null;
  /** Latest stats per worker (posted on every flush and at the end). */
  private lastStats: (FlowEndStats | null)[] = [];
  private done: Promise<FlowEndStats> = Promise.resolve({ detectors: { alerts: {}, detector_evictions: {}, suppressed: 0, allowlisted: 0 } });
  private readonly flushes = new Map<number, { left: number; resolve: () => void }>();
  private nextFlushId = 1;

  /**
   * `splitWanted` is asked once, when the workers start: with two cores, whether this
   * traffic has enough flows per packet for a second worker to pay for its start-up.
   */
  constructor(
    private readonly options: FlowEndOptions,
    private readonly splitWanted: () => boolean = () => true,
    /** Added to the counts stored in ctrl (counterAhead): tests start it near 2^31. */
    private readonly counterBase = 0,
  ) {
    this.ring = new SharedArrayBuffer(RING_SLOTS * SLOT_BYTES);
    this.ctrlBuffer = new SharedArrayBuffer((2 + 2 * MAX_WORKERS) * 4);
    this.views = new SlotViews(this.ring);
    this.slots = this.views.slots;
    this.ctrl = new Int32Array(this.ctrlBuffer);
    Atomics.store(this.ctrl, CTRL_WRITE, counterBase);
    for (let i = 0; i < MAX_WORKERS; i++) Atomics.store(this.ctrl, ctrlRead(i), counterBase);
  }

  /**
   * Start the workers now (the live sensor); a replay lets maybeStart() choose the moment.
   * Neither waits for them to load: output paths were checked by the caller, and a later
   * failure comes out of finish().
   */
  start(): void {
    this.spawn(RING_SLOTS);
  }

  /**
   * Replay (the caller asks about once per packet-time second): start the workers once
   * DECIDE_EARLY_PACKETS are in and the whole input is expected to make DECIDE_SLOTS
   * records or more (`expectedFlows`: flows so far scaled by the input's bytes; -1 when
   * its size is unknown, then at DECIDE_PACKETS), or when the ring holds DECIDE_SLOTS
   * records; by then the flows per packet say whether two workers pay (SPLIT_GROUP_A).
   * Until then records wait in the ring; a replay that never gets there runs the
   * flow-end stage on this thread at the end (finishHere). Starting at 200,000 packets
   * whatever the size, a 300,000-packet mix capture (218 MB, 9,109 flows) started its
   * worker two thirds in and then waited ~130 ms for it at the end; with the estimate it
   * never starts one and ends on this thread (~100 ms for those flows, the code still
   * cold): 0.409/0.417 -> 0.346/0.357 s best/median over 5 alternating runs. A long
   * replay starts its workers at the first tick past DECIDE_EARLY_PACKETS, or when half
   * the ring is full, whichever comes first.
   */
  maybeStart(packets: number, expectedFlows: number): void {
    if (packets < DECIDE_EARLY_PACKETS) return;
    if (expectedFlows >= 0 ? expectedFlows >= DECIDE_SLOTS : packets >= DECIDE_PACKETS) this.spawn(REPLAY_WRAP_SLOTS);
  }

  /**
   * Start the workers unless they run already; the split is decided here, once. Records
   * written so far keep their slots, later ones cycle through `wrapSlots` slots after
   * them (slotOf; at most what the ring has left). Two workers cycle through the whole
   * ring as the live sensor does: the one ahead needs the slack to keep its core busy
   * while the other catches up.
   */
  private spawn(wrapSlots: number): void {
    if (this.spawned) return;
    this.spawned = true;
    const split = this.splitWanted();
    if (!split) {
      this.wrapFrom = this.written;
      this.wrapSlots = Math.min(wrapSlots, this.slots - this.written);
    }
    const options = this.options;
    const roles: { options: FlowEndOptions; peer?: WorkerData['peer'] }[] = [];
    const transfer: MessagePort[][] = [];
    const env = process.env.TAPAUDIT_FLOW_WORKERS;
    if (env === '2' || (env !== '1' && split && os.availableParallelism() >= 2)) {
      const { port1, port2 } = new MessageChannel();
      const all = DETECTOR_MODULES.map((m) => m.id);
      roles.push({ options: { ...options, detectorIds: all.filter((id) => SPLIT_GROUP_A.includes(id)), outputs: false }, peer: { port: port1, role: 'send' } });
      roles.push({ options: { ...options, detectorIds: all.filter((id) => !SPLIT_GROUP_A.includes(id)) }, peer: { port: port2, role: 'receive' } });
      transfer.push([port1], [port2]);
    } else {
      roles.push({ options });
      transfer.push([]);
    }
    this.workers = roles.map((r, index) => {
      const data: WorkerData = {
        options: r.options, ring: this.ring, ctrl: this.ctrlBuffer, index, peer: r.peer, wrapFrom: this.wrapFrom, wrapSlots: this.wrapSlots,
        counterBase: this.counterBase,
      };
      return new Worker(new URL('./offload-worker.js', import.meta.url), { workerData: data, transferList: transfer[index] });
    });
    this.readers = this.workers.length;
    this.lastStats = this.workers.map(() => null);
    this.done = Promise.all(this.workers.map((w, i) => this.watch(w, i))).then((all) => mergeStats(all));
    this.done.catch(() => {}); // observed in finish
  }

  private watch(worker: Worker, i: number): Promise<FlowEndStats> {
    return new Promise<FlowEndStats>((resolve, reject) => {
      const failWith = (err: Error) => {
        this.failure ??= err;
        Atomics.store(this.ctrl, CTRL_DEAD, 1);
        reject(this.failure);
        for (const f of this.flushes.values()) f.resolve();
      };
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'stats') {
          this.lastStats[i] = m.stats;
          const f = m.id !== undefined ? this.flushes.get(m.id) : undefined;
          if (f && --f.left === 0) f.resolve();
        } else if (m.type === 'done') {
          this.lastStats[i] = m.stats;
          resolve(m.stats);
        } else if (m.type === 'error') {
          failWith(m.error.user
            ? new UserError(m.error.code ?? 'E_OUTPUT', m.error.message, m.error.exitCode)
            : Object.assign(new Error(m.error.message), { stack: m.error.stack }));
        }
      });
      worker.on('error', failWith);
      worker.on('exit', (code) => failWith(new Error(`flow-end worker exited with code ${code} before the end`)));
    });
  }

  /**
   * Warm-up only (src/warmup.ts; this offload is thrown away after it): from now on behave
   * as if one worker had started, without starting one. Records cycle through a few slots
   * after those written so far, and the reader is far ahead (nothing unread, so the ring
   * is never full) and asleep (the next publish wakes it). claim(), unread() and publish()
   * then run the branches a replay first reaches when its workers start, seconds in:
   * those branches without feedback threw the optimised packet path away (3 of the
   * packet thread's 8 deoptimisations over a real bench replay, each followed by
   * compiling it again).
   */
  warmUpAsStarted(): void {
    this.spawned = true;
    this.readers = 1;
    this.wrapFrom = this.written;
    this.wrapSlots = 8;
    Atomics.store(this.ctrl, ctrlRead(0), this.written + this.counterBase + 0x3fff_ffff);
    Atomics.store(this.ctrl, ctrlWaiting(0), 1);
    this.notified = this.written - NOTIFY_EVERY;
  }

  /** The flow table's subscriber: copy the record into the next slot. */
  readonly onFlow = (r: FlowRecord): void => {
    const slot = this.claim();
    if (slot < 0) return;
    this.views.writeFlow(slot, r);
    this.publish();
  };

  tick(nowMicros: number): void {
    this.mark(KIND_TICK, nowMicros);
  }

  /**
   * Send the end, wait for the workers to flush detectors and close outputs; their merged
   * stats. A replay that ends before its workers started (see maybeStart: fewer than
   * DECIDE_SLOTS records expected) runs the flow-end stage on this thread instead:
   * starting a worker cost ~0.25 s of module loading (demo replay 0.50 -> 0.32 s when this
   * came in; ~45 ms plus Node's worker start-up since the bundled build), more than the
   * detectors spend on these at most 32,768 records.
   */
  async finish(nowMicros: number): Promise<FlowEndStats> {
    if (!this.spawned) return this.finishHere(nowMicros);
    this.mark(KIND_END, nowMicros);
    try {
      return await this.done;
    } finally {
      // Their outputs are closed before they post 'done': nothing is left to wait for, and
      // awaiting the threads' teardown was 21-25 ms at the end of every replay.
      for (const w of this.workers) {
        w.unref();
        void w.terminate();
      }
    }
  }

  /** finish() without workers: the records and ticks in the ring, in order, through a stage here. */
  private async finishHere(nowMicros: number): Promise<FlowEndStats> {
    this.spawned = true; // no worker from now on
    const stage = new FlowEndStage(this.options);
    const record = new FlowRecord();
    const views = this.views;
    // Before the workers start only flows and ticks are written (a reopen or a flush
    // starts them), and no more than a ring's worth.
    for (let slot = 0; slot < this.written; slot++) deliverSlot(views, slot, record, stage);
    const stats = await stage.finish(nowMicros);
    this.lastStats = [stats];
    return stats;
  }

  /** The workers' latest figures (alerts, evictions), merged: posted on every flush and at the end. */
  stats(): FlowEndStats | null {
    const have = this.lastStats.filter((s): s is FlowEndStats => s !== null);
    return have.length ? mergeStats(have) : null;
  }

  /** Through the ring, so every flow that ended before the SIGHUP goes to the old file. */
  reopenOutputs(): void {
    this.spawn(RING_SLOTS);
    this.mark(KIND_REOPEN, 0);
  }

  /** Ask the workers to write out what they hold; resolves when they have (and sent stats). */
  flushOutputs(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.spawn(RING_SLOTS);
    const id = this.nextFlushId++;
    return new Promise<void>((resolve) => {
      this.flushes.set(id, { left: this.workers.length, resolve: () => { this.flushes.delete(id); resolve(); } });
      this.mark(KIND_FLUSH, id);
    });
  }

  private mark(kind: number, value: number): void {
    const slot = this.claim();
    if (slot < 0) return;
    this.views.writeMark(slot, kind, value);
    this.publish(true);
  }

  /** Slots the slowest worker still has to read. */
  private unread(): number {
    if (!this.spawned) return this.written;
    let most = 0;
    for (let i = 0; i < this.readers; i++) {
      // The reader's distance behind, as counterAhead the other way round (written as a
      // difference: negating counterAhead's 0 gives -0, which deoptimised this path).
      const behind = (this.written + this.counterBase - Atomics.load(this.ctrl, ctrlRead(i))) | 0;
      if (behind > most) most = behind;
    }
    return most;
  }

  /**
   * The next record's slot is still to be read by some worker: it is past the slots used
   * once (wrapFrom + wrapSlots) and a whole cycle ahead of the slowest reader.
   */
  private full(): boolean {
    return this.written >= this.wrapFrom + this.wrapSlots && this.unread() >= this.wrapSlots;
  }

  /** The slot to fill next, waiting while the ring is full; -1 once a worker is gone. */
  private claim(): number {
    const ctrl = this.ctrl;
    if (!this.spawned && this.written >= DECIDE_SLOTS) this.spawn(REPLAY_WRAP_SLOTS);
    if (this.full()) {
      let stalledSince = Date.now();
      let before = this.unread();
      while (this.full()) {
        if (Atomics.load(ctrl, CTRL_DEAD) === 1) return -1;
        Atomics.wait(ctrl, CTRL_DEAD, 0, 2);
        const now = this.unread();
        if (now !== before) stalledSince = Date.now();
        else if (Date.now() - stalledSince > STALL_MS) {
          Atomics.store(ctrl, CTRL_DEAD, 1);
          this.failure ??= new Error(`flow-end worker made no progress for ${STALL_MS / 1000} s`);
          return -1;
        }
        before = now;
      }
    }
    return slotOf(this.written, this.wrapFrom, this.wrapSlots);
  }

  /**
   * Make the slot visible. A sleeping worker is woken for every 256 flows and for every
   * mark (tick, reopen, flush, end; ticks come once per packet-time second, so a flow waits
   * at most about a second): a wake is a futex syscall, and one per flow cost 0.22 s of the
   * packet thread on the mix bench (54k flows, workers mostly asleep).
   *
   * The write counter itself is stored for every 32nd record and every mark: it shares a
   * cache line with the counters the workers store, so each store found the line on the
   * other core; per record it was ~63 ms of the packet thread on the churn bench (1M
   * flows). The ring is never full while fewer than 32 records are unpublished (a full
   * ring has a whole cycle unread), so the workers always have published records to free
   * room with.
   */
  private publish(force = false): void {
    this.written++;
    if (!force && this.written % PUBLISH_EVERY !== 0) return;
    Atomics.store(this.ctrl, CTRL_WRITE, this.written + this.counterBase);
    if (!force && this.written - this.notified < NOTIFY_EVERY) return;
    let sleeping = false;
    for (let i = 0; i < this.readers; i++) if (Atomics.load(this.ctrl, ctrlWaiting(i)) === 1) sleeping = true;
    if (sleeping) {
      this.notified = this.written;
      Atomics.notify(this.ctrl, CTRL_WRITE);
    }
  }
}

/**
 * The ring slot of record number `seq` (counted from 0 since the start): records before
 * `wrapFrom` (those a replay wrote before its workers started) keep slot `seq`, later
 * ones cycle through the `wrapSlots` slots after them.
 */
export function slotOf(seq: number, wrapFrom: number, wrapSlots: number): number {
  return seq < wrapFrom ? seq : wrapFrom + ((seq - wrapFrom) % wrapSlots);
}

/**
 * A flow or tick slot into the stage (what the worker does with most slots, and all a
 * replay writes before its workers start); false for the other marks, which are the
 * caller's to handle.
 */
export function deliverSlot(views: SlotViews, slot: number, record: FlowRecord, stage: FlowEndStage): boolean {
  const kind = views.kind(slot);
  if (kind === KIND_FLOW) {
    views.readFlow(slot, record);
    stage.onFlow(record);
    return true;
  }
  if (kind === KIND_TICK) {
    stage.onTick(views.clock(slot));
    return true;
  }
  return false;
}

/** Stats of the workers as one: alert counts and evictions added up, IPFIX from its owner. */
function mergeStats(all: FlowEndStats[]): FlowEndStats {
  if (all.length === 1) return all[0]!;
  const d: DetectorRunnerStats = { alerts: {}, detector_evictions: {}, suppressed: 0, allowlisted: 0 };
  let ipfix: FlowEndStats['ipfix'];
  for (const s of all) {
    for (const [k, v] of Object.entries(s.detectors.alerts)) d.alerts[k] = (d.alerts[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.detectors.detector_evictions)) d.detector_evictions[k] = (d.detector_evictions[k] ?? 0) + v;
    d.suppressed += s.detectors.suppressed;
    d.allowlisted += s.detectors.allowlisted;
    ipfix ??= s.ipfix;
  }
  return { detectors: d, ...(ipfix ? { ipfix } : {}) };
}
