/**
 * `tapaudit live` on lo, end to end (issue 5, "How we will check it"). Each test captures
 * with a BPF filter on its own 127.0.0.x address and sends traffic to that address only.
 * The tests of this file run one after another (vitest runs a file's tests in order), and
 * no other test file captures on these addresses.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  CLI,
  connectClosedPorts,
  describeLive,
  readNdjson,
  sendUdp,
  startLive,
  stopLive,
  waitFor,
} from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-live-'));
  // World-writable so that the test running as "nobody" can write its flow log here.
  fs.chmodSync(dir, 0o777);
  // 127.0.0.0/8 as the local network, so the loopback hosts count as inside hosts (the
  // default local networks are RFC 1918 only). closedGraceSeconds 1: a REJ flow leaves 1 s
  // after its RST, so alerts are written while the sensor runs (the SIGHUP test needs that).
  fs.writeFileSync(path.join(dir, 'lo.yaml'), 'localNetworks: ["127.0.0.0/8"]\nflows:\n  closedGraceSeconds: 1\n');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const statsLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>)
    .filter((o) => o.type === 'stats');

describeLive('tapaudit live on lo', () => {
  it('sees a port scan and UDP probes to 127.0.0.77: scan.port alert, 30 REJ flows, ICMP errors attributed, exit 0 on SIGTERM', async () => {
    const alerts = path.join(dir, 'scan-alerts.ndjson');
    const flows = path.join(dir, 'scan-flows.ndjson');
    const live = await startLive(['-i', 'lo', '--bpf', 'host 127.0.0.77', '--config', path.join(dir, 'lo.yaml'),
      '--alerts', alerts, '--flows', flows, '--stats-interval', '1']);

    const codes = await connectClosedPorts('127.0.0.77', 47000, 30);
    expect(codes).toEqual(Array(30).fill('ECONNREFUSED'));
    await sendUdp('127.0.0.77', 48000, 12);
    // The capture sees every packet as it happens; the stats line says when all 84 are in.
    await waitFor(() => statsLines(live.stderr()).some((s) => s.packets >= 30 * 2 + 12 * 2), 5000, live.exited,
      () => `packets not seen:\n${live.stderr()}`);
    const code = await stopLive(live);
    expect(code, live.stderr()).toBe(0);

    // The kernel connects from 127.0.0.1 to any 127/8 address (the loopback route's source).
    const a = readNdjson(fs.readFileSync(alerts, 'utf8'));
    const scan = a.filter((x) => x.rule.id === 'scan.port' && x.source.ip === '127.0.0.1');
    expect(scan.length, JSON.stringify(a)).toBeGreaterThanOrEqual(1);
    expect(scan[0]!.destination.ip).toBe('127.0.0.77');

    const f = readNdjson(fs.readFileSync(flows, 'utf8'));
    const tcp = f.filter((x) => x.proto === 'tcp' && x.dst_ip === '127.0.0.77');
    expect(tcp.map((x) => x.dst_port).sort()).toEqual(Array.from({ length: 30 }, (_, i) => 47000 + i));
    for (const x of tcp) {
      expect(x.state).toBe('REJ');
      expect(x.src_ip).toBe('127.0.0.1');
      expect(x.tcp_flags_ts).toBe('S');
      expect(x.tcp_flags_tc).toBe('RA');
    }
    const udp = f.filter((x) => x.proto === 'udp' && x.dst_ip === '127.0.0.77');
    expect(udp.map((x) => x.dst_port).sort()).toEqual(Array.from({ length: 12 }, (_, i) => 48000 + i));
    for (const x of udp) {
      // ICMP port unreachable (type 3 code 3), attributed to the datagram's flow.
      expect(x.icmp_errors).toBe(1);
      expect(x.icmp_error_type).toBe(3);
      expect(x.icmp_error_code).toBe(3);
      expect(x.icmp_error_from).toBe('127.0.0.77');
      // UDP flows idle for 60 s: still in the table at SIGTERM, written with reason shutdown.
      expect(x.end_reason).toBe('shutdown');
    }
    // No ICMP flow of its own: every error found its flow.
    expect(f.filter((x) => x.proto === 'icmp')).toEqual([]);
    // Packet times are the host clock, in order.
    const now = Date.now();
    for (const x of f) {
      const t = Date.parse(x.start);
      expect(t).toBeGreaterThan(now - 60_000);
      expect(t).toBeLessThanOrEqual(now);
    }

    // The last stats line (written after the shutdown) accounts for everything.
    const last = statsLines(live.stderr()).at(-1)!;
    expect(last.packets).toBe(84);
    expect(last.flows_emitted).toBe(42);
    expect(last.flows_active).toBe(0);
    expect(last.alerts).toBe(a.length);
    expect(last.not_flowed).toBe(0);
    // lo has kernel counters; everything on lo during the test was ours or other tests'
    // loopback traffic, which the filter drops: the estimate is an upper bound, never negative.
    expect(last.capture_loss_total.kernel_rx).toBeGreaterThanOrEqual(84);
    expect(last.capture_loss_total.lost).toBe(last.capture_loss_total.kernel_rx - 84);
  });

  it('SIGHUP reopens the logs: alerts before the rename stay in the old file, later ones go to the new file, none lost', async () => {
    const alerts = path.join(dir, 'hup-alerts.ndjson');
    const flows = path.join(dir, 'hup-flows.ndjson');
    const live = await startLive(['-i', 'lo', '--bpf', 'host 127.0.0.77', '--config', path.join(dir, 'lo.yaml'),
      '--alerts', alerts, '--flows', flows, '--stats-interval', '0.5']);

    expect(await connectClosedPorts('127.0.0.77', 47100, 20)).toEqual(Array(20).fill('ECONNREFUSED'));
    // The REJ flows leave 1 s after their RST; the stats timer flushes every 0.5 s.
    const has = (file: string, src: string) =>
      fs.existsSync(file) && readNdjson(fs.readFileSync(file, 'utf8')).some((x) => x.rule.id === 'scan.port' && x.source.ip === src);
    await waitFor(() => has(alerts, '127.0.0.1'), 8000, live.exited, () => `first alert never written:\n${live.stderr()}`);

    // logrotate's move, then its postrotate SIGHUP.
    fs.renameSync(alerts, `${alerts}.1`);
    fs.renameSync(flows, `${flows}.1`);
    live.child.kill('SIGHUP');
    await waitFor(() => /SIGHUP: reopened/.test(live.stderr()), 5000, live.exited);

    // A second scanner, 127.0.0.78 (lo answers from any 127/8 address).
    expect(await connectClosedPorts('127.0.0.77', 47200, 20, '127.0.0.78')).toEqual(Array(20).fill('ECONNREFUSED'));
    await waitFor(() => has(alerts, '127.0.0.78'), 8000, live.exited, () => `second alert never written:\n${live.stderr()}`);
    expect(await stopLive(live), live.stderr()).toBe(0);

    const oldAlerts = readNdjson(fs.readFileSync(`${alerts}.1`, 'utf8'));
    const newAlerts = readNdjson(fs.readFileSync(alerts, 'utf8'));
    expect(oldAlerts.some((x) => x.source.ip === '127.0.0.1' && x.rule.id === 'scan.port')).toBe(true);
    expect(oldAlerts.some((x) => x.source.ip === '127.0.0.78')).toBe(false);
    expect(newAlerts.some((x) => x.source.ip === '127.0.0.78' && x.rule.id === 'scan.port')).toBe(true);
    const last = statsLines(live.stderr()).at(-1)!;
    expect(oldAlerts.length + newAlerts.length).toBe(last.alerts);

    // Every flow is in one of the two files, exactly once.
    const oldFlows = readNdjson(fs.readFileSync(`${flows}.1`, 'utf8'));
    const newFlows = readNdjson(fs.readFileSync(flows, 'utf8'));
    const ports = [...oldFlows, ...newFlows].filter((x) => x.proto === 'tcp').map((x) => x.dst_port).sort();
    expect(ports).toEqual([...Array.from({ length: 20 }, (_, i) => 47100 + i), ...Array.from({ length: 20 }, (_, i) => 47200 + i)]);
    expect(oldFlows.every((x) => x.src_ip === '127.0.0.1')).toBe(true);
    expect(newFlows.every((x) => x.src_ip === '127.0.0.78')).toBe(true);
    expect(last.flows_emitted).toBe(40);
  });

  it('appends to existing logs (a restarted sensor keeps what it wrote)', async () => {
    const flows = path.join(dir, 'append-flows.ndjson');
    fs.writeFileSync(flows, '{"earlier":"record"}\n');
    const live = await startLive(['-i', 'lo', '--bpf', 'host 127.0.0.80', '--flows', flows, '-q']);
    await connectClosedPorts('127.0.0.80', 47300, 3);
    await new Promise((r) => setTimeout(r, 300));
    expect(await stopLive(live), live.stderr()).toBe(0);
    const f = readNdjson(fs.readFileSync(flows, 'utf8'));
    expect(f[0]).toEqual({ earlier: 'record' });
    expect(f.slice(1).map((x) => x.dst_port).sort()).toEqual([47300, 47301, 47302]);
  });

  it('serves Prometheus metrics with the stats line numbers when outputs.metricsListen is set', async () => {
    const cfg = path.join(dir, 'metrics.yaml');
    fs.writeFileSync(cfg, 'outputs:\n  metricsListen: "127.0.0.1:0"\n');
    const live = await startLive(['-i', 'lo', '--bpf', 'host 127.0.0.81', '--config', cfg]);
    const url = /metrics on (http:\/\/\S+\/metrics)/.exec(live.stderr())?.[1];
    expect(url, live.stderr()).toBeDefined();
    await connectClosedPorts('127.0.0.81', 47400, 5);
    await new Promise((r) => setTimeout(r, 300));
    const res = await fetch(url!);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^tapaudit_packets_total 10$/m);
    expect(text).toMatch(/^tapaudit_flows_active 5$/m);
    expect(text).toMatch(/^tapaudit_kernel_rx_packets_total \d+$/m);
    expect(text).toMatch(/^# TYPE tapaudit_capture_loss_estimate_packets_total counter$/m);
    expect(await stopLive(live), live.stderr()).toBe(0);
  });

  it('runs as an unprivileged user holding only CAP_NET_RAW, and says so in one line without it', async () => {
    const setpriv = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    if (setpriv.status !== 0) {
      console.warn('[tapaudit tests] setpriv (util-linux) not found: skipping the unprivileged-user test');
      return;
    }
    const flows = path.join(dir, 'nobody-flows.ndjson');
    const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
    const withRaw = [...asNobody, '--inh-caps=+net_raw', '--ambient-caps=+net_raw', '--bounding-set=-all,+net_raw'];
    const live = await startLive(['-i', 'lo', '--bpf', 'host 127.0.0.79', '--flows', flows], withRaw);
    expect(await connectClosedPorts('127.0.0.79', 47500, 4)).toEqual(Array(4).fill('ECONNREFUSED'));
    await new Promise((r) => setTimeout(r, 300));
    expect(await stopLive(live), live.stderr()).toBe(0);
    expect(readNdjson(fs.readFileSync(flows, 'utf8')).map((x) => x.dst_port).sort()).toEqual([47500, 47501, 47502, 47503]);

    const denied = spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, CLI, 'live', '-i', 'lo'], { encoding: 'utf8', timeout: 10_000 });
    expect(denied.status).toBe(2);
    const lines = denied.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tapaudit: live: no permission to capture on lo .*CAP_NET_RAW/);
  });

  it('unknown interface and bad BPF filter: one line each, exit 2, no crash', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'live', ...args], { encoding: 'utf8', timeout: 10_000 });
    const noIf = run('-i', 'nosuch0');
    expect(noIf.status).toBe(2);
    expect(noIf.stderr).toMatch(/^tapaudit: live: no interface "nosuch0" to capture on; available: .*\blo\b/);
    expect(noIf.stderr.trim().split('\n')).toHaveLength(1);
    const bad = run('-i', 'lo', '--bpf', 'host and port', '--alerts', path.join(dir, 'never.ndjson'));
    // A failed open used to abort in libuv when cap's object was collected (status 134).
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^tapaudit: live: bad BPF filter "host and port": .*pcap-filter\(7\)\n$/);
    expect(fs.existsSync(path.join(dir, 'never.ndjson'))).toBe(false);
  });
});
