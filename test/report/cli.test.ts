/** `tapaudit report` and `tapaudit search` as the built binary: output forms, exit codes, one-line user errors. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-report-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const flows = path.join(tmp, 'flows.ndjson');

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

beforeAll(() => {
  expect(run('replay', path.join(REPO_ROOT, 'captures', 'demo.pcap'), '--flows', flows, '-q').status).toBe(0);
});

describe('tapaudit report / search CLI', () => {
  it('report --json is one object whose totals match the flow log', () => {
    const r = run('report', flows, '--json');
    expect(r.status).toBe(0);
    const data = JSON.parse(r.stdout);
    const records = fs.readFileSync(flows, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(data.summary.flows).toBe(records.length);
    expect(data.summary.bytes).toBe(records.reduce((a, f) => a + f.bytes_toserver + f.bytes_toclient, 0));
    expect(data.scans.length).toBeGreaterThan(0);
  });

  it('report text has every section', () => {
    const r = run('report', flows, '--top', '3');
    expect(r.status).toBe(0);
    for (const title of ['Traffic by protocol', 'Traffic by service', 'Top talkers by bytes sent', 'Busiest host pairs', 'Client/server', 'Remote hosts per local host', 'Possible scans']) {
      expect(r.stdout).toContain(title);
    }
  });

  it('search --json prints flow records; a glob reads several files', () => {
    fs.copyFileSync(flows, path.join(tmp, 'flows-2.ndjson'));
    const one = run('search', flows, '--proto', 'udp', '--limit', '100000', '--json');
    const two = run('search', path.join(tmp, 'flows*.ndjson'), '--proto', 'udp', '--limit', '100000', '--json');
    expect(one.status).toBe(0);
    const n = one.stdout.trim().split('\n').length;
    expect(n).toBeGreaterThan(0);
    expect(two.stdout.trim().split('\n').length).toBe(2 * n);
    expect(JSON.parse(one.stdout.split('\n')[0]!).proto).toBe('udp');
  });

  it('search --pivot lists peers; the limit notice goes to stderr', () => {
    const p = run('search', flows, '--pivot', '10.1.0.31', '--depth', '2');
    expect(p.status).toBe(0);
    expect(p.stdout).toContain('203.0.113.66');
    const s = run('search', flows, '--limit', '1');
    expect(s.stderr).toMatch(/more match/);
  });

  it.each([
    [['search', flows, '--host', 'not-an-ip'], 2, /--host needs an IPv4 or IPv6 address/],
    [['search', flows, '--from', 'yesterday'], 2, /--from needs a time/],
    [['search', flows, '--depth', '2'], 2, /--depth goes with --pivot/],
    [['search', flows, '--bogus'], 2, /Unknown option/],
    [['report'], 2, /no flow log given/],
    [['report', path.join(tmp, 'missing.ndjson')], 3, /no such file/],
    [['search', path.join(tmp, 'none-*.ndjson')], 3, /cannot read the flow logs/],
  ])('%j exits %i with one line', (args, code, message) => {
    const r = run(...(args as string[]));
    expect(r.status).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n').length).toBe(1);
  });

  it('output into a pipe that closes (| head) ends with 0 and no trace; into a full disk, one line and exit 4', () => {
    const sh = (script: string) => spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 20_000 });
    // ~180 KB of records in one write: more than a pipe holds, so head's exit cuts it.
    const piped = sh(`"${process.execPath}" "${CLI}" search "${flows}" --limit 100000 --json | head -n 1; exit \${PIPESTATUS[0]}`);
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    expect(JSON.parse(piped.stdout).src_ip).toBeTypeOf('string');
    for (const args of [['report', flows], ['search', flows, '--limit', '100000']]) {
      const full = sh(`"${process.execPath}" "${CLI}" ${args.map((a) => `"${a}"`).join(' ')} > /dev/full`);
      expect(full.status, args[0]).toBe(4);
      expect(full.stderr, args[0]).toBe('tapaudit: cannot write to stdout: ENOSPC\n');
    }
  });

  it('--help', () => {
    expect(run('report', '--help').stdout).toContain('Usage: tapaudit report');
    expect(run('search', '--help').stdout).toContain('--pivot IP');
  });
});
