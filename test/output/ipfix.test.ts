/**
 * IPFIX export: the bytes of a message (decoded here by a small independent reader that
 * learns the templates from the message itself, as a collector does), sequence numbers and
 * template refresh across messages, a real UDP receiver on loopback, and a collector that
 * is not there (ECONNREFUSED counted, never thrown).
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowRecord, type EndReason } from '../../src/flow/record.js';
import { IpfixEncoder, IpfixExporter, parseIpfixTarget, ipfixOptions } from '../../src/output/ipfix.js';
import { parseAddr } from '../../src/util/ip.js';
import { UserError } from '../../src/util/errors.js';

// ---- a minimal IPFIX reader (RFC 7011 §3), independent of the encoder's tables ----

interface Field { ie: number; pen: number; length: number }
interface Message {
  version: number;
  length: number;
  exportTime: number;
  sequence: number;
  domain: number;
  sets: { id: number; length: number }[];
  templates: Map<number, Field[]>;
  records: { template: number; values: Map<string, bigint | Buffer> }[];
}

const key = (ie: number, pen: number) => (pen ? `${pen}/${ie}` : String(ie));

function readMessage(buf: Buffer, known: Map<number, Field[]>): Message {
  const m: Message = {
    version: buf.readUInt16BE(0),
    length: buf.readUInt16BE(2),
    exportTime: buf.readUInt32BE(4),
    sequence: buf.readUInt32BE(8),
    domain: buf.readUInt32BE(12),
    sets: [],
    templates: new Map(),
    records: [],
  };
  expect(m.length).toBe(buf.length);
  let p = 16;
  while (p < buf.length) {
    const id = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    expect(len).toBeGreaterThanOrEqual(4);
    expect(p + len).toBeLessThanOrEqual(buf.length);
    m.sets.push({ id, length: len });
    const end = p + len;
    let q = p + 4;
    if (id === 2) {
      while (q < end) {
        const tid = buf.readUInt16BE(q);
        const count = buf.readUInt16BE(q + 2);
        q += 4;
        const fields: Field[] = [];
        for (let i = 0; i < count; i++) {
          const raw = buf.readUInt16BE(q);
          const length = buf.readUInt16BE(q + 2);
          q += 4;
          let pen = 0;
          if (raw & 0x8000) {
            pen = buf.readUInt32BE(q);
            q += 4;
          }
          fields.push({ ie: raw & 0x7fff, pen, length });
        }
        m.templates.set(tid, fields);
        known.set(tid, fields);
      }
      expect(q).toBe(end);
    } else {
      expect(id).toBeGreaterThanOrEqual(256);
      const fields = known.get(id);
      expect(fields, `data set ${id} before its template`).toBeDefined();
      const recLen = fields!.reduce((s, f) => s + f.length, 0);
      expect((len - 4) % recLen).toBe(0); // no padding is written
      while (q < end) {
        const values = new Map<string, bigint | Buffer>();
        for (const f of fields!) {
          const slice = buf.subarray(q, q + f.length);
          values.set(key(f.ie, f.pen), f.length === 16 ? Buffer.from(slice) : BigInt('0x' + (slice.toString('hex') || '0')));
          q += f.length;
        }
        m.records.push({ template: id, values });
      }
    }
    p = end;
  }
  return m;
}

// ---- flows to encode ----

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5) * 1000 + 123_456; // micros

function flow(over: Partial<Omit<FlowRecord, 'srcAddr' | 'dstAddr'>> & { src: string; dst: string }): FlowRecord {
  const f = new FlowRecord();
  const { src, dst, ...rest } = over;
  f.ipVersion = parseAddr(src, f.srcAddr);
  expect(parseAddr(dst, f.dstAddr)).toBe(f.ipVersion);
  f.srcIp = src;
  f.dstIp = dst;
  Object.assign(f, rest);
  return f;
}

const tcpV4 = () =>
  flow({
    src: '10.0.0.5', dst: '192.0.2.9', proto: 6, srcPort: 51514, dstPort: 445,
    startMicros: T0, endMicros: T0 + 3_876_545,
    pktsToServer: 3, pktsToClient: 2, bytesToServer: 5_000_000_123, bytesToClient: 40,
    tcpFlags: 0x16, tcpFlagsToServer: 0x12, tcpFlagsToClient: 0x14, endReason: 'rst', vlans: [943, 17],
  });
const udpV6 = () =>
  flow({
    src: '2001:db8::1', dst: 'fe80::abcd:1', proto: 17, srcPort: 5353, dstPort: 53,
    startMicros: T0, endMicros: T0 + 1000, pktsToServer: 1, pktsToClient: 0, bytesToServer: 80, bytesToClient: 0,
    endReason: 'idle', vlans: [],
  });
const icmpV4 = () =>
  flow({
    src: '10.0.0.7', dst: '10.0.0.8', proto: 1, srcPort: 4242, dstPort: 4242, icmpType: 8, icmpCode: 0,
    startMicros: T0, endMicros: T0 + 2_000_000, pktsToServer: 4, pktsToClient: 4, bytesToServer: 336, bytesToClient: 336,
    endReason: 'shutdown', vlans: [5],
  });
const icmpV6 = () =>
  flow({
    src: '2001:db8::2', dst: '2001:db8::3', proto: 58, icmpType: 1, icmpCode: 4,
    startMicros: T0, endMicros: T0, pktsToServer: 1, bytesToServer: 1280, endReason: 'capacity',
  });

function encoderFor(opts: Partial<ConstructorParameters<typeof IpfixEncoder>[0]> = {}, nowMs = () => 1_767_225_600_000) {
  const out: Buffer[] = [];
  const enc = new IpfixEncoder(
    { observationDomainId: 7, maxMessageBytes: 1400, templateRefreshMessages: 20, templateRefreshSeconds: 600, ...opts },
    () => Buffer.alloc(opts.maxMessageBytes ?? 1400, 0xee), // 0xee: a byte left unwritten shows up
    (buf, length) => out.push(Buffer.from(buf.subarray(0, length))),
    nowMs,
  );
  return { enc, out };
}

// The templates as RFC 7011 / RFC 5103 / IANA say they should read: [ie, pen, length].
const IANA = 0;
const REV = 29305;
const EXPECTED_TEMPLATES: Record<number, [number, number, number][]> = {
  256: [[8, IANA, 4], [12, IANA, 4], [7, IANA, 2], [11, IANA, 2], [4, IANA, 1], [152, IANA, 8], [153, IANA, 8],
    [1, IANA, 8], [2, IANA, 8], [1, REV, 8], [2, REV, 8], [6, REV, 2], [6, IANA, 2], [136, IANA, 1], [58, IANA, 2], [245, IANA, 2]],
  257: [[27, IANA, 16], [28, IANA, 16], [7, IANA, 2], [11, IANA, 2], [4, IANA, 1], [152, IANA, 8], [153, IANA, 8],
    [1, IANA, 8], [2, IANA, 8], [1, REV, 8], [2, REV, 8], [6, REV, 2], [6, IANA, 2], [136, IANA, 1], [58, IANA, 2], [245, IANA, 2]],
  258: [[8, IANA, 4], [12, IANA, 4], [4, IANA, 1], [152, IANA, 8], [153, IANA, 8],
    [1, IANA, 8], [2, IANA, 8], [1, REV, 8], [2, REV, 8], [136, IANA, 1], [58, IANA, 2], [245, IANA, 2], [32, IANA, 2]],
  259: [[27, IANA, 16], [28, IANA, 16], [4, IANA, 1], [152, IANA, 8], [153, IANA, 8],
    [1, IANA, 8], [2, IANA, 8], [1, REV, 8], [2, REV, 8], [136, IANA, 1], [58, IANA, 2], [245, IANA, 2], [139, IANA, 2]],
};

const ip4 = (s: string) => BigInt(s.split('.').reduce((a, b) => a * 256 + Number(b), 0));
const ip6 = (s: string) => {
  const w = new Uint32Array(4);
  parseAddr(s, w);
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32BE(w[i]!, i * 4);
  return b;
};

describe('IPFIX message layout', () => {
  it('writes header, template set and data sets that decode to every field of every flow', () => {
    const { enc, out } = encoderFor();
    for (const f of [tcpV4(), udpV6(), icmpV4(), icmpV6()]) enc.add(f);
    expect(out).toHaveLength(0); // not full yet
    enc.flush();
    expect(out).toHaveLength(1);
    const buf = out[0]!;
    expect(buf.includes(Buffer.from([0xee, 0xee, 0xee]))).toBe(false);
    const m = readMessage(buf, new Map());
    expect(m.version).toBe(10);
    expect(m.exportTime).toBe(1_767_225_600);
    expect(m.sequence).toBe(0);
    expect(m.domain).toBe(7);
    // Template set first, then one data set per template in the order the flows came.
    expect(m.sets.map((s) => s.id)).toEqual([2, 256, 257, 258, 259]);
    for (const [tid, fields] of Object.entries(EXPECTED_TEMPLATES)) {
      expect(m.templates.get(Number(tid))!.map((f) => [f.ie, f.pen, f.length]), `template ${tid}`).toEqual(fields);
    }
    const [tcp, udp, icmp, icmp6] = m.records;
    expect(m.records).toHaveLength(4);

    const v = tcp!.values;
    expect(v.get('8')).toBe(ip4('10.0.0.5'));
    expect(v.get('12')).toBe(ip4('192.0.2.9'));
    expect(v.get('7')).toBe(51514n);
    expect(v.get('11')).toBe(445n);
    expect(v.get('4')).toBe(6n);
    expect(v.get('152')).toBe(BigInt(Math.floor(T0 / 1000)));
    expect(v.get('153')).toBe(BigInt(Math.floor((T0 + 3_876_545) / 1000)));
    expect(v.get('1')).toBe(5_000_000_123n); // above 2^32: both halves of the 64-bit field
    expect(v.get('2')).toBe(3n);
    expect(v.get('29305/1')).toBe(40n);
    expect(v.get('29305/2')).toBe(2n);
    expect(v.get('6')).toBe(0x16n); // union S R A
    expect(v.get('29305/6')).toBe(0x14n); // responder: R A
    expect(v.get('136')).toBe(3n); // rst -> end of flow detected
    expect(v.get('58')).toBe(943n);
    expect(v.get('245')).toBe(17n);

    const u = udp!.values;
    expect(u.get('27')).toEqual(ip6('2001:db8::1'));
    expect(u.get('28')).toEqual(ip6('fe80::abcd:1'));
    expect([u.get('7'), u.get('11'), u.get('4')]).toEqual([5353n, 53n, 17n]);
    expect([u.get('1'), u.get('2'), u.get('29305/1'), u.get('29305/2')]).toEqual([80n, 1n, 0n, 0n]);
    expect([u.get('136'), u.get('58'), u.get('245')]).toEqual([1n, 0n, 0n]);

    const i = icmp!.values;
    expect([i.get('8'), i.get('12'), i.get('4')]).toEqual([ip4('10.0.0.7'), ip4('10.0.0.8'), 1n]);
    expect(i.has('7')).toBe(false);
    expect(i.get('32')).toBe(0x0800n); // echo request: type 8 code 0
    expect([i.get('1'), i.get('2'), i.get('29305/1'), i.get('29305/2')]).toEqual([336n, 4n, 336n, 4n]);
    expect([i.get('136'), i.get('58')]).toEqual([4n, 5n]); // shutdown -> forced end

    const j = icmp6!.values;
    expect(j.get('27')).toEqual(ip6('2001:db8::2'));
    expect(j.get('139')).toBe(0x0104n); // destination unreachable, port unreachable
    expect(j.get('136')).toBe(5n); // capacity -> lack of resources
    expect(j.get('4')).toBe(58n);
  });

  it('fills messages up to the size limit, numbers data records, and refreshes templates every N messages', () => {
    const { enc, out } = encoderFor({ templateRefreshMessages: 3 });
    const flows = 200;
    const reasons: EndReason[] = ['idle', 'active', 'fin', 'rst', 'capacity', 'shutdown'];
    for (let n = 0; n < flows; n++) {
      const f = n % 3 === 0 ? udpV6() : tcpV4();
      f.srcPort = n;
      f.endReason = reasons[n % reasons.length]!;
      enc.add(f);
    }
    enc.flush();
    const known = new Map<number, Field[]>();
    let expectedSeq = 0;
    const seen: bigint[] = [];
    out.forEach((buf, idx) => {
      expect(buf.length).toBeLessThanOrEqual(1400);
      const m = readMessage(buf, known);
      expect(m.sequence).toBe(expectedSeq); // records before this message (RFC 7011 §3.1)
      expectedSeq += m.records.length;
      expect(m.sets[0]!.id === 2, `message ${idx} template set`).toBe(idx % 3 === 0);
      // A record more would not have fitted (except the last message).
      if (idx < out.length - 1) expect(buf.length + 94 + 4).toBeGreaterThan(1400);
      for (const r of m.records) seen.push(r.values.get('7') as bigint);
    });
    expect(expectedSeq).toBe(flows);
    expect(enc.sequence).toBe(flows);
    expect(seen).toEqual(Array.from({ length: flows }, (_, n) => BigInt(n)));
  });

  it('refreshes templates after templateRefreshSeconds of wall time', () => {
    let now = 1_000_000;
    const { enc, out } = encoderFor({ templateRefreshMessages: 1000, templateRefreshSeconds: 10 }, () => now);
    enc.add(tcpV4());
    enc.flush();
    now += 9_000;
    enc.add(tcpV4());
    enc.flush();
    now += 1_000;
    enc.add(tcpV4());
    enc.flush();
    expect(out.map((b) => b.readUInt16BE(16) === 2)).toEqual([true, false, true]);
  });
});

describe('IPFIX target parsing', () => {
  it('takes HOST:PORT, [v6]:PORT and a bare host (port 4739)', () => {
    expect(parseIpfixTarget('127.0.0.1:9995')).toEqual({ host: '127.0.0.1', port: 9995 });
    expect(parseIpfixTarget('[::1]:4740')).toEqual({ host: '::1', port: 4740 });
    expect(parseIpfixTarget('collector.example')).toEqual({ host: 'collector.example', port: 4739 });
    expect(parseIpfixTarget('::1')).toEqual({ host: '::1', port: 4739 });
  });
  it('rejects bad targets and a domain without a target as user errors', () => {
    for (const bad of ['127.0.0.1:0', 'h:99999', ':4739', 'h:x']) expect(() => parseIpfixTarget(bad)).toThrow(UserError);
    expect(() => ipfixOptions('replay', null, undefined, '3')).toThrow(/--ipfix-domain needs --ipfix/);
    expect(() => ipfixOptions('replay', null, '127.0.0.1:1', '-1')).toThrow(/--ipfix-domain must be/);
    expect(ipfixOptions('replay', null, undefined, undefined)).toBeNull();
  });
});

describe('IPFIX exporter over UDP', () => {
  const sockets: dgram.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  function receiver(): Promise<{ port: number; got: Buffer[] }> {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    const got: Buffer[] = [];
    s.on('message', (b) => got.push(b));
    return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve({ port: s.address().port, got })));
  }

  it('delivers every record to a loopback receiver, paced, and waits for the sends on close', async () => {
    const { port, got } = await receiver();
    const ex = new IpfixExporter({ host: '127.0.0.1', port, observationDomainId: 3, messagesPerSecond: 2000, burstMessages: 4 });
    const n = 1000;
    for (let i = 0; i < n; i++) {
      const f = i % 2 ? tcpV4() : icmpV4();
      f.pktsToServer = i;
      ex.write(f);
    }
    const started = performance.now();
    const stats = await ex.close();
    const waited = performance.now() - started;
    expect(stats.records_sent).toBe(n);
    expect(stats.send_errors).toBe(0);
    expect(stats.records_lost).toBe(0);
    // At least 1000 / 19 = 53 messages (more: alternating templates cost set headers); at
    // 2000 messages/s after a burst of 4 that is 25 ms of pacing at least.
    expect(stats.messages_sent).toBeGreaterThanOrEqual(53);
    expect(waited).toBeGreaterThan(20);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toHaveLength(stats.messages_sent);
    const known = new Map<number, Field[]>();
    const pkts: bigint[] = [];
    let seq = 0;
    for (const b of got) {
      const m = readMessage(b, known);
      expect(m.domain).toBe(3);
      expect(m.sequence).toBe(seq);
      seq += m.records.length;
      for (const r of m.records) pkts.push(r.values.get('2') as bigint);
    }
    expect(pkts).toEqual(Array.from({ length: n }, (_, i) => BigInt(i)));
  });

  it('sends a partly filled message after flushIntervalMs (live sensor with few flows)', async () => {
    const { port, got } = await receiver();
    const ex = new IpfixExporter({ host: '127.0.0.1', port, flushIntervalMs: 100 });
    ex.write(tcpV4());
    await new Promise((r) => setTimeout(r, 400));
    expect(got).toHaveLength(1);
    expect(readMessage(got[0]!, new Map()).records).toHaveLength(1);
    await ex.close();
  });

  it('counts ECONNREFUSED when nobody listens, never throws, and close() still resolves', async () => {
    // A port that was just free: bind, note it, close.
    const probe = dgram.createSocket('udp4');
    const port = await new Promise<number>((r) => probe.bind(0, '127.0.0.1', () => r(probe.address().port)));
    await new Promise<void>((r) => probe.close(() => r()));
    const ex = new IpfixExporter({ host: '127.0.0.1', port, messagesPerSecond: 0 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 100; i++) ex.write(tcpV4());
      await new Promise((r) => setTimeout(r, 20)); // let the ICMP port-unreachable come back
    }
    const stats = await ex.close();
    expect(stats.send_errors).toBeGreaterThan(0);
    expect(stats.send_error_codes.ECONNREFUSED).toBeGreaterThan(0);
    expect(stats.records_lost).toBeGreaterThan(0);
    expect(stats.records_sent + stats.records_lost).toBeLessThanOrEqual(500);
    ex.write(tcpV4()); // after close: ignored, not thrown
  });

  it('a collector name that does not resolve loses the records and says why', async () => {
    const ex = new IpfixExporter({ host: 'no-such-host.invalid', port: 4739 });
    for (let i = 0; i < 40; i++) ex.write(tcpV4());
    const stats = await ex.close();
    expect(stats.records_sent).toBe(0);
    expect(stats.records_lost).toBe(40);
    expect(Object.keys(stats.send_error_codes).length).toBeGreaterThan(0);
  });
});
