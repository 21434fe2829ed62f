/**
 * The byte writers (flowWriter, flowToJson, flowToIpaudit) against the template-literal
 * formatter they replaced, kept here as the reference: the same text, byte for byte, for
 * any record, and JSON.parse gives back the record's fields (SPEC §3 names).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { openCaptureFiles } from '../../src/capture/file-source.js';
import { loadConfig } from '../../src/config/index.js';
import { CONN_STATES, END_REASONS, FlowRecord, protoName, tcpFlagString, type ConnState, type EndReason } from '../../src/flow/record.js';
import { flowJsonBytes, flowToIpaudit, flowToJson, flowWriter } from '../../src/output/flow-format.js';
import { TextSink } from '../../src/output/sink.js';
import { formatAddr } from '../../src/util/ip.js';
import { Pipeline } from '../../src/pipeline.js';
import { formatMicros } from '../../src/util/time.js';
import { capturePath, describeShared } from '../helpers/shared.js';

// ---- The reference: the formatter as it was before the byte writers --------------------

function refJson(f: FlowRecord): string {
  let s = `{"start":"${formatMicros(f.startMicros)}","end":"${formatMicros(f.endMicros)}"` +
    `,"proto":"${protoName(f.proto)}","src_ip":"${f.srcIp}","src_port":${f.srcPort}` +
    `,"dst_ip":"${f.dstIp}","dst_port":${f.dstPort}` +
    `,"pkts_toserver":${f.pktsToServer},"pkts_toclient":${f.pktsToClient}` +
    `,"bytes_toserver":${f.bytesToServer},"bytes_toclient":${f.bytesToClient}` +
    `,"first_talker":"${f.firstTalker}","last_talker":"${f.lastTalker}"` +
    `,"tcp_flags":"${tcpFlagString(f.tcpFlags)}","tcp_flags_ts":"${tcpFlagString(f.tcpFlagsToServer)}"` +
    `,"tcp_flags_tc":"${tcpFlagString(f.tcpFlagsToClient)}","state":"${f.state}","end_reason":"${f.endReason}"` +
    `,"vlan":[${f.vlans.join(',')}]`;
  if (f.icmpType >= 0) s += `,"icmp_type":${f.icmpType},"icmp_code":${f.icmpCode}`;
  if (f.icmpErrors > 0) {
    s += `,"icmp_errors":${f.icmpErrors},"icmp_error_type":${f.icmpErrorType},"icmp_error_code":${f.icmpErrorCode}` +
      `,"icmp_error_from":"${f.icmpErrorFrom}"`;
  }
  if (f.icmpQuotedProto >= 0) {
    s += `,"icmp_quoted":{"src_ip":"${f.icmpQuotedSrcIp}","dst_ip":"${f.icmpQuotedDstIp}"` +
      `,"proto":"${protoName(f.icmpQuotedProto)}","dst_port":${f.icmpQuotedDstPort}}`;
  }
  return s + '}\n';
}

function refIpaudit(f: FlowRecord): string {
  return `${f.srcIp} ${f.dstIp} ${f.proto} ${f.srcPort} ${f.dstPort} ` +
    `${f.bytesToServer} ${f.bytesToClient} ${f.pktsToServer} ${f.pktsToClient} ` +
    `${clock(f.startMicros)} ${clock(f.endMicros)} ${f.firstTalker === 'src' ? 1 : 2} ${f.lastTalker === 'src' ? 1 : 2}\n`;
}

function clock(micros: number): string {
  const iso = formatMicros(micros);
  const t = iso.indexOf('T');
  return iso.slice(t + 1, t + 14);
}

// ---- Records -------------------------------------------------------------------------

/** What FlowTable.emit fills, as plain data. */
interface Fields {
  v6: boolean;
  src: number[];
  dst: number[];
  startMicros: number;
  durationMicros: number;
  proto: number;
  srcPort: number;
  dstPort: number;
  pkts: [number, number];
  bytes: [number, number];
  talkers: [boolean, boolean];
  flags: [number, number];
  state: ConnState;
  endReason: EndReason;
  vlans: number[];
  icmp: [number, number] | null;
  errors: [number, number, number, number[]] | null;
  quoted: [number[], number[], number, number] | null;
}

