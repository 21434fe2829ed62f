/**
 * The V8 code cache of the built CLI (src/util/code-cache.ts): a copy of dist/bin (and
 * dist/vendor, node_modules linked) in a temporary directory, so this test owns its cache.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureCapture } from '../../src/gen/bench-captures.js';
import { REPO_ROOT } from '../helpers/shared.js';

const DEMO = path.join(REPO_ROOT, 'captures', 'demo.pcap');

/** A copy of the build; returns its CLI and where its cache goes. */
function install(): { cli: string; cacheDir: string; out: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-code-cache-'));
  fs.cpSync(path.join(REPO_ROOT, 'dist', 'bin'), path.join(root, 'dist', 'bin'), {
    recursive: true,
    filter: (src) => path.basename(src) !== '.code-cache',
  });
  fs.cpSync(path.join(REPO_ROOT, 'dist', 'vendor'), path.join(root, 'dist', 'vendor'), { recursive: true });
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
  const bin = path.join(root, 'dist', 'bin');
  return { cli: path.join(bin, 'tapaudit.js'), cacheDir: path.join(bin, '.code-cache', `${process.version}-${process.arch}`), out: root };
}

function replay(cli: string, out: string, env: Record<string, string> = {}, captures = [DEMO]) {
  const flows = path.join(out, 'flows.ndjson');
  const alerts = path.join(out, 'alerts.ndjson');
  const r = spawnSync(process.execPath, [cli, 'replay', ...captures, '--flows', flows, '--alerts', alerts, '-q'], {
    encoding: 'utf8', env: { ...process.env, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return { flows: fs.readFileSync(flows, 'utf8'), alerts: fs.readFileSync(alerts, 'utf8').replace(/"@timestamp"[^,]*,/g, '') };
}

/** Cache file -> its bytes. */
function cacheFiles(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

describe('code cache', () => {
  it('is written by the first run, used as it is by the next, and made again when V8 refuses it', () => {
    const { cli, cacheDir, out } = install();
    const first = replay(cli, out);
    const made = cacheFiles(cacheDir);
    // The replay's chunks (the detectors', the packet path's), not the entry that installs the hook.
    expect([...made.keys()].some((f) => f.startsWith('pipeline-'))).toBe(true);
    expect([...made.keys()].some((f) => f.startsWith('replay-'))).toBe(true);
    expect(made.has('tapaudit.js.cache')).toBe(false);
    // pino's single file (dist/vendor), which the alert log loads with the first alert.
    expect(made.has('pino.cjs.cache')).toBe(true);
    for (const data of made.values()) expect(data.length).toBeGreaterThan(1000);

    // A cache that V8 takes is not written again (one made after the run's flags changed,
    // src/cli/main.ts's collectGarbage, would be refused here and rewritten).
    const times = new Map([...made.keys()].map((f) => [f, fs.statSync(path.join(cacheDir, f)).mtimeMs]));
    expect(replay(cli, out)).toEqual(first);
    expect(new Map([...times.keys()].map((f) => [f, fs.statSync(path.join(cacheDir, f)).mtimeMs]))).toEqual(times);
    expect(cacheFiles(cacheDir)).toEqual(made);

    // A damaged cache: V8 refuses it, the chunk is compiled as usual, and the cache made again.
    const victim = [...made.keys()].find((f) => f.startsWith('pipeline-'))!;
    fs.writeFileSync(path.join(cacheDir, victim), Buffer.alloc(made.get(victim)!.length, 0x5a));
    expect(replay(cli, out)).toEqual(first);
    const again = fs.readFileSync(path.join(cacheDir, victim));
    expect(again.equals(Buffer.alloc(again.length, 0x5a))).toBe(false);
    expect(again.length).toBeGreaterThan(1000);
  });

  it('is off with TAPAUDIT_CODE_CACHE=0, and a cache that cannot be written changes nothing but speed', () => {
    const { cli, cacheDir, out } = install();
    const off = replay(cli, out, { TAPAUDIT_CODE_CACHE: '0' });
    expect(fs.existsSync(path.dirname(cacheDir))).toBe(false);
    // A file where the cache directory would go: mkdir fails (as in an install the user
    // cannot write to; root, which runs the tests in CI, writes anywhere else).
    fs.writeFileSync(path.dirname(cacheDir), '');
    expect(replay(cli, out)).toEqual(off);
    expect(fs.statSync(path.dirname(cacheDir)).isFile()).toBe(true);
  });

  it('caches the flow-end workers\' code as well, and pino\'s file when a worker writes the alerts', () => {
    const { cli, cacheDir, out } = install();
    // The demo's alerts, then ~100,000 flows: the replay starts both workers (offload.ts),
    // which share one chunk, and the output worker writes the alert log.
    const captures = [DEMO, ensureCapture(out, 'churn', 200_000).file];
    const sorted = (r: { flows: string; alerts: string }) => ({ flows: r.flows.split('\n').sort(), alerts: r.alerts.split('\n').sort() });
    const first = sorted(replay(cli, out, {}, captures));
    expect(first.alerts.filter((l) => l !== '')).toHaveLength(8);
    expect(fs.existsSync(path.join(cacheDir, 'pino.cjs.cache'))).toBe(true);
    const worker = fs.readdirSync(cacheDir).filter((f) => /^offload-worker-.*\.js\.cache$/.test(f));
    expect(worker).toHaveLength(1);
    const made = fs.readFileSync(path.join(cacheDir, worker[0]!));
    expect(made.length).toBeGreaterThan(10_000);
    const mtime = fs.statSync(path.join(cacheDir, worker[0]!)).mtimeMs;
    expect(sorted(replay(cli, out, {}, captures))).toEqual(first);
    expect(fs.statSync(path.join(cacheDir, worker[0]!)).mtimeMs).toBe(mtime);
    expect(fs.readFileSync(path.join(cacheDir, worker[0]!)).equals(made)).toBe(true);
  });
});
