/**
 * Lower the calling thread's scheduling priority (Linux: a nice value per thread).
 *
 * The flow-end workers call it at start (offload-worker.ts): on the 2-CPU machines this
 * runs on, the packet thread, two flow-end workers and V8's helper threads share two
 * cores (a read-ahead thread too, when this was measured), and a packet thread preempted
 * by flow-end work falls behind the capture (live) or the file (replay), while flow-end
 * work is buffered in the ring anyway. At nice 10, the real bench capture (2M packets,
 * bench/RESULTS.md) replayed in 0.832-0.883 s (median 0.854, 8 runs) against 0.875-0.921
 * (0.887) at nice 0; the mix and churn captures did not move beyond their noise (session
 * 11 re-checked: real 0.95 against 1.00 s at nice 0, header-only 0.78 against 0.80).
 *
 * Node's os.setPriority takes a pid; Linux's setpriority(PRIO_PROCESS, tid) applies to
 * that one thread, and /proc/thread-self names the calling thread's id. Elsewhere, or when
 * the system refuses, nothing changes: priority is an optimisation, never a requirement.
 * Returns whether the thread's priority was set.
 */
import fs from 'node:fs';
import os from 'node:os';

export const FLOW_END_NICE = 10;

export function lowerThreadPriority(nice: number): boolean {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    // Only ever lower it: a thread already below (a user's `nice -n 15`) keeps its value.
    if (os.getPriority(tid) >= nice) return false;
    os.setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
