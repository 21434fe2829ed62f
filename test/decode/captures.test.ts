/**
 * The decoder on every real capture in ../shared/captures/formats and malformed (read with
 * the project's own reader, src/capture/file-source.ts, so pcapng and gzip are covered):
 * nothing throws, every packet gets a reason, and the malformed files get the reason the
 * MANIFEST (tcpdump's verdict) describes. VLAN ids, fragments and ICMP quotes are checked
 * against the MANIFEST and against tshark where it is installed.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, expect, it } from 'vitest';
import { openCaptureFiles } from '../../src/capture/file-source.js';
import { decode } from '../../src/decode/decode.js';
import { DecodedPacket, FRAG_FIRST, FRAG_LATER } from '../../src/decode/packet.js';
import { NOT_FLOWED_REASONS, R_OK } from '../../src/decode/reasons.js';
import { isUserError } from '../../src/util/errors.js';
import { capturePath, describeShared, manifest } from '../helpers/shared.js';

interface FileStats {
  packets: number;
  reasons: Record<string, number>;
  /** "count:outer/inner" of every VLAN-tagged packet. */
  vlans: Set<string>;
  fragFirst: number;
  fragLater: number;
  icmpErrors: number;
  innerProtos: Set<number>;
}

async function decodeFile(file: string): Promise<FileStats | 'unreadable'> {
  let source;
  try {
    source = openCaptureFiles([capturePath(file)]);
  } catch (e) {
    if (isUserError(e)) return 'unreadable'; // not a capture (snoop, zstd, bad header)
    throw e;
  }
  const out = new DecodedPacket();
  const s: FileStats = { packets: 0, reasons: {}, vlans: new Set(), fragFirst: 0, fragLater: 0, icmpErrors: 0, innerProtos: new Set() };
  await source.run((buf, offset, capLen, wireLen, _ts, linktype) => {
    const r = decode(buf, offset, capLen, wireLen, linktype, out);
    const name = NOT_FLOWED_REASONS[r]!;
    s.packets++;
    s.reasons[name] = (s.reasons[name] ?? 0) + 1;
    if (out.vlanCount > 0) s.vlans.add(`${out.vlanCount}:${out.vlanOuter}/${out.vlanInner}`);
    if (r === R_OK && out.fragment === FRAG_FIRST) s.fragFirst++;
    if (r === R_OK && out.fragment === FRAG_LATER) s.fragLater++;
    if (out.icmpError) {
      s.icmpErrors++;
      s.innerProtos.add(out.innerProto);
    }
  });
  return s;
}

