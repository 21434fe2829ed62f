/**
 * Byte-level fixtures: every frame is written out in hex with what each field is, and the
 * tcpdump line it reads as. Checksums are zero: the decoder does not check them (a sensor
 * counts what was on the wire; Zeek and softflowd do not drop on checksum either).
 */
import { describe, expect, it } from 'vitest';
import { DecodedPacket, FRAG_FIRST, FRAG_LATER, FRAG_NONE } from '../../src/decode/packet.js';
import { NOT_FLOWED_REASONS, R_FRAGMENT_WITHOUT_FIRST } from '../../src/decode/reasons.js';
import { isSupportedLinktype } from '../../src/decode/decode.js';
import { MAX_IPV6_EXT_HEADERS } from '../../src/decode/ipv6ext.js';
import { hex, run } from './hex.js';

const ETH = 1;
const NULL = 0;
const RAW = 101;
const DLT_RAW = 12;
const LOOP = 108;
const SLL = 113;
const SLL2 = 276;
const LT_IPV4 = 228;
const LT_IPV6 = 229;

const MACS = `
00 00 5e 00 53 01   // dst MAC 00:00:5e:00:53:01 (RFC 7042 documentation range)
00 00 5e 00 53 02   // src MAC 00:00:5e:00:53:02`;

// IP 10.0.0.5.51514 > 192.0.2.9.445: Flags [S], seq 1, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0
const IPV4_TCP_SYN = `
45 00 00 3c   // IPv4, IHL 5 (20 bytes), tos 0, total length 60
1c 46 40 00   // id 0x1c46, flags DF, fragment offset 0
40 06 00 00   // ttl 64, proto 6 (TCP), header checksum
0a 00 00 05   // src 10.0.0.5
c0 00 02 09   // dst 192.0.2.9
c9 3a 01 bd   // TCP src port 51514, dst port 445
00 00 00 01   // seq 1
00 00 00 00   // ack 0
a0 02 fa f0   // data offset 10 (40 bytes), flags 0x02 SYN, window 64240
00 00 00 00   // checksum, urgent pointer
02 04 05 b4   // option MSS 1460
04 02         // option SACK permitted
08 0a 00 00 00 01 00 00 00 00 // option timestamps val 1 ecr 0
01            // NOP
03 03 07      // window scale 7`;

// IP 10.0.0.5.40000 > 192.0.2.9.53: UDP, length 8
const IPV4_UDP = `
45 00 00 24   // IPv4, IHL 5, total length 36
00 01 00 00   // id 1, no flags, offset 0
40 11 00 00   // ttl 64, proto 17 (UDP)
0a 00 00 05   // src 10.0.0.5
c0 00 02 09   // dst 192.0.2.9
9c 40 00 35   // UDP src port 40000, dst port 53
00 10 00 00   // UDP length 16, checksum
de ad be ef 00 01 00 00 // 8 bytes payload`;

// IP6 2001:db8::1.5353 > 2001:db8::2.5353: UDP, length 8
const IPV6_UDP = `
60 00 00 00   // IPv6, traffic class 0, flow label 0
00 10 11 40   // payload length 16, next header 17 (UDP), hop limit 64
20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 // src 2001:db8::1
20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 // dst 2001:db8::2
14 e9 14 e9   // UDP src port 5353, dst port 5353
00 10 00 00   // UDP length 16, checksum
01 02 03 04 05 06 07 08 // payload`;

function eth(etherTypeAndRest: string): Buffer {
  return hex(MACS + '\n' + etherTypeAndRest);
}

function expectSyn(d: ReturnType<typeof run>): void {
  expect(d.reason).toBe('ok');
  expect(d.out.ipVersion).toBe(4);
  expect(d.src).toBe('10.0.0.5');
  expect(d.dst).toBe('192.0.2.9');
  expect(Array.from(d.out.src)).toEqual([0, 0, 0xffff, 0x0a000005]);
  expect(d.out.proto).toBe(6);
  expect(d.out.srcPort).toBe(51514);
  expect(d.out.dstPort).toBe(445);
  expect(d.out.tcpFlags).toBe(0x02);
  expect(d.out.ipLen).toBe(60);
  expect(d.out.ttl).toBe(64);
  expect(d.out.ipId).toBe(0x1c46);
  expect(d.out.payloadLen).toBe(0);
  expect(d.out.fragment).toBe(FRAG_NONE);
  expect(d.out.icmpType).toBe(-1);
  expect(d.out.icmpError).toBe(false);
}

