/**
 * search, pivot and report tables on a generated flow log whose expected answers are
 * computed here in JS from the same records (so a wrong SQL filter or aggregate fails).
 * The records use the flow writer's own field names and time format (SPEC §3).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/index.js';
import { openFlowDb, type FlowDb } from '../../src/report/db.js';
import { canonicalAddr, parseTimeMicros } from '../../src/report/params.js';
import { buildReport, REPORT_DEFAULTS } from '../../src/report/report.js';
import { pivot, searchFlows } from '../../src/report/search.js';
import { CidrMatcher } from '../../src/config/index.js';
import { formatMicros } from '../../src/util/time.js';
import { UserError } from '../../src/util/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-search-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Flow {
  start: string; end: string; proto: string; src_ip: string; src_port: number; dst_ip: string; dst_port: number;
  pkts_toserver: number; pkts_toclient: number; bytes_toserver: number; bytes_toclient: number; state: string;
  startMicros: number; endMicros: number;
}

const LOCAL = defaultConfig().localNetworks;
const local = new CidrMatcher(LOCAL);
const T0 = Date.UTC(2026, 0, 2, 3, 0, 0) * 1000;

/** Deterministic pseudo-random flows among local (10/8, fd00::/8) and remote hosts, plus a 445 scan. */
function makeFlows(): Flow[] {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const hosts = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '192.168.1.9', '198.51.100.7', '203.0.113.9', '192.0.2.1', 'fd00::1', '2001:db8::5'];
  const flows: Flow[] = [];
  const add = (s: string, sp: number, d: string, dp: number, proto: string, t: number, pts: number, ptc: number, bts: number, btc: number, state: string) => {
    const startMicros = T0 + t * 1e6 + rnd(1e6);
    const endMicros = startMicros + rnd(5e6);
    flows.push({ start: formatMicros(startMicros), end: formatMicros(endMicros), proto, src_ip: s, src_port: sp, dst_ip: d, dst_port: dp,
      pkts_toserver: pts, pkts_toclient: ptc, bytes_toserver: bts, bytes_toclient: btc, state, startMicros, endMicros });
  };
  for (let i = 0; i < 400; i++) {
    let a = hosts[rnd(hosts.length)]!;
    let b = hosts[rnd(hosts.length)]!;
    if (a === b) continue;
    if (a.includes(':') !== b.includes(':')) b = a.includes(':') ? 'fd00::2' : '10.0.0.9';
    if (a === b) a = a.includes(':') ? 'fd00::3' : '10.0.0.8';
    const port = [22, 23, 25, 80, 443, 53, 8080][rnd(7)]!;
    const proto = port === 53 ? 'udp' : 'tcp';
    const answered = rnd(4) !== 0;
    add(a, 1024 + rnd(60000), b, port, proto, rnd(7200), 1 + rnd(20), answered ? 1 + rnd(20) : 0,
      40 + rnd(20000), answered ? 40 + rnd(90000) : 0, answered ? 'SF' : 'S0');
  }
  for (let i = 0; i < 40; i++) add('203.0.113.66', 40000 + i, `10.9.0.${i + 1}`, 445, 'tcp', 3600 + i, 1, 0, 44, 0, 'S0');
  add('10.0.0.1', 5555, '10.0.0.2', 6666, '47', 100, 3, 3, 300, 300, 'SF'); // GRE-like other protocol
  return flows;
}

const FLOWS = makeFlows();
let logA: string;
let logB: string;
let db: FlowDb;

beforeAll(async () => {
  // Two files (one gzip would need zlib; two plain files exercise the file list), one odd line in each.
  const lines = FLOWS.map(({ startMicros: _s, endMicros: _e, ...r }) => JSON.stringify({ ...r, first_talker: 'src', vlan: [] }));
  const half = Math.floor(lines.length / 2);
  logA = path.join(tmp, "flows a'; DROP TABLE x; --.ndjson"); // a quote in the name: paths are bound, not pasted
  logB = path.join(tmp, 'flows-b.ndjson');
  fs.writeFileSync(logA, lines.slice(0, half).join('\n') + '\nnot json at all\n');
  fs.writeFileSync(logB, lines.slice(half).join('\n') + '\n{"start":"torn');
  db = await openFlowDb('search', [logA, logB], LOCAL);
});
afterAll(() => db?.close());

const key = (r: { start: unknown; src_ip: unknown; src_port: unknown } | Record<string, unknown>) => `${r.start} ${r.src_ip} ${r.src_port}`;
const sorted = (fs_: Flow[]) => [...fs_].sort((a, b) => a.startMicros - b.startMicros || a.src_ip.localeCompare(b.src_ip) || a.src_port - b.src_port);

