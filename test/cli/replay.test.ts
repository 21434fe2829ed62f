/**
 * `tapaudit replay` as a user runs it: the built CLI (dist/, made by `npm test`'s pretest
 * build) spawned with real arguments. User mistakes give one line on stderr, no stack
 * trace, and a documented exit status.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/gen/pcap-writer.js';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');
const DEMO = path.join(REPO_ROOT, 'captures', 'demo.pcap');

function tapaudit(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, cwd: REPO_ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tmp(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-cli-')), name);
}

describe('tapaudit replay', () => {
  it('replays the demo: flows, alerts and stats agree with each other', () => {
    const flows = tmp('flows.ndjson');
    const alerts = tmp('alerts.ndjson');
    const stats = tmp('stats.json');
    const r = tapaudit(['replay', DEMO, '--flows', flows, '--alerts', alerts, '--stats', stats]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^tapaudit: 1 file: \d+ packets, \d+ flows, \d+ alerts/m);
    const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
    const records = fs.readFileSync(flows, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const alertLines = fs.readFileSync(alerts, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    expect(s.packets).toBe(s.flow_packets + sum(s.not_flowed));
    expect(records.length).toBe(sum(s.flows));
    expect(records.reduce((a, f) => a + f.pkts_toserver + f.pkts_toclient, 0)).toBe(s.flow_packets);
    expect(alertLines.length).toBe(sum(s.alerts));
    for (const rule of ['scan.port', 'scan.address', 'backdoor.port', 'icmp.unreachable']) {
      expect(alertLines.some((a) => a.rule.id === rule), rule).toBe(true);
    }
  });

  it('loads pino with the first alert, from the build\'s single-file copy: a replay without alerts never does', () => {
    const empty = tmp('empty.pcap');
    PcapWriter.create(empty).close(); // the global header, no packet
    const loadsPino = (capture: string) => {
      const alerts = tmp('alerts.ndjson');
      const r = spawnSync(process.execPath, [CLI, 'replay', capture, '--alerts', alerts, '--flows', tmp('flows.ndjson')], {
        encoding: 'utf8', cwd: REPO_ROOT, env: { ...process.env, NODE_DEBUG: 'module' },
      });
      expect(r.status, r.stderr.slice(-500)).toBe(0);
      expect(fs.existsSync(alerts)).toBe(true);
      // pino's own files (~25 of them with its dependencies) are never read one by one.
      expect(r.stderr).not.toMatch(/node_modules\/(pino|sonic-boom)\//);
      return /load "[^"]*dist\/vendor\/pino\.cjs"/.test(r.stderr);
    };
    expect(loadsPino(empty)).toBe(false);
    expect(loadsPino(DEMO)).toBe(true);
  });

  it('writes flow records to stdout with --flows - and IPAudit columns with --flows-format ipaudit', () => {
    const json = tapaudit(['replay', DEMO, '--flows', '-', '-q']);
    expect(json.code).toBe(0);
    expect(json.err).toBe('');
    const first = JSON.parse(json.out.split('\n')[0]!);
    expect(Object.keys(first).slice(0, 7)).toEqual(['start', 'end', 'proto', 'src_ip', 'src_port', 'dst_ip', 'dst_port']);
    const ipa = tapaudit(['replay', DEMO, '--flows', '-', '--flows-format', 'ipaudit', '-q']);
    const cols = ipa.out.split('\n')[0]!.split(' ');
    expect(cols).toHaveLength(13);
    expect(cols[9]).toMatch(/^\d\d:\d\d:\d\d\.\d{4}$/);
    expect(ipa.out.trim().split('\n')).toHaveLength(json.out.trim().split('\n').length);
  });

  it('a second replay into the same --alerts/--flows files replaces them (no doubling)', () => {
    const flows = tmp('flows.ndjson');
    const alerts = tmp('alerts.ndjson');
    tapaudit(['replay', DEMO, '--flows', flows, '--alerts', alerts, '-q']);
    const first = [fs.readFileSync(flows, 'utf8'), fs.readFileSync(alerts, 'utf8')];
    tapaudit(['replay', DEMO, '--flows', flows, '--alerts', alerts, '-q']);
    expect([fs.readFileSync(flows, 'utf8'), fs.readFileSync(alerts, 'utf8')]).toEqual(first);
    expect(first[1]!.length).toBeGreaterThan(0);
  });

  it('reads several files in order as one stream', () => {
    const stats = tmp('stats.json');
    expect(tapaudit(['replay', DEMO, DEMO, '--stats', stats, '-q']).code).toBe(0);
    const one = tmp('one.json');
    tapaudit(['replay', DEMO, '--stats', one, '-q']);
    expect(JSON.parse(fs.readFileSync(stats, 'utf8')).packets).toBe(2 * JSON.parse(fs.readFileSync(one, 'utf8')).packets);
  });

  it('--help prints the usage and exits 0', () => {
    const r = tapaudit(['replay', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: tapaudit replay FILE...');
    expect(tapaudit(['--help']).out).toContain('Commands:');
  });

  const mistakes: [string, string[], number, RegExp][] = [
    ['no file', ['replay'], 2, /no capture file given/],
    ['unknown option', ['replay', DEMO, '--flwos', 'x'], 2, /--flwos/],
    ['bad --max-flows', ['replay', DEMO, '--max-flows', 'lots'], 2, /--max-flows must be a positive integer/],
    ['bad --flows-format', ['replay', DEMO, '--flows-format', 'csv'], 2, /json or ipaudit/],
    ['unknown command', ['replya', DEMO], 2, /unknown command "replya"/],
    // A name every object has: it was looked up on the prototype, and "c.run is not a function" came out as an internal error.
    ['unknown command named like an object method', ['toString'], 2, /unknown command "toString"/],
    ['missing file', ['replay', 'nope.pcap'], 3, /nope\.pcap/],
    ['not a capture', ['replay', path.join(REPO_ROOT, 'README.md')], 3, /README\.md/],
    ['missing config', ['replay', DEMO, '--config', 'nope.yaml'], 2, /nope\.yaml/],
    ['output is a directory', ['replay', DEMO, '--flows', os.tmpdir()], 4, /is a directory/],
    // Node's recursive mkdir used to spin forever here (a parent exists, the child cannot be made).
    ['output folder cannot be made', ['replay', DEMO, '--alerts', '/proc/1/nope/a.ndjson'], 4, /\/proc\/1\/nope\/a\.ndjson: its folder does not exist/],
  ];
  for (const [what, args, code, message] of mistakes) {
    it(`user mistake, ${what}: one line, exit ${code}, no stack trace`, () => {
      const r = tapaudit(args);
      expect(r.code).toBe(code);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).not.toMatch(/\n\s+at /);
    });
  }

  it('ends with process.exit() once all is written, not when its event loop runs dry (src/cli/main.ts: nodejs/node#54918)', () => {
    // A module loaded first reports which way the process ended: 'beforeExit' comes only
    // when the event loop ran dry (where Node then waits for V8's queued compile jobs).
    const probe = `data:text/javascript,${encodeURIComponent(
      "import fs from 'node:fs';" +
      "process.on('beforeExit', () => fs.writeSync(2, 'PROBE beforeExit\\n'));" +
      "process.on('exit', (c) => fs.writeSync(2, 'PROBE exit ' + c + '\\n'));",
    )}`;
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, ['--import', probe, CLI, ...args], { encoding: 'utf8', cwd: REPO_ROOT });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    // Flow records to a pipe (stdout) and the stats to a file: all there, exit 0.
    const stats = tmp('stats.json');
    const r = run(['replay', DEMO, '--flows', '-', '--stats', stats]);
    expect(r.code).toBe(0);
    expect(r.err).not.toContain('PROBE beforeExit');
    expect(r.err).toMatch(/tapaudit: 1 file: .*\nPROBE exit 0\n$/);
    const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
    const records = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(records.length).toBe(Object.values(s.flows as Record<string, number>).reduce((a, b) => a + b, 0));
    // A command that threw (a user mistake, a full disk) ends the usual way, with its status.
    const missing = run(['replay', tmp('missing.pcap')]);
    expect(missing.code).toBe(3);
    expect(missing.err).toContain('PROBE beforeExit');
    expect(missing.err).toContain('PROBE exit 3');
    // The probe itself: a command without exitAtEnd ends the usual way.
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.err).toContain('PROBE beforeExit');
  });

  it('collects garbage just before process.exit(), so no V8 compile job waits on a collection at exit (src/cli/main.ts)', () => {
    // --trace-gc writes one line per collection to stdout; gc() is reason "testing".
    const r = spawnSync(process.execPath, ['--trace-gc', CLI, 'replay', DEMO, '--flows', tmp('flows.ndjson'), '-q'], { encoding: 'utf8', cwd: REPO_ROOT });
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.at(-1)).toMatch(/Mark-Compact .* testing/);
    expect(lines.slice(0, -1).join('\n')).not.toMatch(/testing/);
    // A command that threw ends the usual way (Node then waits for every queued compile
    // job), after the same collection.
    const failed = spawnSync(process.execPath, ['--trace-gc', CLI, 'replay', tmp('missing.pcap')], { encoding: 'utf8', cwd: REPO_ROOT });
    expect(failed.status).toBe(3);
    expect(failed.stdout.trim().split('\n').at(-1)).toMatch(/Mark-Compact .* testing/);
  });

  it('stops on SIGTERM with exit 0 and every flow written', async () => {
    const { spawn } = await import('node:child_process');
    // Several copies of the demo so the run lasts long enough to be interrupted.
    const copies = 1000;
    const files = Array.from({ length: copies }, () => DEMO);
    const stats = tmp('stats.json');
    const flows = tmp('flows.ndjson');
    const child = spawn(process.execPath, [CLI, 'replay', ...files, '--stats', stats, '--flows', flows, '-q']);
    // Signal once the run is under way: the flow file exists once the pipeline is built,
    // and the signal handlers are installed right after it (start-up on a loaded machine
    // took up to 0.85 s, so a fixed delay was not enough).
    while (!fs.existsSync(flows)) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(0);
    const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
    const records = fs.readFileSync(flows, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(records.reduce((a, f) => a + f.pkts_toserver + f.pkts_toclient, 0)).toBe(s.flow_packets);
    expect(s.packets).toBeGreaterThan(0);
    // It was interrupted (not finished before the signal), and what was in the table left
    // as shutdown records.
    const demoPackets = JSON.parse(tapaudit(['replay', DEMO, '--stats', '-', '-q']).out).packets;
    expect(s.packets).toBeLessThan(copies * demoPackets);
    expect(s.flows.shutdown).toBeGreaterThan(0);
  });

  it('runs as an executable, with glibc\'s huge-page tunables ahead of the caller\'s own and no NODE_EXTRA_CA_CERTS', () => {
    // PATH with this node first: the first line finds node through env.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    delete env.GLIBC_TUNABLES;
    const r = spawnSync(CLI, ['--version'], { encoding: 'utf8', env });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('0.1.0');
    // The CLI's own first line atop a script that prints what node was started with.
    const firstLine = fs.readFileSync(CLI, 'utf8').split('\n')[0]!;
    const probe = tmp('probe.js');
    fs.writeFileSync(probe, `${firstLine}\nprocess.stdout.write(String(process.env.GLIBC_TUNABLES));\n`, { mode: 0o755 });
    const ours = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=2097152:glibc.malloc.trim_threshold=67108864';
    expect(spawnSync(probe, { encoding: 'utf8', env }).stdout).toBe(`${ours}:`);
    const theirs = spawnSync(probe, { encoding: 'utf8', env: { ...env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' } });
    expect(theirs.stdout).toBe(`${ours}:glibc.malloc.arena_max=2`);
    // Node reads NODE_EXTRA_CA_CERTS as it starts and warns when the file cannot be read:
    // no warning means node never saw the variable (it cost ~35 ms a run).
    const certs = spawnSync(CLI, ['--version'], { encoding: 'utf8', env: { ...env, NODE_EXTRA_CA_CERTS: tmp('missing.pem') } });
    expect(certs.status).toBe(0);
    expect(certs.stderr).toBe('');
    expect(spawnSync(process.execPath, ['-e', '0'], { encoding: 'utf8', env: { ...env, NODE_EXTRA_CA_CERTS: tmp('missing.pem') } }).stderr)
      .toContain('Ignoring extra certs');
  });
});
