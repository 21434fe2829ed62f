/**
 * systemd/tapaudit.service must pass `systemd-analyze verify` and score 3.0 or better
 * (lower is better) with `systemd-analyze security --offline=true`; the logrotate snippet
 * must parse. Skipped with a printed reason where the tools are missing (CI installs them).
 *
 * verify checks that ExecStart's binary exists, and the unit points at the install
 * location /opt/tapaudit, so the test verifies a copy whose ExecStart names this checkout's
 * dist/bin/tapaudit.js; nothing else is changed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const UNIT = path.join(REPO_ROOT, 'systemd', 'tapaudit.service');
const LOGROTATE = path.join(REPO_ROOT, 'systemd', 'tapaudit.logrotate');
const have = (tool: string) => spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0;
const haveAnalyze = have('systemd-analyze');
const haveLogrotate = have('logrotate');
if (!haveAnalyze) console.warn('[tapaudit tests] systemd-analyze not found: skipping the unit checks (apt-get install systemd)');
if (!haveLogrotate) console.warn('[tapaudit tests] logrotate not found: skipping the logrotate snippet check');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-systemd-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function unitCopy(): string {
  const text = fs.readFileSync(UNIT, 'utf8');
  expect(text).toContain('/usr/bin/node /opt/tapaudit/dist/bin/tapaudit.js live');
  const copy = path.join(dir, 'tapaudit.service');
  fs.writeFileSync(copy, text.replace('/usr/bin/node /opt/tapaudit/dist/bin/tapaudit.js', `${process.execPath} ${path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js')}`));
  return copy;
}

describe('systemd unit', () => {
  it('has the settings SPEC §6 asks for', () => {
    const t = fs.readFileSync(UNIT, 'utf8');
    for (const line of [
      'Type=exec',
      'User=tapaudit',
      'AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN',
      'CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'ReadWritePaths=/var/log/tapaudit',
      'Restart=on-failure',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_PACKET AF_NETLINK',
    ]) {
      expect(t.split('\n')).toContain(line);
    }
    expect(t).toMatch(/^MemoryMax=\S+$/m);
  });

  it.skipIf(!haveAnalyze)('passes systemd-analyze verify', () => {
    const r = spawnSync('systemd-analyze', ['verify', unitCopy()], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // verify reports unknown keys and bad values on stderr but may still exit 0.
    expect(r.stderr.split('\n').filter((l) => /tapaudit\.service:\d+/.test(l))).toEqual([]);
  });

  it.skipIf(!haveAnalyze)('scores 3.0 or better with systemd-analyze security --offline=true', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unitCopy()], { encoding: 'utf8' });
    const m = /Overall exposure level for tapaudit\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const score = Number(m![1]);
    console.info(`[tapaudit tests] systemd-analyze security: ${score}`);
    expect(score).toBeLessThanOrEqual(3.0);
  });
});

describe('logrotate snippet', () => {
  it('sends SIGHUP to the service after rotating', () => {
    const t = fs.readFileSync(LOGROTATE, 'utf8');
    expect(t).toMatch(/postrotate\s+systemctl kill -s HUP tapaudit\.service/);
    expect(t).not.toMatch(/^\s*copytruncate/m);
  });

  it.skipIf(!haveLogrotate)('parses (logrotate -d, with the user and the log folder of this test)', () => {
    const logs = path.join(dir, 'log');
    fs.mkdirSync(logs, { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(logs, 'alerts.ndjson'), '{}\n');
    const user = os.userInfo().username;
    const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
    const conf = path.join(dir, 'tapaudit.logrotate');
    fs.writeFileSync(conf, fs.readFileSync(LOGROTATE, 'utf8').replace('/var/log/tapaudit', logs).replace('tapaudit tapaudit', `${user} ${group}`));
    const r = spawnSync('logrotate', ['-d', '-s', path.join(dir, 'state'), conf], { encoding: 'utf8' });
    const out = r.stdout + r.stderr;
    expect(out).not.toMatch(/^error:/m);
    expect(out).toMatch(/alerts\.ndjson/);
  });
});