describe('search filters', () => {
  const cases: [string, Parameters<typeof searchFlows>[1], (f: Flow) => boolean][] = [
    ['all', { limit: 10_000 }, () => true],
    ['host either side', { host: '10.0.0.1', limit: 10_000 }, (f) => f.src_ip === '10.0.0.1' || f.dst_ip === '10.0.0.1'],
    ['ipv6 host', { host: 'fd00::1', limit: 10_000 }, (f) => f.src_ip === 'fd00::1' || f.dst_ip === 'fd00::1'],
    ['proto udp', { proto: 'udp', limit: 10_000 }, (f) => f.proto === 'udp'],
    ['other proto', { proto: '47', limit: 10_000 }, (f) => f.proto === '47'],
    ['bytes range', { minBytes: 10_000, maxBytes: 50_000, limit: 10_000 }, (f) => f.bytes_toserver + f.bytes_toclient >= 10_000 && f.bytes_toserver + f.bytes_toclient <= 50_000],
    ['time window (overlap)', { fromMicros: T0 + 1800e6, toMicros: T0 + 3600e6, limit: 10_000 }, (f) => f.endMicros >= T0 + 1800e6 && f.startMicros <= T0 + 3600e6],
    ['local port 22', { localPort: 22, limit: 10_000 }, (f) => (f.src_port === 22 && local.matchText(f.src_ip)) || (f.dst_port === 22 && local.matchText(f.dst_ip))],
    ['remote port 443', { remotePort: 443, limit: 10_000 }, (f) => (f.src_port === 443 && !local.matchText(f.src_ip)) || (f.dst_port === 443 && !local.matchText(f.dst_ip))],
    ['combined', { host: '10.0.0.2', proto: 'tcp', minBytes: 5000, limit: 10_000 }, (f) => (f.src_ip === '10.0.0.2' || f.dst_ip === '10.0.0.2') && f.proto === 'tcp' && f.bytes_toserver + f.bytes_toclient >= 5000],
  ];
  for (const [name, opts, pred] of cases) {
    it(name, async () => {
      const expected = sorted(FLOWS.filter(pred));
      expect(expected.length).toBeGreaterThan(0);
      const { rows, more } = await searchFlows(db, opts);
      expect(more).toBe(false);
      expect(rows.map(key)).toEqual(expected.map(key));
      // The hit carries the record's own fields and values.
      const first = rows[0]!;
      expect(first).toMatchObject({ dst_ip: expected[0]!.dst_ip, dst_port: expected[0]!.dst_port, bytes_toclient: expected[0]!.bytes_toclient, end: expected[0]!.end });
    });
  }

  it('limit cuts in time order and says more match', async () => {
    const { rows, more } = await searchFlows(db, { limit: 7 });
    expect(more).toBe(true);
    expect(rows.map(key)).toEqual(sorted(FLOWS).slice(0, 7).map(key));
  });

  it('a filter that matches nothing returns nothing', async () => {
    expect((await searchFlows(db, { host: '192.0.2.200', limit: 10 })).rows).toEqual([]);
  });
});

describe('pivot', () => {
  /** Peers of `h` computed in JS: the expectation the SQL must meet. */
  const peersOf = (h: string, exclude?: string) => {
    const m = new Map<string, { flows: number; to: number; from: number }>();
    for (const f of FLOWS) {
      const [peer, to, from] = f.src_ip === h ? [f.dst_ip, f.bytes_toserver, f.bytes_toclient] : f.dst_ip === h ? [f.src_ip, f.bytes_toclient, f.bytes_toserver] : [];
      if (peer === undefined || peer === exclude) continue;
      const e = m.get(peer) ?? { flows: 0, to: 0, from: 0 };
      e.flows++;
      e.to += to!;
      e.from += from!;
      m.set(peer, e);
    }
    return m;
  };

  it('depth 1: every peer with flows and bytes each way', async () => {
    const rows = await pivot(db, '10.0.0.3', 1, { limit: 1000 });
    const expected = peersOf('10.0.0.3');
    expect(rows.length).toBe(expected.size);
    for (const r of rows) {
      expect(r.depth).toBe(1);
      const e = expected.get(String(r.peer))!;
      expect({ flows: r.flows, to: r.bytes_to_peer, from: r.bytes_from_peer }).toEqual(e);
      expect(r.local).toBe(local.matchText(String(r.peer)));
    }
  });

  it('depth 2 follows every depth-1 peer, not back to the pivot', async () => {
    const rows = await pivot(db, '10.9.0.5', 2, { limit: 1000 });
    const d1 = rows.filter((r) => r.depth === 1);
    expect(d1.map((r) => r.peer)).toEqual(['203.0.113.66']);
    expect(d1[0]!.ports).toEqual(['tcp/445']);
    const d2 = rows.filter((r) => r.depth === 2);
    const expected = peersOf('203.0.113.66', '10.9.0.5');
    expect(d2.length).toBe(expected.size);
    expect(d2.every((r) => r.via === '203.0.113.66' && r.peer !== '10.9.0.5')).toBe(true);
    for (const r of d2) expect(r.flows).toBe(expected.get(String(r.peer))!.flows);
  });
});