const haveTshark = ((): boolean => {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * Outer-header fragments by tshark (first occurrence only, so headers quoted in ICMP
 * errors are not counted). Without tshark, the counts it gave when this test was written.
 */
function tsharkFragments(file: string, v6: boolean, recorded: { first: number; later: number }): { first: number; later: number } {
  if (!haveTshark) return recorded;
  const fields = v6 ? ['-e', 'ipv6.fraghdr.more', '-e', 'ipv6.fraghdr.offset'] : ['-e', 'ip.flags.mf', '-e', 'ip.frag_offset'];
  const text = execFileSync('tshark', ['-r', capturePath(file), '-T', 'fields', '-E', 'occurrence=f', ...fields], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let first = 0;
  let later = 0;
  for (const line of text.split('\n')) {
    const [more, offset] = line.split('\t');
    if (Number(offset) > 0) later++;
    else if (more === '1' || more === 'True') first++;
  }
  return { first, later };
}

describeShared('decode on the real captures', () => {
  const stats = new Map<string, FileStats | 'unreadable'>();
  const files = [...manifest('formats/'), ...manifest('malformed/')].map((r) => r.file);
  const extra = [
    'detection/esnet__tcp_0_1000_20190821.pcap',
    'detection/sgr__hs-icmpScan.pcapng',
    'detection/sgr__hs-sh-IPscan.pcapng',
  ];

  beforeAll(async () => {
    for (const f of [...files, ...extra]) stats.set(f, await decodeFile(f));
  });

  const get = (f: string): FileStats => {
    const s = stats.get(f);
    if (s === undefined || s === 'unreadable') throw new Error(`${f} was not read`);
    return s;
  };

  it('every file decodes without throwing; every packet gets exactly one reason', () => {
    expect(files.length).toBeGreaterThan(60);
    let packets = 0;
    for (const f of files) {
      const s = stats.get(f)!;
      if (s === 'unreadable') continue;
      const sum = Object.values(s.reasons).reduce((a, b) => a + b, 0);
      expect(sum, f).toBe(s.packets);
      packets += s.packets;
    }
    expect(packets).toBeGreaterThan(5000);
  });

  it('well-formed format files decode to flows (ok, or non_ip for ARP/LLC/CDP)', () => {
    for (const f of manifest('formats/').map((r) => r.file)) {
      const s = stats.get(f)!;
      if (s === 'unreadable') continue;
      const bad = Object.keys(s.reasons).filter((r) => r !== 'ok' && r !== 'non_ip');
      expect(bad, f).toEqual([]);
    }
  });

  // The reason each malformed capture must get, from tcpdump's verdict in the MANIFEST.
  const expected: [string, Record<string, number>][] = [
    ['malformed/td__ipv4_invalid_hdr_length.pcap', { bad_ip_header_len: 1 }], // bad-hlen 16
    ['malformed/zeek__ip4-trunc.pcap', { truncated_ip: 1 }], // [|ip]
    ['malformed/td__ipv4_invalid_length.pcap', { truncated_ip: 1 }], // 19 bytes of header
    ['malformed/td__LINKTYPE_IPV4_invalid.pcap', { bad_ip_version: 1 }], // v6 under LINKTYPE_IPV4
    ['malformed/td__LINKTYPE_IPV6_invalid.pcap', { bad_ip_version: 1 }], // v4 under LINKTYPE_IPV6
    ['malformed/td__bad-ipv4-version-pgm-heapoverflow.pcap', { bad_ip_version: 1 }],
    ['malformed/td__ipv6-bad-version.pcap', { ok: 2, bad_ip_version: 2 }],
    ['malformed/zeek__trunc-hdr.pcap', { truncated_link: 1 }], // [|ether]
    ['malformed/td__unsupported-link-type-dbus.pcap', { unsupported_linktype: 2 }],
    ['malformed/td__unsupported-link-type-160.pcap', { unsupported_linktype: 1 }],
    ['malformed/td__ipv4_invalid_total_length_2.pcap', { bad_ip_total_len: 1 }], // bad-len 19
    ['malformed/zeek__ip-bogus-header-len.pcap', { bad_ip_total_len: 1 }], // total length 0
    ['malformed/td__icmp-length-zero.pcapng', { bad_ip_total_len: 1 }], // bad-len 0
    ['malformed/zeek__ipv4-internally-truncated-header.pcap', { bad_ip_header_len: 1 }], // IHL past the capture
    ['malformed/td__ipv6_39_byte_header.pcap', { truncated_ip: 1 }], // [|ip6]
    ['malformed/td__ipv6_invalid_length.pcap', { truncated_ip: 1 }],
    ['malformed/zeek__ip6-trunc.pcap', { truncated_ip: 1 }],
    ['malformed/zeek__ip6-ext-trunc.pcap', { truncated_ipv6_ext: 1 }], // hop-by-hop missing
    ['malformed/pcpp__tcp-malformed.pcap', { bad_tcp_header_len: 2 }], // bad hdr length 28 > 20
    ['malformed/td__udp-length-heapoverflow.pcap', { truncated_transport: 1 }], // [|udp]
    ['malformed/td__tcp_header_heapoverflow.pcap', { truncated_transport: 1 }], // [|tcp]
  ];
  for (const [file, reasons] of expected) {
    it(`${file.replace('malformed/', '')} -> ${Object.keys(reasons).join(', ')}`, () => {
      expect(get(file).reasons).toEqual(reasons);
    });
  }

  it('all eight TCP flag bits survive (td__tcp_eight_lowest_weight_flags_set)', async () => {
    const source = openCaptureFiles([capturePath('malformed/td__tcp_eight_lowest_weight_flags_set.pcap')]);
    const out = new DecodedPacket();
    const flags: number[] = [];
    await source.run((buf, off, cap, wire, _ts, lt) => {
      decode(buf, off, cap, wire, lt, out);
      flags.push(out.tcpFlags);
    });
    expect(flags).toEqual([0xff]);
  });

  it('VLAN ids: esnet 943, qinqinq 30/20 (3 tags), VlanPackets 118/10', () => {
    expect([...get('detection/esnet__tcp_0_1000_20190821.pcap').vlans]).toEqual(['1:943/0']);
    expect([...get('formats/zeek__vlan-qinqinq.pcap').vlans]).toEqual(['3:30/20']);
    expect(get('formats/pcpp__VlanPackets.pcap').vlans.has('2:118/10')).toBe(true);
    expect(get('formats/zeek__http-qinq-0.pcap').vlans).toEqual(new Set(['2:0/0']));
    expect(get('formats/zeek__mixed-vlan-mpls.pcap').vlans).toEqual(new Set(['1:4093/0']));
    expect(get('formats/td__802.1ad_QinQ.pcap').vlans).toEqual(new Set(['2:200/2001'])); // S-tag 200, C-tag 2001 (tshark)
  });

  it('MPLS frames decode to IP (zeek__mixed-vlan-mpls: all 47)', () => {
    expect(get('formats/zeek__mixed-vlan-mpls.pcap').reasons).toEqual({ ok: 47 });
  });

  it.each([
    ['formats/trace__traceroute-frag.pcap', false, { first: 52, later: 52 }],
    ['formats/pcpp__ip4_fragments.pcap', false, { first: 9, later: 41 }],
    ['formats/pcpp__ip6_fragments.pcap', true, { first: 4, later: 32 }],
    ['malformed/ndpi__ip_fragmented_garbage.pcap', false, { first: 4, later: 1248 }],
  ] as const)('fragments in %s match tshark', (file, v6, recorded) => {
    const want = tsharkFragments(file, v6, recorded);
    const s = get(file);
    const got = { first: s.fragFirst, later: s.fragLater };
    // A first fragment whose TCP header is cut short or bogus makes no flow (it is counted
    // as truncated_transport / bad_tcp_header_len); ndpi__ip_fragmented_garbage has such.
    const notFlowedFirsts = (s.reasons.truncated_transport ?? 0) + (s.reasons.bad_tcp_header_len ?? 0);
    expect(got.later).toBe(want.later);
    expect(got.first + notFlowedFirsts).toBe(want.first);
  });

  it('ICMP errors name the quoted datagram: host-unreachables quote echoes, protocol scan quotes 252 protocols', () => {
    const icmpScan = get('detection/sgr__hs-icmpScan.pcapng');
    expect(icmpScan.icmpErrors).toBe(253);
    expect([...icmpScan.innerProtos]).toEqual([1]);
    const ipScan = get('detection/sgr__hs-sh-IPscan.pcapng');
    expect(ipScan.icmpErrors).toBe(252);
    expect(ipScan.innerProtos.size).toBe(252);
    for (const p of [1, 6, 17, 47]) expect(ipScan.innerProtos.has(p)).toBe(false);
  });
});
