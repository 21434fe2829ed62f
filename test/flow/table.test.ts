import { describe, expect, it } from 'vitest';
import {
  DecodedPacket, FRAG_FIRST, FRAG_LATER, FRAG_NONE, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
  TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN,
} from '../../src/decode/packet.js';
import { R_FRAGMENT_WITHOUT_FIRST, R_OK } from '../../src/decode/reasons.js';
import type { FlowRecord } from '../../src/flow/record.js';
import { FlowTable, type FlowTableOptions } from '../../src/flow/table.js';
import { parseAddr } from '../../src/util/ip.js';

const S = TCP_SYN, A = TCP_ACK, F = TCP_FIN, R = TCP_RST, P = TCP_PSH;

interface Pkt {
  t: number; // seconds
  src: string; sport?: number; dst: string; dport?: number;
  proto?: number; flags?: number; len?: number; payload?: number; ttl?: number;
  vlan?: number[]; icmp?: [number, number]; frag?: number; id?: number;
  inner?: { src: string; sport: number; dst: string; dport: number; proto: number };
}

function fill(p: DecodedPacket, x: Pkt): void {
  p.tsMicros = x.t * 1e6;
  p.ipVersion = parseAddr(x.src, p.src);
  parseAddr(x.dst, p.dst);
  p.proto = x.proto ?? PROTO_TCP;
  p.srcPort = x.sport ?? 0;
  p.dstPort = x.dport ?? 0;
  p.tcpFlags = x.flags ?? 0;
  p.ipLen = x.len ?? 40;
  p.payloadLen = x.payload ?? 0;
  p.ttl = x.ttl ?? 64;
  p.vlanCount = x.vlan?.length ?? 0;
  p.vlanOuter = x.vlan?.[0] ?? 0;
  p.vlanInner = x.vlan?.[1] ?? 0;
  p.icmpType = x.icmp?.[0] ?? -1;
  p.icmpCode = x.icmp?.[1] ?? -1;
  p.fragment = x.frag ?? FRAG_NONE;
  p.ipId = x.id ?? 0;
  p.icmpError = x.inner !== undefined;
  if (x.inner) {
    p.innerVersion = parseAddr(x.inner.src, p.innerSrc);
    parseAddr(x.inner.dst, p.innerDst);
    p.innerSrcPort = x.inner.sport;
    p.innerDstPort = x.inner.dport;
    p.innerProto = x.inner.proto;
  }
}

/** Run packets through a table; returns copies of the emitted records (JSON-like). */
function run(pkts: Pkt[], opts: Partial<FlowTableOptions> = {}, shutdown = true) {
  const out: Omit<FlowRecord, 'addressesChanged'>[] = [];
  // The address text is an accessor (made on first read): copied by name.
  const table = new FlowTable(opts, (f) => out.push({ ...f, srcIp: f.srcIp, dstIp: f.dstIp, srcAddr: f.srcAddr.slice(), dstAddr: f.dstAddr.slice(), vlans: [...f.vlans] }));
  const p = new DecodedPacket();
  const reasons: number[] = [];
  for (const x of pkts) {
    fill(p, x);
    reasons.push(table.add(p));
  }
  if (shutdown) table.expireAll('shutdown');
  return { flows: out, table, reasons };
}

/**
 * `n` packets of random TCP and UDP traffic among 1,600 x 30 hosts on a few ports, every
 * kind of flag (handshakes, resets, FINs, stray ACKs), either direction.
 */
function randomTraffic(seed: number, n: number): Pkt[] {
  const rnd = (m: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % m);
  const pk: Pkt[] = [];
  for (let k = 0; k < n; k++) {
    const a = `10.0.${rnd(8)}.${rnd(200)}`, b = `192.0.2.${rnd(30)}`;
    const sp = 1024 + rnd(16), dp = [53, 80, 443][rnd(3)]!;
    const flags = [S, S | A, A, F | A, R, P | A][rnd(6)]!;
    const proto = rnd(4) === 0 ? PROTO_UDP : undefined;
    pk.push(rnd(2) === 0 ? { t: k * 0.01, src: a, sport: sp, dst: b, dport: dp, flags, proto } : { t: k * 0.01, src: b, sport: dp, dst: a, dport: sp, flags, proto });
  }
  return pk;
}

