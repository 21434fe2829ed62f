/**
 * The reviewer's acceptance checks (../shared/acceptance), wired into the suite:
 * - every detection capture raises the alerts expect-detection.tsv says it must and none
 *   of those it must not (check-alerts.mjs, run as the reviewer runs it);
 * - every capture in formats/, detection/ and malformed/ that is a readable capture passes
 *   check-replay.mjs (packets == flow_packets + not_flowed; records add up).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { isUserError } from '../../src/util/errors.js';
import { ACCEPTANCE_DIR, CAPTURES_DIR, describeShared, haveShared, manifest } from '../helpers/shared.js';
import { replayCapture } from '../helpers/replay.js';

function expectations(): { file: string; must: string; mustNot: string }[] {
  if (!haveShared) return [];
  return fs.readFileSync(path.join(ACCEPTANCE_DIR, 'expect-detection.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [file, must = '', mustNot = ''] = l.split('\t');
      return { file: file!, must, mustNot };
    });
}

function runCheck(script: string, args: string[]): { ok: boolean; out: string } {
  try {
    const out = execFileSync(process.execPath, [path.join(ACCEPTANCE_DIR, script), ...args], { encoding: 'utf8' });
    return { ok: true, out };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describeShared('acceptance: alerts on the detection captures (expect-detection.tsv)', () => {
  for (const { file, must, mustNot } of expectations()) {
    it(`${file}: must [${must}] must not [${mustNot}]`, async () => {
      const r = await replayCapture(path.join(CAPTURES_DIR, file));
      const check = runCheck('check-alerts.mjs', [r.alertsPath, must, mustNot]);
      expect(check.out.trim(), check.out).toMatch(/^ok/);
      expect(check.ok).toBe(true);
    });
  }
});

describeShared('acceptance: packet accounting on every readable capture (check-replay.mjs)', () => {
  const rows = [...manifest('formats/'), ...manifest('detection/'), ...manifest('malformed/')];
  for (const row of rows) {
    it(row.file, async () => {
      let r;
      try {
        r = await replayCapture(path.join(CAPTURES_DIR, row.file));
      } catch (err) {
        // Files that are not readable captures are refused with a one-line user error
        // (tested in test/capture); nothing else may escape.
        expect(isUserError(err), String(err)).toBe(true);
        return;
      }
      const statsPath = path.join(r.dir, 'stats.json');
      fs.writeFileSync(statsPath, JSON.stringify(r.stats));
      const check = runCheck('check-replay.mjs', [statsPath, r.flowsPath]);
      expect(check.out.trim(), check.out).toMatch(/^ok/);
    });
  }
});