describe('link layers', () => {
  it('Ethernet / IPv4 / TCP SYN', () => {
    const d = run(eth(`08 00 // ethertype IPv4\n${IPV4_TCP_SYN}`), ETH);
    expectSyn(d);
    expect(d.out.vlanCount).toBe(0);
    expect(d.out.capLen).toBe(74);
    expect(d.out.wireLen).toBe(74);
  });

  it('802.1Q QinQ (two 0x8100 tags): outer and inner ids', () => {
    const d = run(eth(`
      81 00 00 64   // 802.1Q, PCP 0, VLAN 100
      81 00 20 c8   // 802.1Q, PCP 1, VLAN 200
      08 00         // ethertype IPv4
      ${IPV4_TCP_SYN}`), ETH);
    expectSyn(d);
    expect([d.out.vlanCount, d.out.vlanOuter, d.out.vlanInner]).toEqual([2, 100, 200]);
  });

  it('802.1ad S-tag + C-tag + a third tag: count 3, outer two kept', () => {
    const d = run(eth(`
      88 a8 07 d1   // 802.1ad S-tag, VLAN 2001
      81 00 00 0a   // 802.1Q C-tag, VLAN 10
      91 00 0f ff   // pre-standard QinQ 0x9100, VLAN 4095
      08 00         // ethertype IPv4
      ${IPV4_TCP_SYN}`), ETH);
    expectSyn(d);
    expect([d.out.vlanCount, d.out.vlanOuter, d.out.vlanInner]).toEqual([3, 2001, 10]);
  });

  it('MPLS label stack, then IPv4 by version nibble', () => {
    const d = run(eth(`
      88 47         // ethertype MPLS unicast
      00 01 00 40   // label 16, TC 0, bottom-of-stack 0, TTL 64
      00 02 01 40   // label 32, TC 0, bottom-of-stack 1, TTL 64
      ${IPV4_UDP}`), ETH);
    expect(d.reason).toBe('ok');
    expect([d.out.proto, d.out.srcPort, d.out.dstPort, d.out.payloadLen]).toEqual([17, 40000, 53, 8]);
  });

  it('MPLS carrying a pseudowire control word is non_ip; a label stack without bottom is truncated_link', () => {
    expect(run(eth(`88 47  00 01 01 40 // label 16, bottom\n 00 00 00 00 // PW control word\n 00 11 22 33`), ETH).reason).toBe('non_ip');
    expect(run(eth(`88 47  00 01 00 40  00 02 00 40 // two labels, none bottom-of-stack`), ETH).reason).toBe('truncated_link');
  });

  it('PPPoE session carrying IPv4', () => {
    const d = run(eth(`
      88 64         // ethertype PPPoE session
      11 00 00 01   // version 1, type 1, code 0 (session data), session id 1
      00 26         // PPPoE payload length 38 (PPP protocol + IP)
      00 21         // PPP protocol IPv4
      ${IPV4_UDP}`), ETH);
    expect(d.reason).toBe('ok');
    expect(d.out.dstPort).toBe(53);
  });

  it('Linux SLL (113)', () => {
    const d = run(hex(`
      00 00         // packet type 0: to us
      00 01         // ARPHRD_ETHER
      00 06         // link-layer address length 6
      00 00 5e 00 53 02 00 00 // address, padded to 8
      08 00         // protocol IPv4
      ${IPV4_TCP_SYN}`), SLL);
    expectSyn(d);
  });

  it('Linux SLL2 (276) carrying IPv6', () => {
    const d = run(hex(`
      86 dd         // protocol IPv6
      00 00         // reserved
      00 00 00 02   // interface index 2
      00 01         // ARPHRD_ETHER
      04            // packet type 4: outgoing
      06            // address length 6
      00 00 5e 00 53 02 00 00 // address, padded to 8
      ${IPV6_UDP}`), SLL2);
    expect(d.reason).toBe('ok');
    expect(d.out.ipVersion).toBe(6);
    expect(d.src).toBe('2001:db8::1');
    expect(d.dst).toBe('2001:db8::2');
    expect([d.out.proto, d.out.srcPort, d.out.dstPort, d.out.ipLen, d.out.ttl, d.out.payloadLen]).toEqual([17, 5353, 5353, 56, 64, 8]);
  });

  it('BSD NULL, family in either byte order', () => {
    const le = run(hex(`02 00 00 00 // AF_INET written little-endian\n${IPV4_TCP_SYN}`), NULL);
    expectSyn(le);
    const be = run(hex(`00 00 00 02 // AF_INET written big-endian\n${IPV4_TCP_SYN}`), NULL);
    expectSyn(be);
    const v6 = run(hex(`1e 00 00 00 // AF_INET6 = 30 (macOS), little-endian\n${IPV6_UDP}`), NULL);
    expect([v6.reason, v6.out.ipVersion]).toEqual(['ok', 6]);
    const v6be = run(hex(`00 00 00 1c // AF_INET6 = 28 (FreeBSD), big-endian\n${IPV6_UDP}`), NULL);
    expect([v6be.reason, v6be.out.ipVersion]).toEqual(['ok', 6]);
    expect(run(hex(`07 00 00 00 // AF 7: not IP\n${IPV6_UDP}`), NULL).reason).toBe('non_ip');
  });

  it('LOOP (108): family in network order only', () => {
    const d = run(hex(`00 00 00 18 // AF_INET6 = 24 (OpenBSD), network order\n${IPV6_UDP}`), LOOP);
    expect([d.reason, d.out.ipVersion, d.out.srcPort]).toEqual(['ok', 6, 5353]);
    expect(run(hex(`00 00 00 02 // AF_INET\n${IPV4_TCP_SYN}`), LOOP).reason).toBe('ok');
    // 02 00 00 00 read in network order is 0x02000000, not a family
    expect(run(hex(`02 00 00 00\n${IPV4_TCP_SYN}`), LOOP).reason).toBe('non_ip');
  });

  it('raw IP: version nibble decides (101, 12, 14)', () => {
    expectSyn(run(hex(IPV4_TCP_SYN), RAW));
    expect(run(hex(IPV6_UDP), DLT_RAW).out.ipVersion).toBe(6);
    expect(run(hex(IPV6_UDP), 14).reason).toBe('ok');
    expect(run(hex(`35 00 00 14 // version 3`), RAW).reason).toBe('bad_ip_version');
  });

  it('LINKTYPE_IPV4 / LINKTYPE_IPV6 demand the matching version', () => {
    expectSyn(run(hex(IPV4_TCP_SYN), LT_IPV4));
    expect(run(hex(IPV6_UDP), LT_IPV6).reason).toBe('ok');
    expect(run(hex(IPV6_UDP), LT_IPV4).reason).toBe('bad_ip_version');
    expect(run(hex(IPV4_TCP_SYN), LT_IPV6).reason).toBe('bad_ip_version');
  });

  it('isSupportedLinktype', () => {
    for (const lt of [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]) expect(isSupportedLinktype(lt)).toBe(true);
    for (const lt of [2, 105, 127, 160, 231, 277, 65535, -1]) expect(isSupportedLinktype(lt)).toBe(false);
  });
});

