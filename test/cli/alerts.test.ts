import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { alertsCommand, formatAlertLine } from '../../src/cli/alerts.js';
import type { AlertInput } from '../../src/detect/types.js';
import { openAlertLog } from '../../src/output/alert-log.js';
import { UserError } from '../../src/util/errors.js';
import { REPO_ROOT } from '../helpers/shared.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-alerts-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 2, 3, 9, 5) * 1000 + 123_456;

function alert(i: number, over: Partial<AlertInput> = {}): AlertInput {
  return {
    ruleId: 'scan.address', severity: 3, message: `alert #${i}`,
    timestampMicros: T0 + i * 1_000_000, startMicros: T0, endMicros: T0 + i,
    sourceIp: '10.0.0.5', destinationPort: 445, transport: 'tcp', evidence: { targets: i }, ...over,
  };
}

/** NDJSON lines exactly as the alert log writes them. */
async function logLines(alerts: AlertInput[]): Promise<string> {
  const f = path.join(tmp, `gen-${Math.random().toString(36).slice(2)}.ndjson`);
  const log = openAlertLog(f);
  for (const a of alerts) log.write(a);
  await log.close();
  return fs.readFileSync(f, 'utf8');
}

function sink(isTTY = false) {
  const chunks: string[] = [];
  const w = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }) as Writable & { isTTY?: boolean };
  w.isTTY = isTTY;
  return { w, text: () => chunks.join('') };
}

describe('formatAlertLine', () => {
  it('one readable line per alert, second precision, destination forms', async () => {
    const text = await logLines([
      alert(0),
      alert(1, { severity: 4, ruleId: 'backdoor.port', destinationIp: '192.0.2.9', destinationPort: 31337, message: 'nc -l' }),
      alert(2, { severity: 1, ruleId: 'p2p.activity', destinationIp: '2001:db8::9', destinationPort: 6881 }),
      alert(3, { severity: 2, destinationPort: undefined, evidence: { summary: true, suppressed: 12 } }),
    ]);
    const out = text.trim().split('\n').map((l) => formatAlertLine(l, false));
    expect(out).toEqual([
      '2026-01-02 03:09:05 high scan.address         10.0.0.5 -> *:445  alert #0',
      '2026-01-02 03:09:06 crit backdoor.port        10.0.0.5 -> 192.0.2.9:31337  nc -l',
      '2026-01-02 03:09:07 info p2p.activity         10.0.0.5 -> [2001:db8::9]:6881  alert #2',
      '2026-01-02 03:09:08 low  scan.address         10.0.0.5  alert #3 [x 12 suppressed]',
    ]);
  });
  it('not an alert record -> null', () => {
    for (const l of ['', 'garbage', '{"a":1}', 'null', '[1]', '{"rule":{"id":5}}']) expect(formatAlertLine(l, false), l).toBeNull();
  });
  it('colours the severity only when asked', async () => {
    const line = (await logLines([alert(0)])).trim();
    expect(formatAlertLine(line, true)).toContain('\x1b[31mhigh\x1b[0m');
    expect(formatAlertLine(line, false)).not.toContain('\x1b');
  });
});

