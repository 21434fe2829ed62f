/**
 * Issue 7 §4: outputs that fail, through the spawned CLI.
 * - `tapaudit replay F --flows - | head -1` (and with the alert log on stdout too) exits 0
 *   quietly: the reader going away is not an error (EPIPE);
 * - a flow log or alert log on a full disk (a 64 KiB tmpfs this test mounts) gives one
 *   clear stderr line and exit 4, never a stack trace, a hang or a silent loss;
 * - an unwritable output (a read-only tmpfs: chmod does not stop root) is refused at
 *   start, before any packet is read.
 * Mounting needs root: elsewhere those cases are skipped with the reason, except under
 * CI=true (CI runs as root), where a failed mount is a failure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAPTURES_DIR, haveShared } from '../helpers/shared.js';
import { CLI, DEMO, STACK_LINE, tapaudit, tmpDir } from './cli-run.js';

const HANG_MS = 30_000;
const isRoot = process.getuid?.() === 0;
const mounted: string[] = [];

/** Mount a tmpfs of `size` on a fresh dir; null (with the reason printed) when not possible. */
function mountTmpfs(size: string, readOnly = false): string | null {
  const dir = tmpDir('tmpfs');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `${readOnly ? 'ro,' : ''}size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    const why = `cannot mount a tmpfs (${isRoot ? String((e as { stderr?: Buffer }).stderr ?? e).trim() : 'not root'})`;
    if (process.env.CI === 'true') throw new Error(`${why}; CI runs as root and needs this test`);
    console.warn(`[tapaudit tests] skipping full-disk / read-only output checks: ${why}`);
    return null;
  }
  mounted.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of mounted) {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      fs.rmdirSync(dir);
    } catch (e) {
      console.warn(`[tapaudit tests] could not unmount ${dir}: ${String(e)}`);
    }
  }
});

/** Run a shell pipeline; PIPESTATUS of every stage and stderr of tapaudit. */
function shellPipeline(tapauditArgs: string[], after: string): { status: number[]; err: string; out: string } {
  const quoted = tapauditArgs.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const dir = tmpDir('pipe');
  const errFile = path.join(dir, 'stderr.txt');
  const script = `'${process.execPath}' '${CLI}' ${quoted} 2>'${errFile}' | ${after}; echo "PIPESTATUS \${PIPESTATUS[*]}" >&2`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: HANG_MS, killSignal: 'SIGKILL' });
  const m = /PIPESTATUS ([\d ]+)/.exec(r.stderr ?? '');
  return { status: m ? m[1]!.trim().split(' ').map(Number) : [-1], err: fs.readFileSync(errFile, 'utf8'), out: r.stdout ?? '' };
}

describe('a reader that goes away (EPIPE)', () => {
  // The demo writes ~180 KB of flow records: more than a pipe holds (64 KiB), so the
  // writes after `head` exits meet a closed pipe.
  it('--flows - | head -1: exit 0, nothing on stderr with -q', () => {
    const r = shellPipeline(['replay', DEMO, '--flows', '-', '-q'], 'head -1');
    expect(r.status).toEqual([0, 0]);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out).proto).toBeDefined();
  });

  it('--flows - | head -1 without -q: only the summary line', () => {
    const r = shellPipeline(['replay', DEMO, '--flows', '-'], 'head -1');
    expect(r.status).toEqual([0, 0]);
    expect(r.err).toMatch(/^tapaudit: 1 file: \d+ packets.*pkt\/s\)\n$/);
  });

  it('alerts and flows both on stdout | head -1: exit 0, quiet', () => {
    const r = shellPipeline(['replay', DEMO, '--flows', '-', '--alerts', '-', '-q'], 'head -1');
    expect(r.status).toEqual([0, 0]);
    expect(r.err).toBe('');
  });

  it('--alerts - on many alerts | head -1: exit 0, quiet', () => {
    if (!haveShared) return;
    // Suppression off: the spoofed SYN flood then raises an alert per window and source.
    const dir = tmpDir('epipe');
    const config = path.join(dir, 'c.yaml');
    fs.writeFileSync(config, 'alerts:\n  suppressSeconds: 0\n');
    const capture = path.join(CAPTURES_DIR, 'detection', 'sgr__portScan_1_to_10000.pcapng');
    const r = shellPipeline(['replay', capture, '--alerts', '-', '--stats', path.join(dir, 's.json'), '--config', config, '-q'], 'head -1');
    expect(r.status).toEqual([0, 0]);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)['rule']).toBeDefined();
  });
});

describe('a full disk', () => {
  it('flow log larger than the disk: one line, exit 4', () => {
    const dir = mountTmpfs('64k');
    if (!dir) return;
    const r = tapaudit(['replay', DEMO, '--flows', path.join(dir, 'flows.ndjson'), '-q'], { timeoutMs: HANG_MS });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/^tapaudit: cannot write .*flows\.ndjson: no space left on the device\n$/);
    expect(r.err).not.toMatch(STACK_LINE);
  });

  it('alert log on a full disk: one line, exit 4, no hang', () => {
    const dir = mountTmpfs('64k');
    if (!dir) return;
    // Leave less room than the demo's ~8 KB of alerts.
    fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(64 * 1024 - 4096));
    const r = tapaudit(['replay', DEMO, '--alerts', path.join(dir, 'alerts.ndjson'), '-q'], { timeoutMs: HANG_MS });
    expect(r.timedOut, 'hung on the failed alert log').toBe(false);
    expect(r.code).toBe(4);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^tapaudit: .*alert log .*alerts\.ndjson.*(ENOSPC|no space)/);
    expect(r.err).not.toMatch(STACK_LINE);
  });

  it('--stats on a full disk: one line, exit 4', () => {
    const dir = mountTmpfs('64k');
    if (!dir) return;
    fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(64 * 1024));
    const r = tapaudit(['replay', DEMO, '--stats', path.join(dir, 'stats.json'), '-q'], { timeoutMs: HANG_MS });
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/^tapaudit: cannot write .*stats\.json: no space left on the device\n$/);
  });

  it('both logs on a full disk, no -q: the error, and no "done" summary claiming success', () => {
    const dir = mountTmpfs('64k');
    if (!dir) return;
    const r = tapaudit(['replay', DEMO, '--flows', path.join(dir, 'f.ndjson'), '--alerts', path.join(dir, 'a.ndjson')], { timeoutMs: HANG_MS });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/no space left|ENOSPC/);
    expect(r.err).not.toMatch(STACK_LINE);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.err).not.toMatch(/ packets, /);
  });
});

describe('an unwritable output is refused before capture', () => {
  for (const opt of ['--flows', '--alerts', '--stats']) {
    it(`${opt} on a read-only file system: one line, exit 4, no packet read`, () => {
      const dir = mountTmpfs('64k', true);
      if (!dir) return;
      const r = tapaudit(['replay', DEMO, opt, path.join(dir, 'out.json')], { timeoutMs: HANG_MS });
      expect(r.code).toBe(4);
      expect(r.err).toMatch(/^tapaudit: cannot write the .*out\.json: read-only file system; .+\n$/);
      // No summary line: the run stopped before reading packets.
      expect(r.err).not.toMatch(/packets/);
    });
  }
});