describe('IPv4', () => {
  it('first fragment carries ports; later fragment has none but keeps proto and id', () => {
    const first = run(hex(`
      45 00 00 24   // total length 36
      ab cd 20 00   // id 0xabcd, MF set, offset 0
      40 11 00 00   // ttl 64, UDP
      0a 00 00 05 c0 00 02 09 // 10.0.0.5 > 192.0.2.9
      9c 40 08 01   // UDP 40000 > 2049
      05 e8 00 00   // UDP length 1512 (whole datagram)
      00 00 00 00 00 00 00 00`), RAW);
    expect([first.reason, first.out.fragment, first.out.ipId, first.out.srcPort, first.out.dstPort]).toEqual(['ok', FRAG_FIRST, 0xabcd, 40000, 2049]);
    const later = run(hex(`
      45 00 00 1c   // total length 28
      ab cd 00 03   // id 0xabcd, no MF, offset 3 (24 bytes)
      40 11 00 00   // ttl 64, UDP
      0a 00 00 05 c0 00 02 09
      00 00 00 00 00 00 00 00 // 8 bytes of the middle of the datagram`), RAW);
    expect([later.reason, later.out.fragment, later.out.ipId, later.out.proto]).toEqual(['ok', FRAG_LATER, 0xabcd, 17]);
    expect([later.out.srcPort, later.out.dstPort, later.out.payloadLen]).toEqual([0, 0, 8]);
  });

  it('options are skipped by IHL', () => {
    const d = run(hex(`
      46 00 00 28   // IHL 6 (24 bytes), total length 40
      00 01 00 00 40 11 00 00 0a 00 00 05 c0 00 02 09
      94 04 00 00   // option Router Alert (RFC 2113)
      9c 40 00 35 00 10 00 00 // UDP 40000 > 53
      00 00 00 00 00 00 00 00`), RAW);
    expect([d.reason, d.out.srcPort, d.out.dstPort, d.out.payloadLen]).toEqual(['ok', 40000, 53, 8]);
  });

  it('total length beyond the capture (snaplen) counts as ipLen; Ethernet padding is not read', () => {
    const cut = run(eth(`08 00\n${IPV4_UDP}`), ETH, { capLen: 14 + 28, wireLen: 14 + 36 });
    expect([cut.reason, cut.out.ipLen, cut.out.dstPort, cut.out.payloadLen]).toEqual(['ok', 36, 53, 8]);
    const padded = run(eth(`08 00\n${IPV4_UDP}\n 00 00 00 00 00 00 00 00 00 00 // Ethernet padding`), ETH);
    expect([padded.reason, padded.out.ipLen, padded.out.payloadLen]).toEqual(['ok', 36, 8]);
  });

  it('other protocols are port-less flows; SCTP has ports', () => {
    const gre = run(hex(`45 00 00 18 00 01 00 00 40 2f 00 00 0a 00 00 05 c0 00 02 09 // proto 47 GRE
      00 00 08 00 // GRE header`), RAW);
    expect([gre.reason, gre.out.proto, gre.out.srcPort, gre.out.dstPort, gre.out.payloadLen]).toEqual(['ok', 47, 0, 0, 4]);
    const sctp = run(hex(`45 00 00 20 00 01 00 00 40 84 00 00 0a 00 00 05 c0 00 02 09 // proto 132 SCTP
      0b 59 0b 59   // SCTP src port 2905, dst port 2905 (M3UA)
      00 00 00 00 00 00 00 00 // verification tag, checksum`), RAW);
    expect([sctp.reason, sctp.out.proto, sctp.out.srcPort, sctp.out.dstPort]).toEqual(['ok', 132, 2905, 2905]);
  });
});