/** A table whose records are kept as JSON lines in `out`. */
function recordingTable(opts: Partial<FlowTableOptions>, out: string[]): FlowTable {
  return new FlowTable(opts, (f) => out.push(JSON.stringify({ ...f, srcIp: f.srcIp, dstIp: f.dstIp, srcAddr: [...f.srcAddr], dstAddr: [...f.dstAddr] })));
}

/**
 * Force every tuple hash into 8 values whose home buckets are the last 8 of the index
 * (whatever its size), so every probe run is long and wraps around to bucket 0.
 */
function forceHashInto8(table: FlowTable): void {
  const t = table as unknown as { tupleHash: (...a: unknown[]) => number };
  const real = t.tupleHash.bind(table);
  t.tupleHash = (...args: unknown[]) => 0x3fffffff - (real(...args) & 7);
}

const C = '10.0.0.5', SV = '192.0.2.9';
const tcp = (t: number, fromClient: boolean, flags: number, extra: Partial<Pkt> = {}): Pkt =>
  fromClient
    ? { t, src: C, sport: 51514, dst: SV, dport: 445, flags, ...extra }
    : { t, src: SV, sport: 445, dst: C, dport: 51514, flags, ...extra };

describe('connection state (Zeek conn_state subset)', () => {
  const cases: [string, Pkt[]][] = [
    ['S0', [tcp(0, true, S), tcp(1, true, S)]],
    ['REJ', [tcp(0, true, S), tcp(0.1, false, R | A)]],
    ['S1', [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A), tcp(0.3, true, P | A, { payload: 100, len: 140 })]],
    ['SF', [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A), tcp(0.3, true, F | A), tcp(0.4, false, F | A), tcp(0.5, true, A)]],
    ['RSTO', [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A), tcp(0.3, true, R | A)]],
    ['RSTR', [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A), tcp(0.3, false, R)]],
    ['SH', [tcp(0, true, S), tcp(0.3, true, F)]],
    ['SH', [tcp(0, true, S), tcp(0.3, true, R)]], // Zeek RSTOS0: SYN scanner resetting an unseen SYN/ACK
    ['SHR', [tcp(0, false, S | A), tcp(0.3, false, F | A)]],
    ['OTH', [tcp(0, true, A)]],
    ['OTH', [tcp(0, true, P | A, { payload: 10 }), tcp(0.1, false, A)]],
  ];
  for (const [state, pkts] of cases) {
    it(`${state}: ${pkts.map((p) => (p.src === C ? '>' : '<') + p.flags).join(' ')}`, () => {
      const { flows } = run(pkts);
      expect(flows).toHaveLength(1);
      expect(flows[0]!.state).toBe(state);
    });
  }

  it('UDP: S0 without reply, SF when both sides spoke', () => {
    const q: Pkt = { t: 0, src: C, sport: 5353, dst: SV, dport: 53, proto: PROTO_UDP, len: 60 };
    expect(run([q]).flows[0]!.state).toBe('S0');
    const a: Pkt = { t: 0.01, src: SV, sport: 53, dst: C, dport: 5353, proto: PROTO_UDP, len: 120 };
    const f = run([q, a]).flows[0]!;
    expect(f.state).toBe('SF');
    expect([f.pktsToServer, f.pktsToClient, f.bytesToServer, f.bytesToClient]).toEqual([1, 1, 60, 120]);
  });
});

