/**
 * The live sensor's parts that need neither root nor traffic: the host clock, link type
 * names, the loss estimate, the stats line, the metrics registry, `interfaces` formatting,
 * and the behaviour without the cap addon (TAPAUDIT_NO_CAP=1 simulates a missing libpcap).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MonotonicHostClock, linktypeFromCap, loadCap } from '../../src/capture/live.js';
import { formatDevice, prefixLength } from '../../src/cli/interfaces.js';
import { createRegistry, parseListen, startMetricsServer } from '../../src/output/metrics.js';
import {
  CaptureLossEstimator,
  estimate,
  formatStatsLine,
  readKernelCounters,
  snapshot,
  type KernelCounters,
  type SensorSnapshot,
} from '../../src/output/stats-line.js';
import { isUserError } from '../../src/util/errors.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { CLI } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.TAPAUDIT_NO_CAP;
});

describe('MonotonicHostClock', () => {
  it('follows the wall clock in microseconds', () => {
    const c = new MonotonicHostClock();
    const t = c.nowMicros();
    expect(Math.abs(t / 1000 - Date.now())).toBeLessThan(50);
    expect(Number.isInteger(t)).toBe(true);
  });

  it('never goes backwards when the wall clock steps back; slews at most 0.5 ms per second; follows forward steps at once', () => {
    let wall = 1_700_000_000_000;
    let perf = 1000;
    vi.spyOn(Date, 'now').mockImplementation(() => wall);
    vi.spyOn(performance, 'now').mockImplementation(() => perf);
    const c = new MonotonicHostClock();
    const t0 = c.nowMicros();
    expect(t0).toBe(wall * 1000);
    // One hour back (an NTP step), then time goes on.
    wall -= 3_600_000;
    let last = t0;
    for (let i = 1; i <= 10; i++) {
      perf += 1000;
      wall += 1000;
      const t = c.nowMicros();
      expect(t).toBeGreaterThanOrEqual(last);
      // 1 s of perf time minus at most 500 us of slew.
      expect(t - last).toBeGreaterThanOrEqual(1_000_000 - 500);
      last = t;
    }
    // Forward step: followed on the next anchor.
    wall += 7_200_000;
    perf += 1000;
    expect(c.nowMicros()).toBe(wall * 1000);
  });

  it('is clamped: the same value, never a smaller one, within a millisecond', () => {
    const c = new MonotonicHostClock();
    let last = -Infinity;
    let backwards = 0;
    for (let i = 0; i < 100_000; i++) {
      const t = c.nowMicros();
      if (t < last) backwards++;
      last = t;
    }
    expect(backwards).toBe(0);
  });
});

describe('link types from cap', () => {
  it('maps cap names and "Unknown linktype N" to LINKTYPE numbers', () => {
    expect(linktypeFromCap('ETHERNET')).toBe(1);
    expect(linktypeFromCap('LINKTYPE_LINUX_SLL')).toBe(113);
    expect(linktypeFromCap('NULL')).toBe(0);
    expect(linktypeFromCap('RAW')).toBe(101);
    expect(linktypeFromCap('Unknown linktype 276')).toBe(276);
    expect(linktypeFromCap('something else')).toBe(-1);
  });
});

describe('capture loss estimate', () => {
  const k = (rxPackets: number, rxDropped = 0, rxMissed = 0): KernelCounters => ({ rxPackets, rxDropped, rxMissed });

  it('kernel frames (rx + dropped + missed) minus frames seen, never negative', () => {
    expect(estimate(k(100), k(1100), 1000)).toEqual({ kernel_rx: 1000, kernel_dropped: 0, seen: 1000, lost: 0, ratio: 0 });
    expect(estimate(k(0, 0, 0), k(900, 50, 50), 800)).toEqual({ kernel_rx: 1000, kernel_dropped: 100, seen: 800, lost: 200, ratio: 0.2 });
    // Frames the host sent are captured but not in rx: seen > rx, clamped at 0.
    expect(estimate(k(0), k(10), 30).lost).toBe(0);
    expect(estimate(k(5), k(5), 0).ratio).toBeNull();
    expect(estimate(null, k(5), 3)).toEqual({ kernel_rx: 0, kernel_dropped: 0, seen: 3, lost: null, ratio: null });
  });

  it('keeps interval and cumulative figures apart', () => {
    const readings = [k(0), k(1000, 10), k(3000, 10)];
    let i = 0;
    const est = new CaptureLossEstimator('eth9', 0, () => readings[i]!);
    i = 1;
    const a = est.sample(990);
    expect(a.interval).toMatchObject({ kernel_rx: 1010, seen: 990, lost: 20 });
    i = 2;
    const b = est.sample(2990);
    expect(b.interval).toMatchObject({ kernel_rx: 2000, seen: 2000, lost: 0 });
    expect(b.total).toMatchObject({ kernel_rx: 3010, seen: 2990, lost: 20 });
  });

  it('reads /sys/class/net counters; null for an interface without them', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-sys-'));
    fs.mkdirSync(path.join(root, 'eth9', 'statistics'), { recursive: true });
    for (const [f, v] of [['rx_packets', '123\n'], ['rx_dropped', '4\n'], ['rx_missed_errors', '5\n']]) {
      fs.writeFileSync(path.join(root, 'eth9', 'statistics', f!), v!);
    }
    expect(readKernelCounters('eth9', root)).toEqual({ rxPackets: 123, rxDropped: 4, rxMissed: 5 });
    expect(readKernelCounters('any', root)).toBeNull();
    fs.rmSync(root, { recursive: true });
    if (fs.existsSync('/sys/class/net/lo/statistics/rx_packets')) {
      expect(readKernelCounters('lo')!.rxPackets).toBeGreaterThanOrEqual(0);
    }
  });
});

const STATS = {
  packets: 1234,
  flow_packets: 1200,
  not_flowed: { non_ip: 30, truncated_ip: 4, bad_ip_version: 0 },
  flows: { idle: 10, active: 0, fin: 5, rst: 2, capacity: 0, shutdown: 0 },
  alerts: { 'scan.port': 2, 'scan.address': 0 },
  wall_seconds: 1,
  bytes_captured: 99_000,
  bytes_wire: 100_000,
  flows_active: 7,
  icmp_errors_attributed: 0,
  hash_collisions: 0,
  detector_evictions: {},
  alerts_suppressed: 3,
  first_packet: null,
  last_packet: null,
  packets_per_second: 0,
  warnings: [],
};
const LOSS = {
  interval: { kernel_rx: 1300, kernel_dropped: 2, seen: 1234, lost: 66, ratio: 0.050769 },
  total: { kernel_rx: 1300, kernel_dropped: 2, seen: 1234, lost: 66, ratio: 0.050769 },
};

describe('stats line', () => {
  it('is one JSON line with the SPEC §6 numbers; zero counts left out of the breakdowns', () => {
    const line = formatStatsLine(snapshot('eth1', STATS, LOSS), 60, Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trim().includes('\n')).toBe(false);
    expect(JSON.parse(line)).toEqual({
      time: '2026-01-02T03:04:05.000Z',
      type: 'stats',
      interface: 'eth1',
      interval_seconds: 60,
      packets: 1234,
      bytes: 100_000,
      flows_active: 7,
      flows_emitted: 17,
      alerts: 2,
      alerts_by_rule: { 'scan.port': 2 },
      not_flowed: 34,
      not_flowed_by_reason: { non_ip: 30, truncated_ip: 4 },
      capture_loss: LOSS.interval,
      capture_loss_total: LOSS.total,
    });
  });
});

describe('Prometheus metrics', () => {
  const snap: SensorSnapshot = snapshot('eth1', STATS, LOSS);

  it('exposes the stats line numbers, one snapshot per scrape', async () => {
    const take = vi.fn(() => snap);
    const reg = createRegistry(take);
    const text = await reg.metrics();
    expect(take).toHaveBeenCalledTimes(1);
    expect(text).toMatch(/^tapaudit_packets_total 1234$/m);
    expect(text).toMatch(/^tapaudit_bytes_total 100000$/m);
    expect(text).toMatch(/^tapaudit_flows_active 7$/m);
    expect(text).toMatch(/^tapaudit_flows_emitted_total\{reason="idle"\} 10$/m);
    expect(text).toMatch(/^tapaudit_alerts_total\{rule="scan.port"\} 2$/m);
    expect(text).toMatch(/^tapaudit_not_flowed_total\{reason="non_ip"\} 30$/m);
    expect(text).toMatch(/^tapaudit_capture_loss_estimate_packets_total 66$/m);
    await reg.metrics();
    expect(take).toHaveBeenCalledTimes(2);
  });

  it('parses host:port and refuses the rest; serves GET /metrics on loopback', async () => {
    expect(parseListen('127.0.0.1:9900')).toEqual({ host: '127.0.0.1', port: 9900 });
    expect(parseListen('[::1]:9900')).toEqual({ host: '::1', port: 9900 });
    expect(parseListen(':9900')).toEqual({ host: undefined, port: 9900 });
    for (const bad of ['9900', 'host', 'h:99999']) expect(() => parseListen(bad)).toThrow(/metricsListen/);
    const server = await startMetricsServer('127.0.0.1:0', () => snap);
    try {
      const res = await fetch(`http://${server.address}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      expect(await res.text()).toMatch(/^tapaudit_packets_total 1234$/m);
      expect((await fetch(`http://${server.address}/other`)).status).toBe(404);
      // A taken port is a user error naming the key.
      const port = server.address.split(':').at(-1);
      await expect(startMetricsServer(`127.0.0.1:${port}`, () => snap)).rejects.toThrow(/cannot serve metrics on .*EADDRINUSE.*metricsListen/);
    } finally {
      await server.close();
    }
  });
});

describe('tapaudit interfaces formatting', () => {
  it('one line per interface: name, addresses with prefix lengths, description and flags', () => {
    expect(prefixLength('255.255.255.0')).toBe('24');
    expect(prefixLength('255.0.0.0')).toBe('8');
    expect(prefixLength('ffff:ffff:ffff:ffff::')).toBe('64');
    expect(prefixLength('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe('128');
    expect(prefixLength('255.0.255.0')).toBe('255.0.255.0');
    expect(
      formatDevice({ name: 'lo', addresses: [{ addr: '127.0.0.1', netmask: '255.0.0.0' }, { addr: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' }], flags: 'PCAP_IF_LOOPBACK' }, 6),
    ).toBe('lo    127.0.0.1/8 ::1/128  (loopback)\n');
    expect(formatDevice({ name: 'any', description: 'Pseudo-device', addresses: [] }, 6)).toBe('any   -  (Pseudo-device)\n');
  });
});

describe('without the cap addon (TAPAUDIT_NO_CAP=1 simulates a missing libpcap)', () => {
  it('loadCap throws one UserError that says how to install it', () => {
    process.env.TAPAUDIT_NO_CAP = '1';
    let err: unknown;
    try {
      loadCap();
    } catch (e) {
      err = e;
    }
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/apt-get install libpcap-dev && npm rebuild cap/);
  });

  const run = (args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: REPO_ROOT, env: { ...process.env, TAPAUDIT_NO_CAP: '1' }, timeout: 30_000 });

  it('live and interfaces fail with that one line (exit 2); every other command still works', () => {
    for (const args of [['live', '-i', 'lo'], ['interfaces']]) {
      const r = run(args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^tapaudit: live capture needs libpcap's headers and the cap addon: apt-get install libpcap-dev && npm rebuild cap/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(run(['live', '--help']).status).toBe(0);
    const replay = run(['replay', path.join(REPO_ROOT, 'captures', 'demo.pcap'), '--alerts', '-', '-q']);
    expect(replay.status, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/"rule":\{"id":"scan.port"/);
    const help = run(['--help']);
    expect(help.stdout).toMatch(/^ {2}live {8}/m);
    expect(help.stdout).toMatch(/^ {2}interfaces {2}/m);
  });

  it('live: usage mistakes are one line each', () => {
    const r1 = run(['live']);
    expect(r1.status).toBe(2);
    expect(r1.stderr).toMatch(/^tapaudit: live: no interface given/);
    const r2 = run(['live', '-i', 'lo', '--stats-interval', '0']);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/--stats-interval must be a number of seconds > 0/);
  });
});