describe('IPv6 extension headers', () => {
  const CHAIN_HEAD = `
    60 00 00 00
    00 38 00 40   // payload length 56, next header 0 (hop-by-hop), hop limit 64
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 // src 2001:db8::1
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 // dst 2001:db8::2
    2b 00 01 04 00 00 00 00 // hop-by-hop: next 43 (routing), length 0 (8 bytes), PadN 4
    2c 02 00 00 00 00 00 00 // routing: next 44 (fragment), length 2 (24 bytes), type 0, segments left 0
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 03 // routing address 2001:db8::3`;

  it('hop-by-hop + routing + fragment (first): ports, 32-bit id', () => {
    // IP6 2001:db8::1 > 2001:db8::2: HBH (padn) srcrt (len=2, type=0, segleft=0[|srcrt]) frag (0xdeadbeef:0|8) 5353 > 5353: UDP
    const d = run(hex(`${CHAIN_HEAD}
      11 00 00 01 de ad be ef // fragment: next 17 (UDP), offset 0, M=1, id 0xdeadbeef
      14 e9 14 e9 00 10 00 00 // UDP 5353 > 5353, length 16
      01 02 03 04 05 06 07 08`), RAW);
    expect(d.reason).toBe('ok');
    expect([d.out.proto, d.out.srcPort, d.out.dstPort, d.out.fragment, d.out.ipId]).toEqual([17, 5353, 5353, FRAG_FIRST, 0xdeadbeef]);
    expect([d.out.ipLen, d.out.payloadLen, d.out.ttl]).toEqual([96, 8, 64]);
  });

  it('later fragment: no ports, proto from the fragment header', () => {
    const d = run(hex(`${CHAIN_HEAD}
      11 00 05 c8 de ad be ef // fragment: next 17, offset 185 (1480 bytes), M=0, id 0xdeadbeef
      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 // middle of the datagram`), RAW);
    expect([d.reason, d.out.proto, d.out.srcPort, d.out.fragment, d.out.ipId, d.out.payloadLen]).toEqual(['ok', 17, 0, FRAG_LATER, 0xdeadbeef, 16]);
  });

  it('AH (length in 4-byte units + 2) then TCP; no-next-header (59) is a port-less flow', () => {
    const ah = run(hex(`
      60 00 00 00 00 2c 33 40 // payload length 44, next header 51 (AH)
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      06 04 00 00   // AH: next 6 (TCP), payload length 4 -> (4+2)*4 = 24 bytes, reserved
      00 00 01 00 00 00 00 01 // SPI, sequence
      00 00 00 00 00 00 00 00 00 00 00 00 // ICV (96 bits)
      00 16 d4 31 00 00 00 00 00 00 00 00 50 12 ff ff 00 00 00 00 // TCP 22 > 54321 SYN/ACK`), RAW);
    expect([ah.reason, ah.out.proto, ah.out.srcPort, ah.out.dstPort, ah.out.tcpFlags]).toEqual(['ok', 6, 22, 54321, 0x12]);
    const none = run(hex(`60 00 00 00 00 00 3b 40 // payload 0, next header 59
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02`), RAW);
    expect([none.reason, none.out.proto, none.out.srcPort, none.out.ipLen]).toEqual(['ok', 59, 0, 40]);
  });

  it('jumbo payload option gives ipLen; payload length 0 without it uses the captured length', () => {
    const jumbo = run(hex(`
      60 00 00 00 00 00 00 40 // payload length 0, next header 0 (hop-by-hop)
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      11 00 c2 04 00 01 00 08 // hop-by-hop: next 17, len 0; Jumbo Payload option, length 65544
      14 e9 14 e9 00 00 00 00 // UDP 5353 > 5353 (length 0: jumbo)`), RAW, { wireLen: 40 + 65544 });
    expect([jumbo.reason, jumbo.out.ipLen, jumbo.out.srcPort, jumbo.out.payloadLen]).toEqual(['ok', 40 + 65544, 5353, 65544 - 16]);
    const noJumbo = run(hex(`
      60 00 00 00 00 00 00 40 // payload length 0, next header 0 (hop-by-hop)
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      11 00 00 00 00 00 00 00 // hop-by-hop: next 17, Pad1 x6
      14 e9 14 e9 00 00 00 00 // UDP`), RAW);
    expect([noJumbo.reason, noJumbo.out.ipLen, noJumbo.out.srcPort, noJumbo.out.payloadLen]).toEqual(['ok', 56, 5353, 0]);
  });
});