describe('tapaudit alerts', () => {
  it('reads a file, skips non-JSON lines and counts them on stderr', async () => {
    const f = path.join(tmp, 'mixed.ndjson');
    fs.writeFileSync(f, `${await logLines([alert(0), alert(1)])}not json\n\n{"x":1}\n`);
    const out = sink();
    const err = sink();
    expect(await alertsCommand([f], { stdout: out.w, stderr: err.w })).toBe(0);
    expect(out.text().split('\n').filter(Boolean)).toHaveLength(2);
    expect(err.text()).toBe('tapaudit alerts: skipped 2 lines that were not alert records\n');
  });

  it('reads stdin when the file is omitted or "-"', async () => {
    const text = await logLines([alert(0), alert(1), alert(2)]);
    for (const argv of [[], ['-']]) {
      const out = sink();
      expect(await alertsCommand(argv, { stdout: out.w, stderr: sink().w, stdin: Readable.from([text]) })).toBe(0);
      expect(out.text().match(/alert #\d/g)).toEqual(['alert #0', 'alert #1', 'alert #2']);
    }
  });

  it('a write error ends the view: EPIPE with 0 and stdin closed, anything else as a one-line error', async () => {
    const text = await logLines(Array.from({ length: 50 }, (_, i) => alert(i)));
    /** Takes `ok` lines, then fails every write with `code`. */
    const failing = (ok: number, code: string) => {
      let lines = 0;
      return new Writable({
        write(_c, _e, cb) {
          if (lines++ < ok) cb();
          else cb(Object.assign(new Error(code), { code }));
        },
      });
    };
    const stdin = Readable.from(text.split('\n').map((l) => `${l}\n`));
    expect(await alertsCommand(['-'], { stdout: failing(3, 'EPIPE'), stderr: sink().w, stdin })).toBe(0);
    expect(stdin.destroyed).toBe(true);
    const full = alertsCommand(['-'], { stdout: failing(3, 'ENOSPC'), stderr: sink().w, stdin: Readable.from([text]) });
    await expect(full).rejects.toThrow(UserError);
    await expect(full).rejects.toMatchObject({ exitCode: 4, message: 'cannot write to stdout: ENOSPC' });
  });

  it('colour on a TTY, none with NO_COLOR or in a pipe', async () => {
    const text = await logLines([alert(0)]);
    const run = async (isTTY: boolean, env: NodeJS.ProcessEnv) => {
      const out = sink(isTTY);
      await alertsCommand(['-'], { stdout: out.w, stderr: sink().w, stdin: Readable.from([text]), env });
      return out.text();
    };
    expect(await run(true, {})).toContain('\x1b[');
    expect(await run(true, { NO_COLOR: '1' })).not.toContain('\x1b[');
    expect(await run(false, {})).not.toContain('\x1b[');
  });

  it('--help, bad usage and unreadable files', async () => {
    const out = sink();
    expect(await alertsCommand(['--help'], { stdout: out.w })).toBe(0);
    expect(out.text()).toMatch(/^Usage: tapaudit alerts \[FILE\] \[-f\]/);
    await expect(alertsCommand(['--bogus'])).rejects.toBeInstanceOf(UserError);
    await expect(alertsCommand(['a', 'b'])).rejects.toThrow(/one alert log file/);
    await expect(alertsCommand(['-f'])).rejects.toThrow(/-f needs a FILE/);
    await expect(alertsCommand([path.join(tmp, 'missing.ndjson')])).rejects.toThrow(/cannot read .*missing\.ndjson: no such file/);
    await expect(alertsCommand([tmp])).rejects.toThrow(/it is a directory/);
  });

  it('-f follows appends and rotation: every line printed once', async () => {
    const f = path.join(tmp, 'follow.ndjson');
    const all = (await logLines(Array.from({ length: 40 }, (_, i) => alert(i)))).trim().split('\n');
    fs.writeFileSync(f, `${all.slice(0, 5).join('\n')}\n`);
    const out = new PassThrough();
    let printed = '';
    out.on('data', (c) => (printed += String(c)));
    const ac = new AbortController();
    const done = alertsCommand(['-f', f], { stdout: out, stderr: sink().w, signal: ac.signal, pollMs: 10 });
    const count = () => (printed.match(/alert #\d+/g) ?? []).length;
    const waitFor = async (n: number) => {
      for (let i = 0; i < 300 && count() < n; i++) await new Promise((r) => setTimeout(r, 10));
      expect(count()).toBe(n);
    };
    await waitFor(5);
    fs.appendFileSync(f, `${all.slice(5, 10).join('\n')}\n`);
    // A line written in two pieces is printed once, whole.
    fs.appendFileSync(f, all[10]!.slice(0, 30));
    await new Promise((r) => setTimeout(r, 40));
    fs.appendFileSync(f, `${all[10]!.slice(30)}\n`);
    await waitFor(11);
    // logrotate: the last lines land in the old file just before the rename, then a new file.
    fs.appendFileSync(f, `${all.slice(11, 15).join('\n')}\n`);
    fs.renameSync(f, `${f}.1`);
    await new Promise((r) => setTimeout(r, 30));
    fs.writeFileSync(f, `${all.slice(15, 25).join('\n')}\n`);
    await waitFor(25);
    // copytruncate: the same file cut to zero and written again.
    fs.truncateSync(f, 0);
    await new Promise((r) => setTimeout(r, 40));
    fs.appendFileSync(f, `${all.slice(25, 40).join('\n')}\n`);
    await waitFor(40);
    ac.abort();
    expect(await done).toBe(0);
    expect(printed.match(/alert #\d+/g)).toEqual(Array.from({ length: 40 }, (_, i) => `alert #${i}`));
  });
});

describe('tapaudit alerts in a pipeline (the built CLI)', () => {
  const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');
  const sh = (script: string, env: Record<string, string> = {}) =>
    spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });

  it('ends with 0 and nothing on stderr when the reader goes away (| head), from a file, stdin or -f', async () => {
    const log = path.join(tmp, 'many.ndjson');
    fs.writeFileSync(log, await logLines(Array.from({ length: 3000 }, (_, i) => alert(i))));
    for (const args of [`"${log}"`, `- < "${log}"`, `-f "${log}"`]) {
      // PIPESTATUS[0]: tapaudit's own status.
      const r = sh(`"${process.execPath}" "${CLI}" alerts ${args} | head -n 1; exit \${PIPESTATUS[0]}`);
      expect(r.status, `${args}: ${r.stderr}`).toBe(0);
      expect(r.stderr, args).toBe('');
      expect(r.stdout, args).toMatch(/^2026-01-02 03:09:05 high scan\.address .* alert #0\n$/);
    }
    // A writer that never stops (tail -f into the view): tapaudit closes its stdin, so
    // the writer gets its EPIPE and the pipeline ends.
    const line = fs.readFileSync(log, 'utf8').split('\n')[0];
    const endless = sh(`yes '${line}' | "${process.execPath}" "${CLI}" alerts | head -n 2 > /dev/null; echo "\${PIPESTATUS[@]}"`);
    expect(endless.error).toBeUndefined();
    expect(endless.stdout.trim().split(' ').slice(1)).toEqual(['0', '0']);
  });

  it('another write error (a full disk) is one line and exit 4', async () => {
    const log = path.join(tmp, 'few.ndjson');
    fs.writeFileSync(log, await logLines([alert(0), alert(1)]));
    const r = sh(`"${process.execPath}" "${CLI}" alerts "${log}" > /dev/full`);
    expect(r.status).toBe(4);
    expect(r.stderr).toBe('tapaudit: cannot write to stdout: ENOSPC\n');
  });
});