describe('direction, talkers and flags', () => {
  it('the initiator is the SYN sender, flags are ORed per direction', () => {
    const { flows } = run([tcp(0, true, S), tcp(0.1, false, R | A)]);
    const f = flows[0]!;
    expect([f.srcIp, f.srcPort, f.dstIp, f.dstPort]).toEqual([C, 51514, SV, 445]);
    expect([f.tcpFlags, f.tcpFlagsToServer, f.tcpFlagsToClient]).toEqual([S | R | A, S, R | A]);
    expect([f.firstTalker, f.lastTalker]).toEqual(['src', 'dst']);
    expect([f.startMicros, f.endMicros]).toEqual([0, 100_000]);
  });

  it('a SYN/ACK seen first names its receiver as the initiator', () => {
    const { flows } = run([tcp(0, false, S | A), tcp(0.1, true, A)]);
    const f = flows[0]!;
    expect([f.srcIp, f.dstIp, f.dstPort]).toEqual([C, SV, 445]);
    expect([f.firstTalker, f.lastTalker]).toEqual(['dst', 'src']);
    expect([f.pktsToServer, f.pktsToClient]).toEqual([1, 1]);
  });

  it('otherwise the sender of the first packet is the initiator', () => {
    const { flows } = run([tcp(0, false, A), tcp(0.1, true, A)]);
    expect([flows[0]!.srcIp, flows[0]!.srcPort]).toEqual([SV, 445]);
  });

  it('keeps TTL range and payload per direction', () => {
    const { flows } = run([
      { t: 0, src: C, dst: SV, proto: PROTO_ICMP, sport: 7, dport: 7, icmp: [8, 0], len: 92, ttl: 1, payload: 64 },
      { t: 1, src: C, dst: SV, proto: PROTO_ICMP, sport: 7, dport: 7, icmp: [8, 0], len: 92, ttl: 2, payload: 64 },
    ]);
    const f = flows[0]!;
    expect([f.ttlMinToServer, f.ttlMaxToServer, f.payloadToServer, f.icmpType, f.icmpCode]).toEqual([1, 2, 128, 8, 0]);
  });
});