describe('ICMP', () => {
  it('port unreachable quoting UDP names the flow it answers', () => {
    // IP 192.0.2.9 > 10.0.0.5: ICMP 192.0.2.9 udp port 53 unreachable, length 36
    const d = run(hex(`
      45 00 00 38   // total length 56
      00 02 00 00 40 01 00 00 // ttl 64, proto 1 (ICMP)
      c0 00 02 09   // src 192.0.2.9 (the host that answers)
      0a 00 00 05   // dst 10.0.0.5
      03 03 00 00   // type 3 unreachable, code 3 port, checksum
      00 00 00 00   // unused
      45 00 00 24 00 01 00 00 40 11 00 00 // quoted IPv4 header: UDP
      0a 00 00 05 c0 00 02 09 // quoted 10.0.0.5 > 192.0.2.9
      9c 40 00 35 00 10 00 00 // quoted UDP 40000 > 53`), RAW);
    expect(d.reason).toBe('ok');
    expect([d.out.proto, d.out.icmpType, d.out.icmpCode, d.out.icmpError]).toEqual([1, 3, 3, true]);
    expect([d.out.srcPort, d.out.dstPort, d.out.payloadLen]).toEqual([0, 0, 28]);
    expect([d.out.innerVersion, d.innerSrc, d.innerDst, d.out.innerProto]).toEqual([4, '10.0.0.5', '192.0.2.9', 17]);
    expect([d.out.innerSrcPort, d.out.innerDstPort]).toEqual([40000, 53]);
  });

  it('ICMPv6 destination unreachable quoting TCP', () => {
    // IP6 2001:db8::2 > 2001:db8::1: ICMP6, destination unreachable, unreachable port, 2001:db8::2 tcp port 443
    const d = run(hex(`
      60 00 00 00 00 44 3a 40 // payload length 68, next header 58 (ICMPv6)
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 // src 2001:db8::2
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 // dst 2001:db8::1
      01 04 00 00   // type 1 destination unreachable, code 4 port unreachable
      00 00 00 00   // unused
      60 00 00 00 00 14 06 40 // quoted IPv6: payload 20, TCP
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 // quoted src 2001:db8::1
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 // quoted dst 2001:db8::2
      c3 50 01 bb 00 00 00 01 00 00 00 00 50 02 fa f0 00 00 00 00 // quoted TCP 50000 > 443 SYN`), LT_IPV6);
    expect(d.reason).toBe('ok');
    expect([d.out.proto, d.out.icmpType, d.out.icmpCode, d.out.icmpError]).toEqual([58, 1, 4, true]);
    expect([d.out.innerVersion, d.innerSrc, d.innerDst, d.out.innerProto]).toEqual([6, '2001:db8::1', '2001:db8::2', 6]);
    expect([d.out.innerSrcPort, d.out.innerDstPort]).toEqual([50000, 443]);
  });

  it('echo request and reply: identifier in both ports', () => {
    const req = run(hex(`45 00 00 1c 00 03 00 00 40 01 00 00 0a 00 00 05 c0 00 02 09
      08 00 00 00   // type 8 echo request, code 0
      12 34 00 01   // identifier 0x1234, sequence 1`), RAW);
    expect([req.reason, req.out.icmpType, req.out.srcPort, req.out.dstPort, req.out.icmpError]).toEqual(['ok', 8, 0x1234, 0x1234, false]);
    const reply = run(hex(`60 00 00 00 00 08 3a 40
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
      81 00 00 00   // ICMPv6 type 129 echo reply
      ab cd 00 01   // identifier 0xabcd`), RAW);
    expect([reply.reason, reply.out.icmpType, reply.out.srcPort, reply.out.dstPort]).toEqual(['ok', 129, 0xabcd, 0xabcd]);
  });

  it('time exceeded quoting an echo request: the identifier names the echo flow', () => {
    const d = run(hex(`45 00 00 38 00 04 00 00 fe 01 00 00 c6 33 64 01 0a 00 00 05 // router 198.51.100.1 > 10.0.0.5
      0b 00 00 00 00 00 00 00 // type 11 time exceeded, code 0 (TTL)
      45 00 00 5c 00 03 00 00 01 01 00 00 0a 00 00 05 08 08 08 08 // quoted: 10.0.0.5 > 8.8.8.8 ICMP, ttl 1
      08 00 00 00 00 2a 00 07 // quoted echo request id 42 seq 7`), RAW);
    expect([d.out.icmpError, d.out.innerProto, d.innerDst, d.out.innerSrcPort, d.out.innerDstPort]).toEqual([true, 1, '8.8.8.8', 42, 42]);
  });

  it('a quote too short for addresses is an ordinary ICMP flow; other types have no ports', () => {
    const short = run(hex(`45 00 00 24 00 04 00 00 40 01 00 00 c0 00 02 09 0a 00 00 05
      03 01 00 00 00 00 00 00 // host unreachable
      45 00 00 24 00 01 00 00 // only 8 bytes of the quoted header`), RAW);
    expect([short.reason, short.out.icmpType, short.out.icmpError, short.out.innerVersion]).toEqual(['ok', 3, false, 0]);
    const ns = run(hex(`60 00 00 00 00 08 3a ff
      fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 01
      ff 02 00 00 00 00 00 00 00 00 00 01 ff 00 00 02
      87 00 00 00 00 00 00 00 // ICMPv6 135 neighbour solicitation`), RAW);
    expect([ns.reason, ns.out.icmpType, ns.out.srcPort, ns.out.dstPort, ns.out.icmpError]).toEqual(['ok', 135, 0, 0, false]);
  });
});

