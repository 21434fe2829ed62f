/**
 * Issue 7 §1: every file in ../shared/captures/malformed/ through the CLI as a user runs
 * it. Each run either exits 0 with every packet accounted for in --stats (bad ones counted
 * by reason), or exits 3 with exactly one line on stderr and no stack trace. No run may
 * hang: the spawn is killed after a few seconds and that is a failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { NOT_FLOWED_REASONS } from '../../src/decode/reasons.js';
import { CAPTURES_DIR, describeShared, haveShared } from '../helpers/shared.js';
import { STACK_LINE, inParallel, ndjson, sum, tapauditAsync, tmpDir, type CliResult } from './cli-run.js';

/**
 * Each file is a few hundred bytes; a run is ~0.2 s of Node start-up alone (up to ~1.5 s
 * measured on a loaded shared machine). 10 s means a hang.
 */
const HANG_MS = 10_000;

interface Run {
  r: CliResult;
  stats: string;
  flows: string;
  alerts: string;
}

const files = haveShared ? fs.readdirSync(path.join(CAPTURES_DIR, 'malformed')).sort() : [];

describeShared('malformed captures through the CLI', () => {
  it('the folder is there and not empty', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  // All runs go in parallel up front (one at a time took ~50 s on a loaded machine); each
  // file's checks are then its own test.
  const runs = new Map<string, Run>();
  beforeAll(async () => {
    const results = await inParallel(files.map((file) => async (): Promise<Run> => {
      const dir = tmpDir('malformed');
      const stats = path.join(dir, 'stats.json');
      const flows = path.join(dir, 'flows.ndjson');
      const alerts = path.join(dir, 'alerts.ndjson');
      const r = await tapauditAsync(['replay', path.join(CAPTURES_DIR, 'malformed', file), '--stats', stats, '--flows', flows, '--alerts', alerts], { timeoutMs: HANG_MS });
      return { r, stats, flows, alerts };
    }));
    files.forEach((f, i) => runs.set(f, results[i]!));
  }, 300_000);

  const outcomes = { replayed: 0, refused: 0 };
  for (const file of files) {
    it(file, () => {
      const { r, stats, flows, alerts } = runs.get(file)!;
      expect(r.timedOut, `${file}: still running after ${HANG_MS} ms`).toBe(false);
      expect(r.err).not.toMatch(STACK_LINE);
      expect(r.err).not.toMatch(/internal error/);
      if (r.code === 3) {
        outcomes.refused++;
        expect(r.err.trimEnd().split('\n'), r.err).toHaveLength(1);
        expect(r.err).toMatch(new RegExp(`^tapaudit: .*${file.replace(/[.]/g, '\\.')}`));
        expect(fs.existsSync(stats)).toBe(false);
        return;
      }
      expect(r.code, r.err).toBe(0);
      outcomes.replayed++;
      const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
      // Every reason is reported (zeros included) and nothing else.
      expect(Object.keys(s.not_flowed).sort()).toEqual(NOT_FLOWED_REASONS.slice(1).slice().sort());
      expect(s.packets).toBe(s.flow_packets + sum(s.not_flowed));
      const records = ndjson(fs.readFileSync(flows, 'utf8'));
      expect(records.length).toBe(sum(s.flows));
      expect(records.reduce((a, f) => a + f.pkts_toserver + f.pkts_toclient, 0)).toBe(s.flow_packets);
      expect(ndjson(fs.readFileSync(alerts, 'utf8')).length).toBe(sum(s.alerts));
      // The summary line is always the last stderr line; warnings (if any) come before it.
      const lines = r.err.trimEnd().split('\n');
      expect(lines.at(-1)).toMatch(new RegExp(`^tapaudit: 1 file: ${s.packets} packets`));
      for (const l of lines.slice(0, -1)) expect(l).toMatch(/^tapaudit: warning: /);
    });
  }

  it('both outcomes occur (the folder has unreadable headers and bad packets)', () => {
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.replayed).toBeGreaterThan(0);
  });
});
