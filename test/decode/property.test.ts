/**
 * Property tests: any bytes under any link type decode or are counted, never throw, never
 * produce out-of-range fields, and never depend on bytes outside [offset, offset+capLen).
 * The last point is checked directly: each input is decoded twice, surrounded by 0x00 and
 * then by 0xff guard bytes, and the two results must be identical.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode } from '../../src/decode/decode.js';
import { DecodedPacket, FRAG_LATER } from '../../src/decode/packet.js';
import { R_OK, REASON_COUNT } from '../../src/decode/reasons.js';
import { capturePath, describeShared } from '../helpers/shared.js';
import { readClassicPcap } from './pcap-records.js';

const SUPPORTED = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];
const NUM_RUNS = 3000;

const outA = new DecodedPacket();
const outB = new DecodedPacket();

function snapshot(o: DecodedPacket): number[] {
  return [
    o.capLen, o.wireLen, o.vlanCount, o.vlanOuter, o.vlanInner, o.ipVersion, ...o.src, ...o.dst,
    o.ipLen, o.ttl, o.ipId, o.fragment, o.proto, o.srcPort, o.dstPort, o.tcpFlags, o.payloadLen,
    o.icmpType, o.icmpCode, o.icmpError ? 1 : 0, o.innerVersion, ...o.innerSrc, ...o.innerDst,
    o.innerProto, o.innerSrcPort, o.innerDstPort,
  ];
}

const isU = (x: number, max: number): boolean => Number.isInteger(x) && x >= 0 && x <= max;

/**
 * Plain checks instead of expect(): the truncation sweep runs ~40k decodes and vitest's
 * expect() costs far more than the decode itself. A failure still names the property and
 * the decoded fields.
 */
function ok(cond: boolean, what: string): void {
  if (!cond) throw new Error(`decode invariant broken: ${what}; fields ${JSON.stringify(snapshot(outA))}`);
}

