/**
 * Spawning the built CLI (dist/, made by `npm test`'s pretest build) as a user runs it,
 * with a timeout so that a hang is a failure with a name instead of a stuck suite.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/shared.js';

export const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');
export const DEMO = path.join(REPO_ROOT, 'captures', 'demo.pcap');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  /** Wall time of the run in ms. */
  ms: number;
  timedOut: boolean;
}

/** Run `tapaudit ARGS` to its end; killed (timedOut) after `timeoutMs`. */
export function tapaudit(args: string[], opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input: opts.input ?? '',
    cwd: REPO_ROOT,
    timeout: opts.timeoutMs ?? 20_000,
    killSignal: 'SIGKILL',
    maxBuffer: 256 * 1024 * 1024,
    env: opts.env ?? process.env,
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return { code: r.status, signal: r.signal, out: r.stdout ?? '', err: r.stderr ?? '', ms: Date.now() - t0, timedOut };
}

/** The same as `tapaudit`, asynchronous, so that many short runs can go in parallel. */
export function tapauditAsync(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0, timedOut });
    });
  });
}

/** Run `jobs` with at most `width` at a time, results in order. */
export async function inParallel<T>(jobs: (() => Promise<T>)[], width = Math.max(2, Math.min(8, os.availableParallelism() - 1))): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

/** Start `tapaudit ARGS` and return the child (for signals mid-run). */
export function tapauditChild(args: string[]) {
  return spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tapaudit-robust-${tag}-`));
}

/** A stack trace on stderr ("    at fn (file:line)") means an uncaught bug. */
export const STACK_LINE = /^\s+at .+[(:]/m;

export const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

/** Parse NDJSON text (blank lines ignored). */
export function ndjson(text: string): Record<string, any>[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}