describe('report tables', () => {
  it('totals, in/out split and talkers equal the records summed in JS', async () => {
    const r = await buildReport(db, { ...REPORT_DEFAULTS, top: 1000, series: true });
    const sum = (f: (x: Flow) => number) => FLOWS.reduce((a, x) => a + f(x), 0);
    expect(r.summary.flows).toBe(FLOWS.length);
    expect(r.summary.bytes).toBe(sum((x) => x.bytes_toserver + x.bytes_toclient));
    expect(r.summary.packets).toBe(sum((x) => x.pkts_toserver + x.pkts_toclient));
    const L = (ip: string) => local.matchText(ip);
    const out = sum((x) => (L(x.src_ip) && !L(x.dst_ip) ? x.bytes_toserver : !L(x.src_ip) && L(x.dst_ip) ? x.bytes_toclient : 0));
    const inb = sum((x) => (L(x.src_ip) && !L(x.dst_ip) ? x.bytes_toclient : !L(x.src_ip) && L(x.dst_ip) ? x.bytes_toserver : 0));
    expect(r.summary.bytes_out).toBe(out);
    expect(r.summary.bytes_in).toBe(inb);
    // The time series spreads exactly the same in/out bytes over its buckets.
    expect(r.series!.site.in.reduce((a, b) => a + b, 0)).toBe(inb);
    expect(r.series!.site.out.reduce((a, b) => a + b, 0)).toBe(out);

    for (const t of r.talkers_out) {
      const sent = sum((x) => (x.src_ip === t.host ? x.bytes_toserver : 0) + (x.dst_ip === t.host ? x.bytes_toclient : 0));
      expect(t.bytes_out).toBe(sent);
    }
    const protoFlows = new Map<string, number>();
    for (const f of FLOWS) protoFlows.set(f.proto, (protoFlows.get(f.proto) ?? 0) + 1);
    expect(Object.fromEntries(r.protocols.map((p) => [p.proto, p.flows]))).toEqual(Object.fromEntries(protoFlows));
  });

  it('finds the incoming 445 scan and marks local servers', async () => {
    const r = await buildReport(db, { ...REPORT_DEFAULTS, top: 1000, series: false });
    const scan = r.scans.find((s) => s.host === '203.0.113.66');
    expect(scan).toMatchObject({ direction: 'incoming', hosts: 40, answered: 0, no_reply: 40, top_ports: ['tcp/445 x40'] });
    const sshServers = r.client_server.filter((c) => c.service === 'SSH' && c.role === 'server').map((c) => c.host).sort();
    const expected = [...new Set(FLOWS.filter((f) => f.proto === 'tcp' && f.dst_port === 22 && f.pkts_toclient > 0 && f.state !== 'S0').map((f) => f.dst_ip))].sort();
    expect(sshServers).toEqual(expected);
  });

  it('--host narrows every table to that host and lists its peers', async () => {
    const r = await buildReport(db, { ...REPORT_DEFAULTS, top: 1000, series: false, host: '10.0.0.2' });
    expect(r.summary.flows).toBe(FLOWS.filter((f) => f.src_ip === '10.0.0.2' || f.dst_ip === '10.0.0.2').length);
    expect(r.host!.peers.length).toBeGreaterThan(0);
  });
});

describe('parameters', () => {
  it('addresses are canonical or refused', () => {
    expect(canonicalAddr('search', 'host', 'FD00:0::1')).toBe('fd00::1');
    expect(() => canonicalAddr('search', 'host', "10.0.0.1' OR 1=1 --")).toThrow(UserError);
  });
  it('times: the log format, dates, epoch seconds', () => {
    expect(parseTimeMicros('s', 'from', '2026-01-02T03:00:00.000001Z')).toBe(T0 + 1);
    expect(parseTimeMicros('s', 'from', '2026-01-02')).toBe(Date.UTC(2026, 0, 2) * 1000);
    expect(parseTimeMicros('s', 'from', String(T0 / 1e6))).toBe(T0);
    expect(() => parseTimeMicros('s', 'from', 'yesterday')).toThrow(UserError);
  });
  it('an empty flow log gives empty tables, not an error', async () => {
    const empty = path.join(tmp, 'empty.ndjson');
    fs.writeFileSync(empty, '');
    const edb = await openFlowDb('report', [empty], LOCAL);
    try {
      const r = await buildReport(edb, { ...REPORT_DEFAULTS, series: true });
      expect(r.summary.flows).toBe(0);
      expect(r.series).toBeNull();
      expect((await searchFlows(edb, { limit: 5 })).rows).toEqual([]);
    } finally {
      edb.close();
    }
  });
  it('a missing file or an unmatched glob is a user error', async () => {
    await expect(openFlowDb('search', [path.join(tmp, 'nope.ndjson')], LOCAL)).rejects.toThrow(/no such file/);
    await expect(openFlowDb('search', [path.join(tmp, 'nomatch-*.ndjson')], LOCAL)).rejects.toBeInstanceOf(UserError);
  });
});