const word = fc.integer({ min: 0, max: 0xffffffff });
/** IPv6 words with zero runs often (so "::" compression is exercised). */
const v6words = fc.array(fc.oneof(word, fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 4, maxLength: 4 });
/** IPv4 from a few subnets (repeats, and the formatAddr cache's collisions) or anywhere. */
const v4word = fc.oneof(word, fc.integer({ min: 0, max: 3 }).chain((hi) => fc.integer({ min: 0, max: 0xffff }).map((lo) => ((0x0a020000 + hi * 0x10001) ^ lo) >>> 0)));
const count = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 0xffffffff }), fc.maxSafeInteger().filter((n) => n >= 0));
const micros = fc.oneof(
  fc.integer({ min: 1_500_000_000_000_000, max: 1_800_000_000_000_000 }),
  fc.integer({ min: -5_000_000_000_000_000, max: 9_000_000_000_000_000 }),
);

const fieldsArb: fc.Arbitrary<Fields> = fc.record({
  v6: fc.boolean(),
  src: fc.tuple(v6words, v4word).map(([w, a]) => [...w.slice(0, 3), a]),
  dst: fc.tuple(v6words, v4word).map(([w, a]) => [...w.slice(0, 3), a]),
  startMicros: micros,
  durationMicros: fc.oneof(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 86_400_000_000 })),
  proto: fc.oneof(fc.constantFrom(6, 17, 1, 58), fc.integer({ min: 0, max: 255 })),
  srcPort: fc.integer({ min: 0, max: 65535 }),
  dstPort: fc.integer({ min: 0, max: 65535 }),
  pkts: fc.tuple(count, count),
  bytes: fc.tuple(count, count),
  talkers: fc.tuple(fc.boolean(), fc.boolean()),
  flags: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
  state: fc.constantFrom(...CONN_STATES),
  endReason: fc.constantFrom(...END_REASONS),
  vlans: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 2 }),
  icmp: fc.option(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))),
  errors: fc.option(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), v6words)),
  quoted: fc.option(fc.tuple(v6words, v6words, fc.integer({ min: 0, max: 255 }), fc.integer({ min: -1, max: 65535 }))),
});

function addrText(words: number[], v6: boolean): string {
  return formatAddr(Uint32Array.from(words), v6 ? 6 : 4);
}

/** Fill `r` as FlowTable.emit does (text forms made from the words). */
function fill(r: FlowRecord, x: Fields): FlowRecord {
  const v = x.v6 ? 6 : 4;
  r.ipVersion = v;
  for (let i = 0; i < 4; i++) {
    r.srcAddr[i] = x.v6 || i === 3 ? x.src[i]! : [0, 0, 0xffff][i]!;
    r.dstAddr[i] = x.v6 || i === 3 ? x.dst[i]! : [0, 0, 0xffff][i]!;
  }
  r.srcIp = formatAddr(r.srcAddr, v);
  r.dstIp = formatAddr(r.dstAddr, v);
  r.startMicros = x.startMicros;
  r.endMicros = x.startMicros + x.durationMicros;
  r.proto = x.proto;
  r.srcPort = x.srcPort;
  r.dstPort = x.dstPort;
  [r.pktsToServer, r.pktsToClient] = x.pkts;
  [r.bytesToServer, r.bytesToClient] = x.bytes;
  r.firstTalker = x.talkers[0] ? 'dst' : 'src';
  r.lastTalker = x.talkers[1] ? 'dst' : 'src';
  [r.tcpFlagsToServer, r.tcpFlagsToClient] = x.flags;
  r.tcpFlags = r.tcpFlagsToServer | r.tcpFlagsToClient;
  r.state = x.state;
  r.endReason = x.endReason;
  r.vlans = x.vlans;
  r.icmpType = x.icmp ? x.icmp[0] : -1;
  r.icmpCode = x.icmp ? x.icmp[1] : -1;
  r.icmpErrors = x.errors ? x.errors[0] : 0;
  r.icmpErrorType = x.errors ? x.errors[1] : -1;
  r.icmpErrorCode = x.errors ? x.errors[2] : -1;
  r.icmpErrorFrom = x.errors ? addrText(x.errors[3], x.v6) : '';
  r.icmpQuotedSrcIp = x.quoted ? addrText(x.quoted[0], x.v6) : '';
  r.icmpQuotedDstIp = x.quoted ? addrText(x.quoted[1], x.v6) : '';
  r.icmpQuotedProto = x.quoted ? x.quoted[2] : -1;
  r.icmpQuotedDstPort = x.quoted ? x.quoted[3] : -1;
  return r;
}

const tmpDirs: string[] = [];
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmpFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-flowfmt-'));
  tmpDirs.push(dir);
  return path.join(dir, name);
}