describe('TCP edge cases', () => {
  it('all eight flag bits', () => {
    const d = run(hex(`45 00 00 28 00 01 00 00 40 06 00 00 0a 00 00 02 0a 80 00 02
      18 74 00 50 00 00 00 00 00 00 00 00 50 ff 00 00 00 00 00 00 // 6260 > 80 flags FSRPAUEC`), RAW);
    expect([d.reason, d.out.tcpFlags]).toEqual(['ok', 0xff]);
  });

  it('a header cut by the snaplen keeps ports and flags; the same bytes captured whole are bad_tcp_header_len', () => {
    const bytes = eth(`08 00\n${IPV4_TCP_SYN}`);
    const cut = run(bytes, ETH, { capLen: 54, wireLen: 74 });
    expect([cut.reason, cut.out.srcPort, cut.out.tcpFlags, cut.out.ipLen]).toEqual(['ok', 51514, 0x02, 60]);
    expect(run(bytes, ETH, { capLen: 54, wireLen: 54 }).reason).toBe('bad_tcp_header_len');
    expect(run(bytes, ETH, { capLen: 14 + 20 + 13, wireLen: 74 }).reason).toBe('truncated_transport');
  });
});

describe('not-flowed reasons', () => {
  const IPV4_HDR_TCP = `0a 00 00 05 c0 00 02 09 // 10.0.0.5 > 192.0.2.9`;
  const cases: [string, Buffer, number][] = [
    ['unsupported_linktype', hex(IPV4_TCP_SYN), 160],
    ['truncated_link', hex(`00 00 5e 00 53 01 00 00 5e 00 53 02 08 // 13 bytes of Ethernet`), ETH],
    ['truncated_link', eth(`81 00 00 // VLAN tag cut`), ETH],
    ['truncated_link', hex(`00 00 00 00 00 01 00 06 00 00 5e 00 53 02 00 // 15 bytes of SLL`), SLL],
    ['truncated_link', hex(`02 00 00 // 3 bytes of NULL`), NULL],
    ['non_ip', eth(`08 06 00 01 08 00 06 04 00 01 // ARP request`), ETH],
    ['non_ip', eth(`00 26 aa aa 03 00 00 0c 20 00 // 802.3 length 38, LLC/SNAP (CDP)`), ETH],
    ['truncated_ip', eth(`08 00 45 00 00 3c 1c 46 40 00 40 06 00 00 0a 00 00 05 c0 00 02 // 19 bytes of IPv4`), ETH],
    ['truncated_ip', eth(`86 dd 60 00 00 00 00 10 11 40 // 8 bytes of IPv6`), ETH],
    ['truncated_ip', eth(`08 00 // ethertype IPv4, nothing after`), ETH],
    ['bad_ip_version', eth(`08 00\n${IPV6_UDP}`), ETH],
    ['bad_ip_version', eth(`86 dd\n${IPV4_TCP_SYN}`), ETH],
    ['bad_ip_header_len', hex(`44 00 00 3c 1c 46 40 00 40 06 00 00 ${IPV4_HDR_TCP}`), RAW],
    ['bad_ip_header_len', hex(`4f 00 00 3c 1c 46 40 00 40 06 00 00 ${IPV4_HDR_TCP}\n 00 00 00 00 // IHL 15 = 60 bytes, 24 captured`), RAW],
    ['bad_ip_total_len', hex(`45 00 00 13 1c 46 40 00 40 06 00 00 ${IPV4_HDR_TCP} // total length 19`), RAW],
    ['bad_ip_total_len', hex(`45 00 00 00 1c 46 40 00 40 06 00 00 ${IPV4_HDR_TCP} // total length 0 (TSO?)`), RAW],
    ['truncated_ipv6_ext', hex(`60 00 00 00 00 10 00 40
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      11 00 01 // hop-by-hop header cut after 3 bytes`), RAW],
    ['truncated_ipv6_ext', hex(`60 00 00 00 00 10 2b 40
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      11 04 00 00 00 00 00 00 // routing header claiming 40 bytes, 8 there`), RAW],
    ['truncated_transport', hex(`45 00 00 28 00 01 00 00 40 06 00 00 ${IPV4_HDR_TCP}\n 18 74 00 50 00 00 00 00 00 00 // 10 bytes of TCP`), RAW],
    ['truncated_transport', hex(`45 00 00 1c 00 01 00 00 40 11 00 00 ${IPV4_HDR_TCP}\n 9c 40 00 35 00 10 // 6 bytes of UDP`), RAW],
    ['truncated_transport', hex(`45 00 00 1c 00 01 00 00 40 01 00 00 ${IPV4_HDR_TCP}\n 08 00 00 // 3 bytes of ICMP`), RAW],
    ['truncated_transport', hex(`45 00 00 1c 00 01 00 00 40 01 00 00 ${IPV4_HDR_TCP}\n 08 00 00 00 12 // echo without its identifier`), RAW],
    ['bad_tcp_header_len', hex(`45 00 00 28 00 01 00 00 40 06 00 00 ${IPV4_HDR_TCP}
      18 74 00 50 00 00 00 00 00 00 00 00 40 02 00 00 00 00 00 00 // data offset 4 (16 bytes)`), RAW],
    ['bad_tcp_header_len', hex(`45 00 00 28 00 01 00 00 40 06 00 00 ${IPV4_HDR_TCP}
      18 74 00 50 00 00 00 00 00 00 00 00 70 02 00 00 00 00 00 00 // data offset 7 (28 bytes) > 20 in the datagram`), RAW],
  ];
  for (const [reason, bytes, linktype] of cases) {
    it(`${reason}: ${bytes.toString('hex').slice(0, 40)}…`, () => {
      expect(run(bytes, linktype).reason).toBe(reason);
    });
  }

  it('ipv6_ext_chain_too_long: more than the header limit', () => {
    const n = MAX_IPV6_EXT_HEADERS + 1;
    const opts = Array.from({ length: n }, (_, i) => (i === n - 1 ? '11' : '3c') + ' 00 01 04 00 00 00 00 // destination options, PadN').join('\n');
    const payload = n * 8 + 8;
    const bytes = hex(`60 00 00 00 ${payload.toString(16).padStart(4, '0')} 3c 40
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      ${opts}
      14 e9 14 e9 00 08 00 00 // UDP`);
    expect(run(bytes, RAW).reason).toBe('ipv6_ext_chain_too_long');
    // One header fewer is fine.
    const ok = hex(`60 00 00 00 ${(payload - 8).toString(16).padStart(4, '0')} 3c 40
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02
      ${opts.split('\n').slice(1).join('\n')}
      14 e9 14 e9 00 08 00 00`);
    expect(run(ok, RAW).out.srcPort).toBe(5353);
  });

  it('every reason but fragment_without_first (the flow table decides that) is covered above', () => {
    const covered = new Set(cases.map((c) => c[0]).concat(['ok', 'ipv6_ext_chain_too_long']));
    const missing = NOT_FLOWED_REASONS.filter((r, i) => i !== R_FRAGMENT_WITHOUT_FIRST && !covered.has(r));
    expect(missing).toEqual([]);
  });
});