function sameArray(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Decode `bytes` with guards of both fills around it; check the invariants; return the reason. */
function check(bytes: Uint8Array, capLen: number, wireLen: number, linktype: number): number {
  const lead = 5;
  const a = Buffer.alloc(lead + capLen + 80, 0x00);
  const b = Buffer.alloc(lead + capLen + 80, 0xff);
  a.set(bytes.subarray(0, capLen), lead);
  b.set(bytes.subarray(0, capLen), lead);
  const ra = decode(a, lead, capLen, wireLen, linktype, outA);
  const rb = decode(b, lead, capLen, wireLen, linktype, outB);
  ok(rb === ra, 'same reason whatever the guard bytes');
  const snap = snapshot(outA);
  ok(sameArray(snapshot(outB), snap), 'same fields whatever the guard bytes (a read outside capLen)');
  ok(Number.isInteger(ra) && ra >= 0 && ra < REASON_COUNT, 'Number.isInteger(ra) && ra >= 0 && ra < REASON_COUNT');
  for (const x of snap) ok(Number.isFinite(x), 'Number.isFinite(x)');
  const o = outA;
  ok(isU(o.vlanCount, capLen) && isU(o.vlanOuter, 4095) && isU(o.vlanInner, 4095), 'isU(o.vlanCount, capLen) && isU(o.vlanOuter, 4095) && isU(o.vlanInner, 4095)');
  if (ra === R_OK) {
    ok(o.ipVersion === 4 || o.ipVersion === 6, 'o.ipVersion === 4 || o.ipVersion === 6');
    ok(o.ipLen >= (o.ipVersion === 4 ? 20 : 40), 'ipLen >= fixed header');
    ok(isU(o.proto, 255) && isU(o.ttl, 255) && isU(o.tcpFlags, 255), 'isU(o.proto, 255) && isU(o.ttl, 255) && isU(o.tcpFlags, 255)');
    ok(isU(o.srcPort, 65535) && isU(o.dstPort, 65535), 'isU(o.srcPort, 65535) && isU(o.dstPort, 65535)');
    ok(isU(o.payloadLen, o.ipLen), 'isU(o.payloadLen, o.ipLen)');
    ok(isU(o.ipId, 0xffffffff) && isU(o.fragment, 2), 'isU(o.ipId, 0xffffffff) && isU(o.fragment, 2)');
    if (o.fragment === FRAG_LATER) ok(o.srcPort + o.dstPort + o.tcpFlags === 0, 'later fragment has no transport header');
    ok(o.icmpType === -1 || isU(o.icmpType, 255), 'o.icmpType === -1 || isU(o.icmpType, 255)');
    ok(o.icmpCode === -1 || isU(o.icmpCode, 255), 'o.icmpCode === -1 || isU(o.icmpCode, 255)');
    if (o.icmpError) {
      ok(o.innerVersion === 4 || o.innerVersion === 6, 'o.innerVersion === 4 || o.innerVersion === 6');
      ok(isU(o.innerProto, 255) && isU(o.innerSrcPort, 65535) && isU(o.innerDstPort, 65535), 'isU(o.innerProto, 255) && isU(o.innerSrcPort, 65535) && isU(o.innerDstPort, 65535)');
    } else {
      ok(o.innerVersion === 0, 'no inner header without icmpError');
    }
  } else {
    ok(!o.icmpError, 'no icmpError on a not-flowed packet');
  }
  return ra;
}

describe('decode on random bytes', () => {
  it('any byte string under any supported link type', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 160 }), fc.constantFrom(...SUPPORTED), fc.nat(200), (bytes, lt, extraWire) => {
        check(bytes, bytes.length, bytes.length + extraWire, lt);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('random link types, including absurd ones', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: -5, max: 70000 }), (bytes, lt) => {
        check(bytes, bytes.length, bytes.length, lt);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('IP-shaped random bytes reach the deeper layers', () => {
    // Random bytes rarely pass the IP checks; fix version/IHL/length so transport code runs.
    const ipish = fc.record({
      v6: fc.boolean(),
      proto: fc.constantFrom(0, 1, 6, 17, 43, 44, 51, 58, 59, 60, 132),
      body: fc.uint8Array({ minLength: 40, maxLength: 140 }),
      cut: fc.nat(140),
    });
    fc.assert(
      fc.property(ipish, ({ v6, proto, body, cut }) => {
        const p = Uint8Array.from(body);
        if (v6) {
          p[0] = 0x60;
          p[4] = (p.length - 40) >> 8;
          p[5] = (p.length - 40) & 255;
          p[6] = proto;
        } else {
          p[0] = 0x45;
          p[2] = p.length >> 8;
          p[3] = p.length & 255;
          p[6] &= 0x20; // MF may be set, offset 0
          p[7] = 0;
          p[9] = proto;
        }
        const capLen = Math.min(p.length, Math.max(1, cut));
        check(p, capLen, p.length, 101);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

/** Real packets per link type, and raw IP packets re-wrapped in every other link header. */
function loadPool(): { linktype: number; bytes: Uint8Array; wireLen: number }[] {
  const pool: { linktype: number; bytes: Uint8Array; wireLen: number }[] = [];
  const files = [
    'bench/ndpi__1kxun.pcap', // Ethernet, v4 + v6, TCP/UDP
    'formats/zeek__vlan-qinqinq.pcap',
    'formats/zeek__mixed-vlan-mpls.pcap',
    'formats/pcpp__VlanPackets.pcap',
    'formats/trace__traceroute-frag.pcap',
    'formats/pcpp__ip6_fragments.pcap',
    'formats/td__ipv6-routing-header.pcap',
    'formats/zeek__ipv6-hbh-routing0.pcap',
    'detection/sgr__hs-icmpScan.pcapng', // classic pcap despite the name: ICMP errors
    'formats/pcpp__sll.pcap',
    'formats/zeek__linux_dlt_sll2.pcap',
    'formats/pcpp__raw_ip.pcap',
    'formats/td__LINKTYPE_IPV4.pcap',
    'formats/td__LINKTYPE_IPV6.pcap',
    'formats/pcpp__null_loopback.pcap',
  ];
  const raw: Uint8Array[] = [];
  for (const f of files) {
    const p = readClassicPcap(capturePath(f));
    if (!p) throw new Error(`${f} is not classic pcap`);
    for (const r of p.records.slice(0, 150)) {
      const bytes = p.buf.subarray(r.offset, r.offset + r.capLen);
      pool.push({ linktype: p.linktype, bytes, wireLen: r.wireLen });
      if (p.linktype === 101) raw.push(bytes);
    }
  }
  const wrap = (head: number[], ip: Uint8Array): Uint8Array => Uint8Array.from([...head, ...ip]);
  for (const ip of raw.slice(0, 40)) {
    const v6 = ip[0]! >> 4 === 6;
    const et = v6 ? [0x86, 0xdd] : [0x08, 0x00];
    pool.push({ linktype: 108, bytes: wrap([0, 0, 0, v6 ? 24 : 2], ip), wireLen: ip.length + 4 });
    pool.push({ linktype: 0, bytes: wrap([v6 ? 30 : 2, 0, 0, 0], ip), wireLen: ip.length + 4 });
    pool.push({ linktype: v6 ? 229 : 228, bytes: ip, wireLen: ip.length });
    pool.push({ linktype: 12, bytes: ip, wireLen: ip.length });
    pool.push({ linktype: 276, bytes: wrap([...et, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0x5e, 0, 0x53, 1, 0, 0], ip), wireLen: ip.length + 20 });
    pool.push({ linktype: 1, bytes: wrap([0, 0, 0x5e, 0, 0x53, 1, 0, 0, 0x5e, 0, 0x53, 2, 0x88, 0xa8, 0, 5, 0x81, 0, 0, 6, ...et], ip), wireLen: ip.length + 22 });
  }
  return pool;
}

describeShared('decode on mutated real packets', () => {
  const pool = loadPool();

  it('the unmutated pool decodes to flows for every link type', () => {
    const okByLinktype = new Map<number, number>();
    for (const p of pool) {
      if (check(p.bytes, p.bytes.length, p.wireLen, p.linktype) === R_OK) {
        okByLinktype.set(p.linktype, (okByLinktype.get(p.linktype) ?? 0) + 1);
      }
    }
    for (const lt of SUPPORTED.filter((x) => x !== 14)) expect(okByLinktype.get(lt) ?? 0).toBeGreaterThan(0);
  });

  it('bit flips, byte writes and truncations never break the invariants', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.nat(pool.length - 1), fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.boolean(), (i, muts, keepWire) => {
        const src = pool[i]!;
        const bytes = Uint8Array.from(src.bytes);
        let len = bytes.length;
        for (const m of muts) {
          if (len === 0) break;
          const at = m.at % len;
          if (m.kind === 'flip') bytes[at]! ^= 1 << m.bit;
          else if (m.kind === 'set') bytes[at] = m.value;
          else len = at;
        }
        check(bytes, len, keepWire ? src.wireLen : len, src.linktype);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('every truncation of every pooled packet', () => {
    for (const p of pool.slice(0, 400)) {
      for (let len = 0; len <= p.bytes.length; len += len < 80 ? 1 : 17) check(p.bytes, len, p.wireLen, p.linktype);
    }
  });
});
