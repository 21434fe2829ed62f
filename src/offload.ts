/**
 * The flow-end stage (detectors, flow log, alert log, IPFIX: src/flow-end.ts) in a worker
 * thread. The packet thread only decodes, updates the flow table and copies each finished
 * flow into a shared ring of fixed slots (src/flow/wire.ts); the worker reads the ring in
 * order and does everything else. On this 2-core machine the two halves then run side by
 * side: on the churn bench (1M flows) the per-flow work of the detectors and the flow
 * log is as large as the packet work, so a replay takes about the longer of the two
 * instead of their sum (figures in bench/RESULTS.md).
 *
 * Ring protocol (single producer, single consumer, Atomics on a small Int32Array):
 *   ctrl[WRITE] = slots published by the main thread, ctrl[READ] = slots the worker is
 *   done with. The main thread waits (Atomics.wait, 2 ms steps) only when the ring is full;
 *   the worker sleeps in Atomics.waitAsync when it is empty, so its event loop keeps
 *   running (alert log writes, IPFIX sends). Ticks, SIGHUP reopens, flushes and the end
 *   travel as slots too, so they stay in order with the flows.
 */
import { Worker } from 'node:worker_threads';
import type { FlowEndOptions, FlowEndStats } from './flow-end.js';
import type { FlowRecord } from './flow/record.js';
import { KIND_END, KIND_FLUSH, KIND_REOPEN, KIND_TICK, SLOT_BYTES, SlotViews } from './flow/wire.js';
import { UserError } from './util/errors.js';

export const CTRL_WRITE = 0;
export const CTRL_READ = 1;
/** The worker sleeps on CTRL_WRITE: the main thread notifies it. */
export const CTRL_CONSUMER_WAITING = 2;
/** The worker stopped on an error: the main thread must not wait for room any more. */
export const CTRL_DEAD = 3;
const CTRL_INTS = 4;

/** 65,536 slots of 256 B: 16 MiB, about a second of churn-bench flows. */
export const RING_SLOTS = 65_536;
/** Wake a sleeping worker after this many flows (see publish). */
const NOTIFY_EVERY = 256;
/** No progress from the worker for this long while the ring is full: it is stuck. */
const STALL_MS = 60_000;