describe('reuse of the output struct', () => {
  it('no field leaks from the previous packet', () => {
    const out = new DecodedPacket();
    const icmpErr = hex(`45 00 00 38 00 02 00 00 40 01 00 00 c0 00 02 09 0a 00 00 05 03 03 00 00 00 00 00 00
      45 00 00 24 00 01 20 00 40 11 00 00 0a 00 00 05 c0 00 02 09 9c 40 00 35 00 10 00 00`);
    const qinq = eth(`81 00 00 64 81 00 00 c8 08 00\n${IPV4_TCP_SYN}`);
    run(qinq, ETH, { out });
    run(icmpErr, RAW, { out });
    expect(out.icmpError).toBe(true);
    expect(out.vlanCount).toBe(0);
    expect(out.tcpFlags).toBe(0);
    const later = hex(`45 00 00 1c ab cd 00 03 40 11 00 00 0a 00 00 05 c0 00 02 09 00 00 00 00 00 00 00 00`);
    run(later, RAW, { out });
    expect([out.icmpType, out.icmpCode, out.icmpError, out.innerVersion, out.innerProto, out.innerSrcPort]).toEqual([-1, -1, false, 0, 0, 0]);
    expect(Array.from(out.innerSrc)).toEqual([0, 0, 0, 0]);
    run(qinq, ETH, { out });
    const arp = run(eth(`08 06 00 01 08 00 06 04 00 01`), ETH, { out });
    expect(arp.reason).toBe('non_ip');
    expect([out.ipVersion, out.proto, out.srcPort, out.dstPort, out.tcpFlags, out.ipLen, out.ttl, out.ipId, out.fragment, out.payloadLen]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, FRAG_NONE, 0]);
    expect([out.vlanCount, out.vlanOuter, out.vlanInner]).toEqual([0, 0, 0]);
    expect(Array.from(out.src).concat(Array.from(out.dst))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});
