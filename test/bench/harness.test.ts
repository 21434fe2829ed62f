/**
 * `npm run bench` (dist/bench/run.js) when a tapaudit run fails: the harness counts the
 * failure with its first line, keeps what it printed, goes on with the other rounds (the
 * best of the runs that worked is still reported) and exits 1, so CI's smoke run fails.
 * Once, a replay that aborted inside Node (one in about 3,500 replays with workers,
 * bench/RESULTS.md, session 15) was reported as "CLI not built yet" and its stack was lost.
 *
 * The stand-in CLI (TAPAUDIT_BENCH_CLI) exits 134 on its second call (mix, run 2), kills
 * itself on its third (churn, run 1), does its work and then never exits on its fourth
 * (churn, run 2: as a replay caught in Node's exit-time deadlock did, RESULTS.md session
 * 16) and runs the real CLI otherwise; everything goes to a temporary folder
 * (TAPAUDIT_BENCH_OUT).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const HARNESS = path.join(REPO_ROOT, 'dist', 'bench', 'run.js');
const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');

/** Pids whose command line (NUL-separated, as /proc has it) contains `text`. */
function processesRunning(text: string): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(text);
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

describe('bench harness', () => {
  it('reports failed tapaudit runs (an exit status, a signal, a run that never ends), keeps their stderr and the other runs, and exits 1', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-bench-'));
    const calls = path.join(dir, 'calls');
    const standIn = path.join(dir, 'tapaudit-stand-in');
    fs.writeFileSync(standIn, [
      '#!/bin/bash',
      `n=$(( $(cat ${calls} 2>/dev/null || echo 0) + 1 )); echo $n > ${calls}`,
      'if [ "$n" = 2 ]; then echo "#  node[1]: made-up abort for the test" >&2; echo "second line" >&2; exit 134; fi',
      'if [ "$n" = 3 ]; then echo "about to be killed" >&2; kill -KILL $$; fi',
      `if [ "$n" = 4 ]; then ${process.execPath} ${CLI} "$@"; echo "done, not exiting" >&2; sleep 600; fi`,
      `exec ${process.execPath} ${CLI} "$@"`,
      '',
    ].join('\n'));
    fs.chmodSync(standIn, 0o755);

    const r = spawnSync(process.execPath, [HARNESS, '--smoke', '--packets', '2000', '--runs', '2', '--run-timeout', '5'], {
      encoding: 'utf8',
      env: { ...process.env, TAPAUDIT_BENCH_CLI: standIn, TAPAUDIT_BENCH_OUT: dir },
      timeout: 240_000,
    });
    expect(r.status, r.stderr).toBe(1);
    // The mix capture's second tapaudit run is the stand-in's second call.
    expect(r.stdout).toMatch(/tapaudit\s+run 2\/2: FAILED \(exit 134\): #  node\[1\]: made-up abort for the test; stderr kept in \S+mix-tapaudit-run2\.stderr\.txt/);
    expect(fs.readFileSync(path.join(dir, 'mix-tapaudit-run2.stderr.txt'), 'utf8')).toContain('second line');
    expect(r.stdout).toMatch(/tapaudit\s+run 1\/2: FAILED \(killed by SIGKILL\): about to be killed; stderr kept in \S+churn-tapaudit-run1\.stderr\.txt/);
    expect(r.stdout).toMatch(/tapaudit\s+run 2\/2: FAILED \(timed out after 5 s, killed\): [^;]*; stderr kept in \S+churn-tapaudit-run2\.stderr\.txt/);
    expect(fs.readFileSync(path.join(dir, 'churn-tapaudit-run2.stderr.txt'), 'utf8')).toContain('done, not exiting');
    expect(r.stderr).toMatch(/tapaudit failed in 3 run\(s\):\n {2}mix run 2: exit 134: .*\n {2}churn run 1: killed by SIGKILL: about to be killed.*\n {2}churn run 2: timed out after 5 s, killed: /);
    // The hung run's sleep went with it (its process group).
    expect(processesRunning('sleep\0' + '600')).toEqual([]);

    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    const mix = results.captures.find((c: { name: string }) => c.name === 'mix');
    const ta = mix.results.find((m: { tool: string }) => m.tool === 'tapaudit');
    // Run 1 stands: a time, a rate and the ratios, with the failure in the notice.
    expect(ta.available).toBe(true);
    expect(ta.allWallSeconds).toHaveLength(1);
    expect(ta.packetsPerSecond).toBeGreaterThan(0);
    expect(ta.notice).toMatch(/^1 of 2 runs failed \(run 2: exit 134: #  node\[1\]/);
    const churn = results.captures.find((c: { name: string }) => c.name === 'churn');
    const churnTa = churn.results.find((m: { tool: string }) => m.tool === 'tapaudit');
    // Neither churn run worked: no time, no ratio, both failures in the notice.
    expect(churnTa.notice).toMatch(/^2 of 2 runs failed \(run 1: killed by SIGKILL.*; run 2: timed out after 5 s, killed/);
    expect(churnTa.available).toBe(false);
    expect(churn.ratios).toEqual({});
    // The other captures' runs (calls 5 on) all worked.
    const real = results.captures.find((c: { name: string }) => c.name === 'real');
    if (real) expect(real.results.find((m: { tool: string }) => m.tool === 'tapaudit').failures).toBeUndefined();
  }, 300_000);
});