describe('flow record writers', () => {
  it('write the reference text for any record (NDJSON and IPAudit)', () => {
    const r = new FlowRecord();
    fc.assert(fc.property(fieldsArb, (x) => {
      fill(r, x);
      expect(flowToJson(r)).toBe(refJson(r));
      expect(flowToIpaudit(r)).toBe(refIpaudit(r));
    }), { numRuns: 3000 });
  });

  it('give JSON.parse the record back, with the SPEC §3 names', () => {
    const r = new FlowRecord();
    fc.assert(fc.property(fieldsArb, (x) => {
      fill(r, x);
      const o = JSON.parse(flowToJson(r)) as Record<string, unknown>;
      expect(o).toMatchObject({
        start: formatMicros(r.startMicros), end: formatMicros(r.endMicros), proto: protoName(r.proto),
        src_ip: r.srcIp, src_port: r.srcPort, dst_ip: r.dstIp, dst_port: r.dstPort,
        pkts_toserver: r.pktsToServer, pkts_toclient: r.pktsToClient,
        bytes_toserver: r.bytesToServer, bytes_toclient: r.bytesToClient,
        first_talker: r.firstTalker, last_talker: r.lastTalker,
        tcp_flags: tcpFlagString(r.tcpFlags), tcp_flags_ts: tcpFlagString(r.tcpFlagsToServer),
        tcp_flags_tc: tcpFlagString(r.tcpFlagsToClient), state: r.state, end_reason: r.endReason, vlan: r.vlans,
      });
      expect(o.icmp_type).toBe(r.icmpType >= 0 ? r.icmpType : undefined);
      expect(o.icmp_error_from).toBe(r.icmpErrors > 0 ? r.icmpErrorFrom : undefined);
      expect(o.icmp_quoted).toEqual(r.icmpQuotedProto >= 0
        ? { src_ip: r.icmpQuotedSrcIp, dst_ip: r.icmpQuotedDstIp, proto: protoName(r.icmpQuotedProto), dst_port: r.icmpQuotedDstPort }
        : undefined);
    }), { numRuns: 1000 });
  });

  it('print any number as String(n) does, and odd strings as the template did', () => {
    // Not values the flow table makes, but the text must not depend on which path wrote it.
    const odd = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, 2 ** 32, 2 ** 32 - 1, 9999, 10000, 99_999_999, 1e8, 1e21, -1));
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', 'é', '\u{1f600}'));
    const r = new FlowRecord();
    fc.assert(fc.property(fieldsArb, fc.array(odd, { minLength: 14, maxLength: 14 }), fc.array(text, { minLength: 5, maxLength: 5 }), (x, n, t) => {
      fill(r, x);
      [r.srcPort, r.dstPort, r.pktsToServer, r.pktsToClient, r.bytesToServer, r.bytesToClient, r.proto,
        r.tcpFlags, r.tcpFlagsToServer, r.icmpType, r.icmpErrorCode, r.icmpQuotedDstPort, r.startMicros, r.endMicros] = n as [
        number, number, number, number, number, number, number, number, number, number, number, number, number, number];
      r.vlans = n.slice(0, 3);
      r.icmpCode = n[5]!;
      r.icmpErrors = n[7]!;
      r.icmpErrorType = n[8]!;
      r.icmpQuotedProto = n[9]!;
      r.icmpErrorFrom = t[0]!;
      r.icmpQuotedSrcIp = t[1]!;
      r.icmpQuotedDstIp = t[2]!;
      r.state = t[3] as ConnState;
      r.firstTalker = t[4] as 'src';
      if (r.ipVersion === 6) r.srcIp = t[0]!;
      expect(flowToJson(r)).toBe(refJson(r));
      expect(flowToIpaudit(r)).toBe(refIpaudit(r));
    }), { numRuns: 2000 });
  });

  it('timestamps: every second of a day, the edges of Date, fractions of a microsecond', () => {
    const r = fill(new FlowRecord(), fc.sample(fieldsArb, { numRuns: 1, seed: 1 })[0]!);
    const check = (start: number, end: number): void => {
      r.startMicros = start;
      r.endMicros = end;
      expect(flowToJson(r)).toBe(refJson(r));
      expect(flowToIpaudit(r)).toBe(refIpaudit(r));
    };
    for (let s = 0; s < 86_400; s += 7) check(1_700_000_000e6 + s * 1e6 + s, 1_700_000_000e6 + s * 1e6 + 999_999);
    for (const t of [0, -1, 999_999, 1e6, -1e6, 8.64e21, 8.64e21 + 1e6, -8.64e21, -8.64e21 - 1e6, 1e22, -1e22,
      253402300799999999, 253402300800000000, -62167219200000000, -62167219200000001, 1.5, 1_700_000_000e6 + 0.25,
      2 ** 53, 2 ** 53 + 2, 9_007_199_254_740_991, NaN, Infinity, -Infinity]) {
      check(t, t);
      check(1_700_000_000e6, t);
    }
    fc.assert(fc.property(fc.double({ min: -1e22, max: 1e22 }), fc.double({ min: -1e22, max: 1e22 }), check));
  });

  it('flowWriter fills a TextSink with the reference records, across its flushes', async () => {
    const dest = tmpFile('flows.ndjson');
    const destIp = tmpFile('flows.txt');
    const sink = new TextSink(dest);
    const sinkIp = new TextSink(destIp);
    const json = flowWriter('json', sink);
    const ipaudit = flowWriter('ipaudit', sinkIp);
    const r = new FlowRecord();
    const expected: string[] = [];
    const expectedIp: string[] = [];
    for (const x of fc.sample(fieldsArb, { numRuns: 3000, seed: 7 })) {
      fill(r, x);
      json(r);
      ipaudit(r);
      expected.push(refJson(r));
      expectedIp.push(refIpaudit(r));
      if (expected.length === 1000) {
        // Another writer of the same sink, in between (write(text) and the bytes interleave).
        sink.write('{"note":"é"}\n');
        expected.push('{"note":"é"}\n');
      }
    }
    await sink.close();
    await sinkIp.close();
    expect(Buffer.byteLength(expected.join(''))).toBeGreaterThan(1 << 20); // several flushes
    expect(fs.readFileSync(dest, 'utf8')).toBe(expected.join(''));
    expect(fs.readFileSync(destIp, 'utf8')).toBe(expectedIp.join(''));
  });

  it('flowJsonBytes writes at an offset and leaves the bytes before it alone', () => {
    const r = fill(new FlowRecord(), fc.sample(fieldsArb, { numRuns: 1, seed: 3 })[0]!);
    const buf = Buffer.alloc(8192, 0x2a);
    const end = flowJsonBytes(buf, 101, r);
    expect(buf.subarray(0, 101).every((b) => b === 0x2a)).toBe(true);
    expect(buf.toString('utf8', 101, end)).toBe(refJson(r));
  });
});

