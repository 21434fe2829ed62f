/**
 * lowerThreadPriority (flow-end workers) lowers the calling thread only: the packet
 * thread keeps its priority. Linux-only behaviour; elsewhere the call returns false.
 */
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const onLinux = process.platform === 'linux';

function inWorker(nice: number): Promise<{ set: boolean; before: number; after: number; again: boolean }> {
  const url = pathToFileURL(path.join(REPO_ROOT, 'dist', 'util', 'thread-priority.js')).href;
  const code = `
    const { parentPort } = require('node:worker_threads');
    const os = require('node:os');
    const fs = require('node:fs');
    import(${JSON.stringify(url)}).then(({ lowerThreadPriority }) => {
      const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
      const before = os.getPriority(tid);
      const set = lowerThreadPriority(${nice});
      const after = os.getPriority(tid);
      const again = lowerThreadPriority(${nice});
      parentPort.postMessage({ set, before, after, again });
    });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
  });
}

describe.runIf(onLinux)('lowerThreadPriority', () => {
  it('sets the calling thread to the nice value and leaves the process main thread alone', async () => {
    const mainBefore = os.getPriority(process.pid);
    const want = Math.min(19, Math.max(mainBefore + 1, 10));
    const r = await inWorker(want);
    expect(r).toEqual({ set: true, before: mainBefore, after: want, again: false });
    expect(os.getPriority(process.pid)).toBe(mainBefore);
  });

  it('never raises a thread that already runs below the value asked for', async () => {
    const r = await inWorker(-5);
    expect(r.set).toBe(false);
    expect(r.after).toBe(r.before);
  });
});