describe('expiry reasons on packet time', () => {
  const other = (t: number): Pkt => ({ t, src: '198.51.100.1', sport: 1, dst: '198.51.100.2', dport: 2, proto: PROTO_UDP });

  it('idle: UDP leaves 60 s after its last packet, not before', () => {
    const q: Pkt = { t: 0, src: C, sport: 5353, dst: SV, dport: 53, proto: PROTO_UDP };
    expect(run([q, other(59.9)], {}, false).flows).toHaveLength(0);
    const { flows } = run([q, other(60)], {}, false);
    expect(flows.map((f) => [f.srcPort, f.endReason])).toEqual([[5353, 'idle']]);
  });

  it('idle: an unanswered SYN (S0) leaves after the embryonic 30 s, an established flow stays', () => {
    const est = [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A)];
    const syn: Pkt = { t: 0, src: C, sport: 40000, dst: SV, dport: 80, flags: S };
    const { flows } = run([...est, syn, other(31)], {}, false);
    expect(flows.map((f) => [f.dstPort, f.state, f.endReason])).toEqual([[80, 'S0', 'idle']]);
  });

  it('fin: closed connections leave after the grace, counting the last ACK', () => {
    const pk = [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A), tcp(1, true, F | A), tcp(1.1, false, F | A), tcp(1.2, true, A)];
    expect(run([...pk, other(6.1)], {}, false).flows).toHaveLength(0);
    const { flows } = run([...pk, other(6.3)], {}, false);
    expect(flows.map((f) => [f.state, f.endReason, f.pktsToServer + f.pktsToClient])).toEqual([['SF', 'fin', 6]]);
  });

  it('rst: a rejected attempt leaves after the grace with reason rst', () => {
    const { flows } = run([tcp(0, true, S), tcp(0.1, false, R | A), other(5.2)], {}, false);
    expect(flows.map((f) => [f.state, f.endReason])).toEqual([['REJ', 'rst']]);
  });

  it('active: a long flow is cut every activeSeconds and goes on as a new record', () => {
    const pk: Pkt[] = [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A)];
    for (let t = 10; t <= 4000; t += 10) pk.push(tcp(t, true, A | P, { payload: 10, len: 50 }));
    const { flows } = run(pk, { activeSeconds: 1800, tcpIdleSeconds: 300 });
    expect(flows.map((f) => f.endReason)).toEqual(['active', 'active', 'shutdown']);
    expect(flows.map((f) => f.state)).toEqual(['S1', 'S1', 'S1']);
    expect(flows.reduce((a, f) => a + f.pktsToServer + f.pktsToClient, 0)).toBe(pk.length);
    expect(flows[1]!.startMicros).toBe(1800e6);
  });

  it('capacity: beyond maxFlows the least recently used flow is emitted, never lost', () => {
    const pk: Pkt[] = [
      { t: 0, src: C, sport: 1, dst: SV, dport: 53, proto: PROTO_UDP },
      { t: 1, src: C, sport: 2, dst: SV, dport: 53, proto: PROTO_UDP },
      { t: 2, src: C, sport: 1, dst: SV, dport: 53, proto: PROTO_UDP }, // touches flow 1
      { t: 3, src: C, sport: 3, dst: SV, dport: 53, proto: PROTO_UDP }, // evicts flow 2
    ];
    const { flows, table } = run(pk, { maxFlows: 2 }, false);
    expect(flows.map((f) => [f.srcPort, f.endReason])).toEqual([[2, 'capacity']]);
    expect(table.size).toBe(2);
    expect(table.counters.flowsByReason.capacity).toBe(1);
  });

  it('a packet of the flow of the packet before, after that flow ended, starts a new record', () => {
    // add() tries the last packet's flow before hashing; a flow that ended (idle sweep,
    // capacity eviction) must not take the next packet of its tuple into a freed slot.
    const q = (t: number, sport = 5353): Pkt => ({ t, src: C, sport, dst: SV, dport: 53, proto: PROTO_UDP });
    const idle = run([q(0), q(70)]).flows;
    expect(idle.map((f) => [f.pktsToServer, f.endReason])).toEqual([[1, 'idle'], [1, 'shutdown']]);
    const evicted = run([q(0), q(1, 4000), q(2)], { maxFlows: 1 }).flows;
    expect(evicted.map((f) => [f.srcPort, f.pktsToServer, f.endReason])).toEqual([[5353, 1, 'capacity'], [4000, 1, 'capacity'], [5353, 1, 'shutdown']]);
    // Both directions of a burst stay one record.
    const burst = run([tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A), tcp(0.3, false, A), tcp(0.4, false, A)]).flows;
    expect(burst.map((f) => [f.pktsToServer, f.pktsToClient])).toEqual([[2, 3]]);
  });

  it('capacity: LRU order survives the index growing past its first size', () => {
    const pk: Pkt[] = [];
    const keep: Pkt = { t: 0, src: C, sport: 1, dst: SV, dport: 53, proto: PROTO_UDP };
    for (let i = 0; i < 40_000; i++) {
      pk.push({ t: i * 1e-4, src: `10.1.${i >> 8}.${i & 255}`, sport: 2, dst: SV, dport: 53, proto: PROTO_UDP });
      if (i % 1000 === 0) pk.push({ ...keep, t: i * 1e-4 });
    }
    const { flows, table } = run(pk, { maxFlows: 30_000 }, false);
    expect(table.size).toBe(30_000);
    expect(flows).toHaveLength(40_001 - 30_000);
    expect(flows.every((f) => f.endReason === 'capacity')).toBe(true);
    expect(flows.some((f) => f.srcPort === 1)).toBe(false); // the flow kept busy stays
    expect(flows[0]!.srcIp).toBe('10.1.0.0'); // the oldest idle flow leaves first
  });

  it('shutdown: expireAll emits every live flow', () => {
    const { flows, table } = run([tcp(0, true, S), { t: 0, src: C, sport: 9, dst: SV, dport: 9, proto: PROTO_UDP }]);
    expect(flows.map((f) => f.endReason)).toEqual(['shutdown', 'shutdown']);
    expect(table.size).toBe(0);
  });

  it('a new SYN on a closed connection (port reuse) starts a new record', () => {
    const first = [tcp(0, true, S), tcp(0.1, false, S | A), tcp(0.2, true, A), tcp(1, true, F | A), tcp(1.1, false, F | A), tcp(1.2, true, A)];
    const { flows } = run([...first, tcp(2, true, S), tcp(2.1, false, R | A)]);
    expect(flows.map((f) => [f.state, f.endReason])).toEqual([['SF', 'fin'], ['REJ', 'shutdown']]);
  });
});