// The golden flow files (test/golden/flows), written through flowWriter on the pipeline's
// records: IPv6, ICMP errors and quoted headers, QinQ VLANs, nanosecond pcapng.
describeShared('flowWriter on the golden captures', () => {
  const GOLDEN_DIR = path.join(import.meta.dirname, '..', 'golden', 'flows');
  const cases: [string, 'json' | 'ipaudit', string][] = [
    ['detection/trace__win_trace1.pcap', 'json', 'trace__win_trace1.ndjson'],
    ['detection/trace__win_trace1.pcap', 'ipaudit', 'trace__win_trace1.ipaudit.txt'],
    ['formats/trace__traceroute-frag.pcap', 'json', 'trace__traceroute-frag.ndjson'],
    ['formats/pcpp__ip6_fragments.pcap', 'json', 'pcpp__ip6_fragments.ndjson'],
    ['formats/zeek__vlan-qinqinq.pcap', 'json', 'zeek__vlan-qinqinq.ndjson'],
    ['formats/zeek__linux_dlt_sll2.pcap', 'json', 'zeek__linux_dlt_sll2.ndjson'],
    ['formats/zeek__pcapng-multi-interface.pcapng', 'json', 'zeek__pcapng-multi-interface.ndjson'],
    ['formats/pcpp__raw_ip.pcap', 'json', 'pcpp__raw_ip.ndjson'],
  ];
  for (const [file, format, golden] of cases) {
    it(`${file} (${format})`, async () => {
      const dest = tmpFile('flows');
      const sink = new TextSink(dest);
      const pipeline = new Pipeline({ config: loadConfig(), flowsDest: null, onFlow: flowWriter(format, sink) });
      const source = openCaptureFiles([capturePath(file)]);
      await pipeline.run(source);
      await pipeline.finish(source.warnings);
      await sink.close();
      expect(fs.readFileSync(dest, 'utf8')).toBe(fs.readFileSync(path.join(GOLDEN_DIR, golden), 'utf8'));
    });
  }
});