/** What the worker posts. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'stats'; stats: FlowEndStats; id?: number }
  | { type: 'done'; stats: FlowEndStats }
  | { type: 'error'; error: { user: boolean; code?: string; exitCode?: number; message: string; stack?: string } };

export interface WorkerData {
  options: FlowEndOptions;
  ring: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
}

export class FlowOffload {
  private readonly views: SlotViews;
  private readonly ctrl: Int32Array;
  private readonly slots: number;
  private written = 0;
  private notified = 0;
  private failure: Error | null = null;
  private lastStats: FlowEndStats | null = null;
  private done: Promise<FlowEndStats>;
  private readonly flushes = new Map<number, () => void>();
  private nextFlushId = 1;

  private constructor(private readonly worker: Worker, ring: SharedArrayBuffer, ctrl: SharedArrayBuffer, ready: Promise<void>) {
    this.views = new SlotViews(ring);
    this.slots = this.views.slots;
    this.ctrl = new Int32Array(ctrl);
    this.done = new Promise<FlowEndStats>((resolve, reject) => {
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'stats') {
          this.lastStats = m.stats;
          if (m.id !== undefined) this.flushes.get(m.id)?.();
        } else if (m.type === 'done') {
          this.lastStats = m.stats;
          resolve(m.stats);
        } else if (m.type === 'error') {
          this.failure = m.error.user
            ? new UserError(m.error.code ?? 'E_OUTPUT', m.error.message, m.error.exitCode)
            : Object.assign(new Error(m.error.message), { stack: m.error.stack });
          reject(this.failure);
        }
      });
      worker.on('error', (err) => {
        this.failure ??= err;
        Atomics.store(this.ctrl, CTRL_DEAD, 1);
        reject(this.failure);
      });
      worker.on('exit', (code) => {
        Atomics.store(this.ctrl, CTRL_DEAD, 1);
        this.failure ??= new Error(`flow-end worker exited with code ${code} before the end`);
        reject(this.failure);
        for (const f of this.flushes.values()) f();
      });
    });
    this.done.catch(() => {}); // observed in ready/finish
    void ready;
  }

  /**
   * Start the worker. With `waitReady` it resolves once the worker has opened every output
   * (or rejects with why not); without, at once: the worker's start-up (~100-200 ms of
   * module loading) then runs while this thread reads packets, and a late failure comes
   * out of finish().
   */
  static async start(options: FlowEndOptions, waitReady = true): Promise<FlowOffload> {
    const ring = new SharedArrayBuffer(RING_SLOTS * SLOT_BYTES);
    const ctrl = new SharedArrayBuffer(CTRL_INTS * 4);
    const data: WorkerData = { options, ring, ctrl };
    const worker = new Worker(new URL('./offload-worker.js', import.meta.url), { workerData: data });
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.type === 'ready') { worker.off('message', onMessage); resolve(); }
      };
      worker.on('message', onMessage);
      worker.once('exit', () => reject(new Error('flow-end worker exited during start-up')));
    });
    const offload = new FlowOffload(worker, ring, ctrl, ready);
    ready.catch(() => {}); // a failure also rejects `done`, which finish() reports
    if (!waitReady) return offload;
    try {
      await Promise.race([ready, offload.done.then(() => {})]);
    } catch {
      // failure is set below
    }
    if (offload.failure) {
      await worker.terminate();
      throw offload.failure;
    }
    return offload;
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

  /** Send the end, wait for the worker to flush detectors and close outputs; its final stats. */
  async finish(nowMicros: number): Promise<FlowEndStats> {
    this.mark(KIND_END, nowMicros);
    try {
      return await this.done;
    } finally {
      await this.worker.terminate();
    }
  }

  /** The worker's latest figures (alerts, evictions): posted on every flush and at the end. */
  stats(): FlowEndStats | null {
    return this.lastStats;
  }

  /** Through the ring, so every flow that ended before the SIGHUP goes to the old file. */
  reopenOutputs(): void {
    this.mark(KIND_REOPEN, 0);
  }

  /** Ask the worker to write out what it holds; resolves when it has (and sent its stats). */
  flushOutputs(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextFlushId++;
    return new Promise<void>((resolve) => {
      this.flushes.set(id, () => { this.flushes.delete(id); resolve(); });
      this.mark(KIND_FLUSH, id);
    });
  }

  private mark(kind: number, value: number): void {
    const slot = this.claim();
    if (slot < 0) return;
    this.views.writeMark(slot, kind, value);
    this.publish(true);
  }

  /** The slot to fill next, waiting while the ring is full; -1 once the worker is gone. */
  private claim(): number {
    const ctrl = this.ctrl;
    const w = this.written;
    let read = Atomics.load(ctrl, CTRL_READ);
    if (w - read >= this.slots) {
      let stalledSince = Date.now();
      while (w - read >= this.slots) {
        if (Atomics.load(ctrl, CTRL_DEAD) === 1) return -1;
        Atomics.wait(ctrl, CTRL_READ, read, 2);
        const now = Atomics.load(ctrl, CTRL_READ);
        if (now !== read) stalledSince = Date.now();
        else if (Date.now() - stalledSince > STALL_MS) {
          Atomics.store(ctrl, CTRL_DEAD, 1);
          this.failure ??= new Error(`flow-end worker made no progress for ${STALL_MS / 1000} s`);
          return -1;
        }
        read = now;
      }
    }
    return w % this.slots;
  }

  /**
   * Make the slot visible. A sleeping worker is woken for every 256 flows and for every
   * mark (tick, reopen, flush, end; ticks come once per packet-time second, so a flow waits
   * at most about a second): a wake is a futex syscall, and one per flow cost 0.22 s of the
   * packet thread on the mix bench (54k flows, worker mostly asleep).
   */
  private publish(force = false): void {
    this.written++;
    Atomics.store(this.ctrl, CTRL_WRITE, this.written);
    if ((force || this.written - this.notified >= NOTIFY_EVERY) && Atomics.load(this.ctrl, CTRL_CONSUMER_WAITING) === 1) {
      this.notified = this.written;
      Atomics.notify(this.ctrl, CTRL_WRITE);
    }
  }
}