describe('ICMP errors join the flow they answer', () => {
  const probe: Pkt = { t: 0, src: C, sport: 40000, dst: SV, dport: 33434, proto: PROTO_UDP, len: 60 };
  const unreach = (from: string, t = 0.01): Pkt => ({
    t, src: from, dst: C, proto: PROTO_ICMP, icmp: [3, 3], len: 88,
    inner: { src: C, sport: 40000, dst: SV, dport: 33434, proto: PROTO_UDP },
  });

  it('counted in the flow, towards its sender, with type/code and who sent it', () => {
    const { flows, table } = run([probe, unreach(SV)]);
    expect(flows).toHaveLength(1);
    const f = flows[0]!;
    expect([f.pktsToServer, f.pktsToClient, f.bytesToClient]).toEqual([1, 1, 88]);
    expect([f.icmpErrors, f.icmpErrorType, f.icmpErrorCode, f.icmpErrorFrom]).toEqual([1, 3, 3, SV]);
    expect(f.state).toBe('S0'); // the responder itself never answered
    expect(table.counters.icmpErrorsAttributed).toBe(1);
  });

  it('from a router on the path too', () => {
    const f = run([probe, unreach('203.0.113.1')]).flows[0]!;
    expect([f.pktsToClient, f.icmpErrorFrom]).toEqual([1, '203.0.113.1']);
  });

  it('an error whose flow is unknown forms an ICMP flow of its own, keeping the quoted header', () => {
    const { flows } = run([unreach(SV)]);
    expect(flows).toHaveLength(1);
    const f = flows[0]!;
    expect([f.proto, f.srcIp, f.dstIp, f.icmpType, f.icmpCode]).toEqual([PROTO_ICMP, SV, C, 3, 3]);
    expect([f.icmpQuotedSrcIp, f.icmpQuotedDstIp, f.icmpQuotedProto, f.icmpQuotedDstPort]).toEqual([C, SV, PROTO_UDP, 33434]);
  });
});

describe('fragments, VLANs, collisions and accounting', () => {
  it('later fragments join the flow of their first fragment through the IP id', () => {
    const first: Pkt = { t: 0, src: C, sport: 2049, dst: SV, dport: 2049, proto: PROTO_UDP, len: 1500, frag: FRAG_FIRST, id: 77 };
    const later: Pkt = { t: 0, src: C, dst: SV, proto: PROTO_UDP, len: 600, frag: FRAG_LATER, id: 77 };
    const { flows, reasons } = run([first, later, { ...later, id: 78 }]);
    expect(reasons).toEqual([R_OK, R_OK, R_FRAGMENT_WITHOUT_FIRST]);
    expect([flows[0]!.pktsToServer, flows[0]!.bytesToServer]).toEqual([2, 2100]);
  });

  it('a fragment entry outlives its flow harmlessly, across the wrap of the 32-bit record serial', () => {
    // The record keeps a 32-bit serial; a freed slot's is 0. Started just before the wrap,
    // the serial must never come out 0, or a later fragment of a flow that has ended would
    // match its freed slot (stored serial 0 == the slot's 0) and be counted into it.
    for (const start of [0, 0xffff_fffe, 0xffff_ffff]) {
      const out: FlowRecord[] = [];
      const table = new FlowTable({}, (f) => out.push(f));
      (table as unknown as { serialCounter: number }).serialCounter = start;
      const p = new DecodedPacket();
      const first: Pkt = { t: 0, src: C, sport: 2049, dst: SV, dport: 2049, proto: PROTO_UDP, len: 1500, frag: FRAG_FIRST, id: 9 };
      const later: Pkt = { t: 1, src: C, dst: SV, proto: PROTO_UDP, len: 600, frag: FRAG_LATER, id: 9 };
      fill(p, first);
      expect(table.add(p)).toBe(R_OK);
      fill(p, later);
      expect(table.add(p)).toBe(R_OK);
      // 70 s on (a stray fragment moves the clock and makes no flow), the UDP flow has
      // left (idle 60 s): its slot is free and not reused, the entry stays.
      fill(p, { ...later, t: 70, id: 10 });
      expect(table.add(p)).toBe(R_FRAGMENT_WITHOUT_FIRST);
      expect(out.map((f) => [f.srcPort, f.endReason])).toEqual([[2049, 'idle']]);
      fill(p, { ...later, t: 71 });
      expect(table.add(p)).toBe(R_FRAGMENT_WITHOUT_FIRST);
    }
  });

  it('the VLAN id is part of the key unless configured otherwise', () => {
    const a: Pkt = { t: 0, src: C, sport: 1, dst: SV, dport: 53, proto: PROTO_UDP, vlan: [943] };
    const b: Pkt = { ...a, t: 1, vlan: [944] };
    expect(run([a, b]).flows.map((f) => f.vlans)).toEqual([[943], [944]]);
    expect(run([a, b], { vlanInKey: false }).flows).toHaveLength(1);
    expect(run([{ ...a, vlan: [30, 20, 10] }]).flows[0]!.vlans).toEqual([30, 20]);
    expect(run([{ ...a, vlan: [30, 20, 10, 5] }]).flows[0]!.vlans).toEqual([30, 20]);
  });

  it('two live flows with the same 30-bit hash stay apart and both survive expiry of the other', () => {
    const table = new FlowTable({});
    const p = new DecodedPacket();
    const seen = new Map<number, number>();
    let pair: [number, number] | undefined;
    // Birthday search over source ports and addresses: ~2^15 tuples give a collision.
    for (let i = 0; i < 400_000 && !pair; i++) {
      fill(p, { t: 0, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, sport: 1000, dst: SV, dport: 53, proto: PROTO_UDP });
      const h = (table as unknown as { tupleHash: (...a: unknown[]) => number }).tupleHash(p.src, p.srcPort, p.dst, p.dstPort, p.proto, p);
      const j = seen.get(h);
      if (j !== undefined) pair = [j, i];
      else seen.set(h, i);
    }
    expect(pair).toBeDefined();
    const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const [i, j] = pair!;
    const pk: Pkt[] = [
      { t: 0, src: ip(i), sport: 1000, dst: SV, dport: 53, proto: PROTO_UDP },
      { t: 1, src: ip(j), sport: 1000, dst: SV, dport: 53, proto: PROTO_UDP },
      { t: 2, src: SV, sport: 53, dst: ip(j), dport: 1000, proto: PROTO_UDP },
      { t: 70, src: ip(j), sport: 1000, dst: SV, dport: 53, proto: PROTO_UDP }, // i expires idle
      { t: 71, src: SV, sport: 53, dst: ip(j), dport: 1000, proto: PROTO_UDP },
    ];
    const partial = run(pk.slice(0, 3), {}, false);
    expect(partial.table.counters.hashCollisions).toBe(1);
    expect(partial.table.size).toBe(2);
    const { flows, table: t2 } = run(pk);
    expect(t2.counters.hashCollisions).toBe(0);
    const byIp = Object.fromEntries(flows.map((f) => [f.srcIp, [f.pktsToServer, f.pktsToClient, f.endReason]]));
    expect(byIp[ip(i)]).toEqual([1, 0, 'idle']);
    // j's flow went on through i's expiry: one record with all four packets... except
    // that j itself idled 69 s between t=1..70 > 60 s: so j is two records.
    expect(flows.filter((f) => f.srcIp === ip(j)).map((f) => [f.pktsToServer, f.pktsToClient])).toEqual([[1, 1], [1, 1]]);
  });

  it('the open-addressing index gives the same records when every hash collides into 8 values', () => {
    // Random traffic through two tables: one with the real hash, one whose hash is forced
    // into 8 values, so probe runs are long, wrap around the bucket array and see
    // backward-shift deletions in every position. Records must be identical.
    const pk = randomTraffic(7, 30_000);
    const records = (forced: boolean) => {
      const out: string[] = [];
      const table = recordingTable({ maxFlows: 3000 }, out);
      if (forced) forceHashInto8(table);
      const p = new DecodedPacket();
      let maxLive = 0;
      for (const x of pk) {
        fill(p, x);
        table.add(p);
        maxLive = Math.max(maxLive, table.size);
      }
      const collisions = table.counters.hashCollisions;
      const live = table.size;
      table.expireAll('shutdown');
      return { out, collisions, live, maxLive, after: table.counters.hashCollisions };
    };
    const plain = records(false);
    const forced = records(true);
    expect(forced.maxLive).toBeGreaterThan(500);
    expect(forced.out).toEqual(plain.out);
    // All live flows but the first of each of the 8 hashes count as collisions.
    expect(forced.collisions).toBe(forced.live - Math.min(8, forced.live));
    expect(forced.after).toBe(0);
    expect(plain.after).toBe(0);
  });

  it('expireAll empties the table as expiring each flow does: same records, and the table goes on the same', () => {
    // expireAll wipes the index at once instead of taking each flow out of it. Against
    // the per-flow path (expire() on each list head, as expireAll did before), with every
    // hash forced into 8 values (long probe runs, collisions counted) and the table used
    // again after each expireAll, as the warm-up uses its table.
    const pk = randomTraffic(11, 6000);
    const rounds = (bulk: boolean) => {
      const out: string[] = [];
      const table = recordingTable({ maxFlows: 3000 }, out);
      forceHashInto8(table);
      const t = table as unknown as { head: Int32Array; expire: (slot: number, reason: string) => void };
      const p = new DecodedPacket();
      const counts: number[] = [];
      for (let round = 0; round < 3; round++) {
        for (const x of pk) {
          fill(p, { ...x, t: x.t + round * 1000 });
          table.add(p);
        }
        counts.push(table.size, table.counters.hashCollisions);
        if (bulk) table.expireAll('shutdown');
        else for (let c = 0; c < t.head.length; c++) while (t.head[c] !== -1) t.expire(t.head[c]!, 'shutdown');
        counts.push(table.size, table.counters.hashCollisions);
      }
      return { out, counts, byReason: { ...table.counters.flowsByReason } };
    };
    const bulk = rounds(true);
    const each = rounds(false);
    expect(bulk.counts[1]).toBeGreaterThan(100);
    expect(bulk.counts).toEqual(each.counts);
    expect(bulk.out).toEqual(each.out);
    expect(bulk.byReason).toEqual(each.byReason);
  });

  it('every packet added is counted in exactly one record (random traffic)', () => {
    let seed = 42;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const pk: Pkt[] = [];
    for (let k = 0; k < 20000; k++) {
      const fwd = rnd(2) === 0;
      const a = `10.0.${rnd(4)}.${rnd(50)}`, b = `192.0.2.${rnd(20)}`;
      const sp = 1024 + rnd(8), dp = [22, 80, 443][rnd(3)]!;
      const flags = [S, S | A, A, F | A, R, R | A, P | A][rnd(7)]!;
      pk.push(fwd ? { t: k * 0.05, src: a, sport: sp, dst: b, dport: dp, flags } : { t: k * 0.05, src: b, sport: dp, dst: a, dport: sp, flags });
    }
    const { flows, table } = run(pk, { maxFlows: 500 });
    const total = flows.reduce((s, f) => s + f.pktsToServer + f.pktsToClient, 0);
    expect(total).toBe(pk.length);
    expect(table.counters.flowPackets).toBe(pk.length);
    const byReason = table.counters.flowsByReason;
    expect(Object.values(byReason).reduce((s, n) => s + n, 0)).toBe(flows.length);
    expect(byReason.capacity + byReason.idle + byReason.fin + byReason.rst).toBeGreaterThan(0);
  });
});

describe('slot storage', () => {
  it('starts small and grows when the system refuses the up-front reservation', () => {
    // The table reserves maxFlows records at start (address space only); where that is
    // refused (strict overcommit) it must still work, growing as flows arrive.
    const Real = globalThis.ArrayBuffer;
    let refused = 0;
    class Refusing extends Real {
      constructor(n: number) {
        if (n > 64 << 20) {
          refused++;
          throw new RangeError('Array buffer allocation failed');
        }
        super(n);
      }
    }
    globalThis.ArrayBuffer = Refusing as ArrayBufferConstructor;
    try {
      const pkts: Pkt[] = [];
      for (let i = 0; i < 40_000; i++) pkts.push({ t: 1 + i / 1e4, src: C, sport: 1024 + (i % 60_000), dst: SV, dport: 53, proto: PROTO_UDP, len: 60 });
      const { flows, table } = run(pkts, { maxFlows: 1_000_000 }, false);
      expect(refused).toBe(1);
      expect(table.size).toBe(40_000);
      expect(flows).toHaveLength(0);
      table.expireAll('shutdown');
      expect(table.counters.flowsByReason.shutdown).toBe(40_000);
    } finally {
      globalThis.ArrayBuffer = Real;
    }
  });
});
