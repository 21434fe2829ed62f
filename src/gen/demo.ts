/**
 * The bundled demo capture: `node dist/gen/demo.js OUT.pcap` writes captures/demo.pcap.
 *
 * Same bytes on every run (seeded PRNG, fixed start time, stable sort), so a test can
 * regenerate it and compare with the committed file. About ten minutes of packet time on
 * a local network 10.1.0.0/16; every remote host is in the documentation ranges
 * 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (RFC 5737) and, for the bit of IPv6,
 * 2001:db8::/32 (RFC 3849). What it holds and which alerts it must raise:
 * captures/README.md.
 *
 * This is set-up code writing a few thousand packets: it builds each frame into its own
 * Buffer and sorts them by time, which the 2M-packet bench generator must not do.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TCP_ACK as ACK, TCP_FIN as FIN, TCP_PSH as PSH, TCP_RST as RST, TCP_SYN as SYN } from '../decode/packet.js';
import {
  FrameSpec,
  MAX_FRAME_LEN,
  PcapWriter,
  icmpEcho4Frame,
  icmpError4Frame,
  IP_OFFSET_IN_FRAME,
  ipv4,
  tcp4Frame,
  tcp6Frame,
  udp4Frame,
  udp6Frame,
} from './pcap-writer.js';
import { Prng } from './prng.js';

/** 2024-03-04T09:00:00Z: any fixed instant works; fixed so the bytes never change. */
const START_MICROS = 1_709_542_800 * 1e6;
const DURATION_SECONDS = 600;
const SEED = 0x7a9a0d17;


/** TCP payload per segment: 1500 MTU - 20 IP - 20 TCP (no timestamp option), the MSS our SYNs announce. */
const MSS = 1460;

// ---- who is who (also in captures/README.md) ----
export const DEMO_HOSTS = {
  resolver: '10.1.0.53',
  scanTarget: '10.1.0.10',
  backdoorHost: '10.1.0.31',
  udpProber: '10.1.0.77',
  udpTarget: '10.1.0.20',
  portScanner: '203.0.113.50',
  addressScanner: '198.51.100.23',
  backdoorPeer: '203.0.113.66',
  webHttp: '192.0.2.80',
  webHttps: ['192.0.2.43', '198.51.100.10'],
  sshServer: '192.0.2.22',
  pingTarget: '192.0.2.1',
} as const;
export const BACKDOOR_PORT = 31337;
export const ADDRESS_SCAN_PORT = 445;
export const ADDRESS_SCAN_HOSTS = 120;
export const PORT_SCAN_PORTS = 200;
export const PORT_SCAN_OPEN = [22, 80] as const;
export const UDP_PROBES = 40;

interface Event {
  t: number;
  n: number;
  frame: Buffer;
}

/** Collects frames, then writes them sorted by time (ties keep creation order). */
class Timeline {
  readonly events: Event[] = [];
  private readonly scratch = Buffer.alloc(MAX_FRAME_LEN);
  private readonly ipIds = new Map<number, number>();
  readonly spec = new FrameSpec();

  constructor(readonly rng: Prng) {}

  /** IPv4 identification: a per-host counter, as older stacks and Windows do. */
  nextIpId(host: number): number {
    const id = ((this.ipIds.get(host) ?? this.rng.int(1, 0xffff)) + 1) & 0xffff;
    this.ipIds.set(host, id);
    return id;
  }

  emit(t: number, build: (buf: Buffer, off: number, s: FrameSpec) => number): Buffer {
    const len = build(this.scratch, 0, this.spec);
    const frame = Buffer.from(this.scratch.subarray(0, len));
    this.events.push({ t: Math.round(t), n: this.events.length, frame });
    return frame;
  }

  write(file: string): void {
    this.events.sort((a, b) => a.t - b.t || a.n - b.n);
    const w = PcapWriter.create(file, 1 << 20);
    for (const e of this.events) w.writeFrame(e.t, e.frame);
    w.close();
  }
}

function isLocal(ip: number): boolean {
  return ip >>> 16 === ((10 << 8) | 1);
}

/**
 * One TCP connection: tracks both sides' sequence numbers so every segment carries the
 * right seq/ack, and SYN/FIN consume one sequence number each (RFC 9293 §3.4).
 */
class TcpConn {
  private cSeq: number;
  private sSeq: number;
  constructor(
    private readonly tl: Timeline,
    private readonly client: number,
    private readonly clientPort: number,
    private readonly server: number,
    private readonly serverPort: number,
  ) {
    this.cSeq = tl.rng.nextU32();
    this.sSeq = tl.rng.nextU32();
  }

  /** Sends one segment from the client (`fromClient`) or the server. */
  send(t: number, fromClient: boolean, flags: number, payload: Buffer | null = null, payloadOffset = 0, payloadLen = 0): void {
    const s = this.tl.spec;
    const src = fromClient ? this.client : this.server;
    s.src = src;
    s.dst = fromClient ? this.server : this.client;
    s.srcPort = fromClient ? this.clientPort : this.serverPort;
    s.dstPort = fromClient ? this.serverPort : this.clientPort;
    s.seq = fromClient ? this.cSeq : this.sSeq;
    s.ack = flags & ACK ? (fromClient ? this.sSeq : this.cSeq) : 0;
    s.flags = flags;
    s.window = flags & SYN ? 64240 : 502;
    s.ttl = isLocal(src) ? 64 : 52;
    s.ipId = this.tl.nextIpId(src);
    s.payloadSrc = payload;
    s.payloadFrom = payloadOffset;
    s.payloadLen = payload === null ? 0 : payloadLen || payload.length;
    this.tl.emit(t, tcp4Frame);
    const used = s.payloadLen + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    if (fromClient) this.cSeq = (this.cSeq + used) >>> 0;
    else this.sSeq = (this.sSeq + used) >>> 0;
  }

  handshake(t: number, rttMicros: number): number {
    this.send(t, true, SYN);
    this.send(t + rttMicros, false, SYN | ACK);
    this.send(t + rttMicros + 80, true, ACK);
    return t + rttMicros + 80;
  }

  /**
   * Sends `data` in MSS-sized segments from one side, the other side ACKing every second
   * segment (delayed ACK, RFC 9293 §3.8.6.3) and the last one; returns the time after.
   */
  transfer(t: number, fromClient: boolean, data: Buffer, rttMicros: number, gapMicros: number): number {
    let segs = 0;
    for (let off = 0; off < data.length; off += MSS) {
      const len = Math.min(MSS, data.length - off);
      const last = off + len >= data.length;
      this.send(t, fromClient, ACK | (last ? PSH : 0), data, off, len);
      segs++;
      if (last || segs % 2 === 0) this.send(t + rttMicros / 2, !fromClient, ACK);
      t += gapMicros;
    }
    return t + rttMicros / 2;
  }

  /** Client FIN, server FIN, client's last ACK. */
  close(t: number, rttMicros: number, clientFirst = true): number {
    this.send(t, clientFirst, FIN | ACK);
    this.send(t + rttMicros, !clientFirst, FIN | ACK);
    this.send(t + rttMicros + 60, clientFirst, ACK);
    return t + rttMicros + 60;
  }
}

// ---- payloads (set-up only) ----

function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function randomBytes(rng: Prng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.nextU32() & 0xff;
  return b;
}

/** TLS 1.2 application_data records (type 23, version 0x0303, RFC 5246 §6.2.1) of random bytes. */
function tlsRecords(rng: Prng, total: number): Buffer {
  const parts: Buffer[] = [];
  let left = Math.max(total, 40);
  while (left > 0) {
    const body = Math.min(left - 5 > 16 ? left - 5 : 16, 4096);
    const h = Buffer.from([23, 3, 3, body >> 8, body & 0xff]);
    parts.push(h, randomBytes(rng, body));
    left -= body + 5;
  }
  return Buffer.concat(parts);
}

function dnsName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.split('.')) parts.push(Buffer.from([label.length]), ascii(label));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** DNS query for an A record (RFC 1035 §4.1), recursion desired. */
function dnsQuery(id: number, name: string): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2); // RD
  h.writeUInt16BE(1, 4); // QDCOUNT
  return Buffer.concat([h, dnsName(name), Buffer.from([0, 1, 0, 1])]); // QTYPE A, QCLASS IN
}

/** The answer to `dnsQuery`: one A record, name by pointer to offset 12. */
function dnsAnswer(id: number, name: string, addr: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x8180, 2); // QR, RD, RA, NOERROR
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(1, 6); // ANCOUNT
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(1, 2);
  rr.writeUInt16BE(1, 4);
  rr.writeUInt32BE(300, 6); // TTL seconds
  rr.writeUInt16BE(4, 10);
  rr.writeUInt32BE(addr, 12);
  return Buffer.concat([h, dnsName(name), Buffer.from([0, 1, 0, 1]), rr]);
}

const HTML_LINE = '<p>tapaudit demo page: nothing to see here, just bytes that look like a web page.</p>\n';

function httpResponse(bodyLen: number): Buffer {
  let body = '<html><body>\n';
  while (body.length < bodyLen - 15) body += HTML_LINE;
  body = (body.slice(0, bodyLen - 15) + '</body></html>\n').slice(0, bodyLen);
  return ascii(`HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

/** SSH binary packet (RFC 4253 §6) with no MAC: length, padding length, payload, padding. */
function sshPacket(rng: Prng, payload: Buffer): Buffer {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const h = Buffer.alloc(5);
  h.writeUInt32BE(1 + payload.length + pad, 0);
  h[4] = pad;
  return Buffer.concat([h, payload, randomBytes(rng, pad)]);
}

function sshKexinit(rng: Prng): Buffer {
  const lists = [
    'curve25519-sha256',
    'ssh-ed25519',
    'chacha20-poly1305@openssh.com',
    'chacha20-poly1305@openssh.com',
    'hmac-sha2-256',
    'hmac-sha2-256',
    'none',
    'none',
    '',
    '',
  ];
  const parts: Buffer[] = [Buffer.from([20]), randomBytes(rng, 16)];
  for (const l of lists) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(l.length, 0);
    parts.push(len, ascii(l));
  }
  parts.push(Buffer.from([0, 0, 0, 0, 0]));
  return sshPacket(rng, Buffer.concat(parts));
}

// ---- the scenes ----

const T = (seconds: number): number => START_MICROS + seconds * 1e6;

function webSession(tl: Timeline, t: number, client: number, names: { name: string; addr: number; port: number }): void {
  const rng = tl.rng;
  const resolver = ipv4(DEMO_HOSTS.resolver);
  // DNS lookup first, as a browser does.
  const id = rng.int(1, 0xffff);
  const dnsPort = rng.int(32768, 60999);
  const s = tl.spec;
  s.src = client;
  s.dst = resolver;
  s.srcPort = dnsPort;
  s.dstPort = 53;
  s.ttl = 64;
  s.ipId = tl.nextIpId(client);
  s.payloadSrc = dnsQuery(id, names.name);
  s.payloadFrom = 0;
  s.payloadLen = s.payloadSrc.length;
  tl.emit(t, udp4Frame);
  const answerAt = t + rng.int(300, 25_000);
  s.src = resolver;
  s.dst = client;
  s.srcPort = 53;
  s.dstPort = dnsPort;
  s.ipId = tl.nextIpId(resolver);
  s.payloadSrc = dnsAnswer(id, names.name, names.addr);
  s.payloadLen = s.payloadSrc.length;
  tl.emit(answerAt, udp4Frame);

  const rtt = rng.int(15_000, 45_000);
  const conn = new TcpConn(tl, client, rng.int(32768, 60999), names.addr, names.port);
  let now = conn.handshake(answerAt + 200, rtt);
  if (names.port === 80) {
    const req = ascii(
      `GET /page/${rng.int(1, 999)} HTTP/1.1\r\nHost: ${names.name}\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n`,
    );
    now = conn.transfer(now + 100, true, req, rtt, 50);
    now = conn.transfer(now + rtt / 2, false, httpResponse(rng.int(300, 9000)), rtt, 120);
  } else {
    now = conn.transfer(now + 100, true, tlsRecords(rng, rng.int(300, 700)), rtt, 50);
    now = conn.transfer(now + rtt / 2, false, tlsRecords(rng, rng.int(2000, 9000)), rtt, 120);
    now = conn.transfer(now + 5000, true, tlsRecords(rng, rng.int(100, 400)), rtt, 50);
  }
  conn.close(now + rng.int(50_000, 3_000_000), rtt, rng.chance(0.5));
}

function sshSession(tl: Timeline): void {
  const rng = tl.rng;
  const client = ipv4('10.1.1.15');
  const rtt = 28_000;
  const conn = new TcpConn(tl, client, 50022, ipv4(DEMO_HOSTS.sshServer), 22);
  let now = conn.handshake(T(60), rtt);
  now = conn.transfer(now + rtt / 2, false, ascii('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'), rtt, 0);
  now = conn.transfer(now + 200, true, ascii('SSH-2.0-OpenSSH_9.6\r\n'), rtt, 0);
  now = conn.transfer(now + 200, true, sshKexinit(rng), rtt, 0);
  now = conn.transfer(now + 200, false, sshKexinit(rng), rtt, 0);
  // NEWKEYS (message 21) both ways; after it tshark treats the rest as encrypted.
  now = conn.transfer(now + 200, true, sshPacket(rng, Buffer.from([21])), rtt, 0);
  now = conn.transfer(now + 200, false, sshPacket(rng, Buffer.from([21])), rtt, 0);
  // Two minutes of interactive typing: small packets each way, a larger burst now and then.
  const end = T(190);
  while (now < end) {
    now = conn.transfer(now + rng.int(200_000, 2_500_000), true, randomBytes(rng, 36), rtt, 0);
    // Output as whole encrypted SSH packets, each in its own segment: a packet split at
    // an MSS boundary leaves a tail tshark's SSH dissector reports as malformed.
    let out = rng.chance(0.15) ? 16 * rng.int(40, 250) : 36 + 16 * rng.int(0, 4);
    now += 1000;
    while (out > 0) {
      const n = Math.min(out, 1024);
      now = conn.transfer(now, false, randomBytes(rng, n), rtt, 200);
      out -= n;
    }
  }
  conn.close(now + 500_000, rtt, true);
}

function pings(tl: Timeline, at: number, from: string, to: string, count: number): void {
  const s = tl.spec;
  const src = ipv4(from);
  const dst = ipv4(to);
  const id = tl.rng.int(1, 0xffff);
  // Linux ping: 56 data bytes (IP length 84, not the 92 of Nachi's probes), a timestamp-ish pattern.
  const data = Buffer.alloc(56);
  for (let i = 0; i < 56; i++) data[i] = (i + 0x10) & 0xff;
  for (let i = 0; i < count; i++) {
    const t = at + i * 1e6;
    s.src = src;
    s.dst = dst;
    s.ttl = 64;
    s.icmpType = 8;
    s.icmpCode = 0;
    s.icmpId = id;
    s.icmpSeq = i + 1;
    s.payloadSrc = data;
    s.payloadFrom = 0;
    s.payloadLen = 56;
    s.ipId = tl.nextIpId(src);
    tl.emit(t, icmpEcho4Frame);
    s.src = dst;
    s.dst = src;
    s.ttl = 54;
    s.icmpType = 0;
    s.ipId = tl.nextIpId(dst);
    tl.emit(t + tl.rng.int(9_000, 30_000), icmpEcho4Frame);
  }
}

/** 203.0.113.50 -> 10.1.0.10: SYN to ports 1..200 in ~20 s; RST/ACK from closed ports, SYN/ACK from 22 and 80 (then the scanner's RST). */
function portScan(tl: Timeline): void {
  const rng = tl.rng;
  const scanner = ipv4(DEMO_HOSTS.portScanner);
  const target = ipv4(DEMO_HOSTS.scanTarget);
  const ports: number[] = [];
  for (let p = 1; p <= PORT_SCAN_PORTS; p++) ports.push(p);
  for (let i = ports.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [ports[i], ports[j]] = [ports[j]!, ports[i]!];
  }
  const s = tl.spec;
  const srcPort = 61234; // nmap -sS keeps one source port for the whole scan
  let t = T(120);
  for (const port of ports) {
    const seq = rng.nextU32();
    s.src = scanner;
    s.dst = target;
    s.srcPort = srcPort;
    s.dstPort = port;
    s.seq = seq;
    s.ack = 0;
    s.flags = SYN;
    s.window = 1024;
    s.ttl = 41;
    s.ipId = rng.int(1, 0xffff);
    s.payloadSrc = null;
    s.payloadLen = 0;
    tl.emit(t, tcp4Frame);
    const reply = t + rng.int(300, 900) + 30_000;
    const open = (PORT_SCAN_OPEN as readonly number[]).includes(port);
    s.src = target;
    s.dst = scanner;
    s.srcPort = port;
    s.dstPort = srcPort;
    s.ttl = 64;
    s.ipId = tl.nextIpId(target);
    s.ack = (seq + 1) >>> 0;
    if (open) {
      s.seq = rng.nextU32();
      s.flags = SYN | ACK;
      s.window = 64240;
      tl.emit(reply, tcp4Frame);
      s.src = scanner;
      s.dst = target;
      s.srcPort = srcPort;
      s.dstPort = port;
      s.seq = (seq + 1) >>> 0;
      s.ack = 0;
      s.flags = RST;
      s.window = 0;
      s.ttl = 41;
      s.ipId = rng.int(1, 0xffff);
      tl.emit(reply + 30_000, tcp4Frame);
    } else {
      s.seq = 0;
      s.flags = RST | ACK;
      s.window = 0;
      tl.emit(reply, tcp4Frame);
    }
    t += 100_000; // 200 ports in 20 s
  }
}

/** 198.51.100.23 -> 10.1.0.1..120 tcp/445 SYN, same source port, no replies (worm-like). */
function addressScan(tl: Timeline): void {
  const s = tl.spec;
  const scanner = ipv4(DEMO_HOSTS.addressScanner);
  const base = ipv4('10.1.0.0');
  let t = T(200);
  for (let h = 1; h <= ADDRESS_SCAN_HOSTS; h++) {
    s.src = scanner;
    s.dst = base + h;
    s.srcPort = 4899;
    s.dstPort = ADDRESS_SCAN_PORT;
    s.seq = tl.rng.nextU32();
    s.ack = 0;
    s.flags = SYN;
    s.window = 65535;
    s.ttl = 113;
    s.ipId = tl.nextIpId(scanner);
    s.payloadSrc = null;
    s.payloadLen = 0;
    tl.emit(t, tcp4Frame);
    t += 300_000;
  }
}

/** 203.0.113.66 -> 10.1.0.31:31337: a bind shell (nc -l -p 31337 -e /bin/sh) used for a few minutes. */
function backdoor(tl: Timeline): void {
  const rng = tl.rng;
  const rtt = 62_000;
  const conn = new TcpConn(tl, ipv4(DEMO_HOSTS.backdoorPeer), 51734, ipv4(DEMO_HOSTS.backdoorHost), BACKDOOR_PORT);
  let now = conn.handshake(T(300), rtt);
  let passwd = '';
  for (let i = 0; passwd.length < 1800; i++) passwd += `user${i}:x:${1000 + i}:${1000 + i}:Demo User ${i}:/home/user${i}:/bin/bash\n`;
  let ps = 'USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n';
  for (let i = 0; ps.length < 3200; i++) ps += `root      ${String(100 + i * 7).padStart(6)}  0.0  0.1  12345  6789 ?        Ss   08:00   0:00 /usr/sbin/daemon-${i}\n`;
  let script = '#!/bin/sh\n';
  for (let i = 0; script.length < 2600; i++) script += `echo step ${i} >> /tmp/.x.log; sleep 1\n`;
  const steps: [string, string][] = [
    ['id\n', 'uid=33(www-data) gid=33(www-data) groups=33(www-data)\n'],
    ['uname -a\n', 'Linux web01 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 x86_64 GNU/Linux\n'],
    ['cat /etc/passwd\n', passwd],
    ['ps aux\n', ps],
    [`cat > /tmp/.x.sh <<'EOF'\n${script}EOF\n`, ''],
    ['chmod +x /tmp/.x.sh; nohup /tmp/.x.sh >/dev/null 2>&1 &\n', ''],
    ['ls -la /tmp\n', 'total 12\ndrwxrwxrwt  3 root     root     4096 Mar  4 09:05 .\n-rwxr-xr-x  1 www-data www-data 2611 Mar  4 09:05 .x.sh\n'],
    ['exit\n', ''],
  ];
  for (const [cmd, out] of steps) {
    now = conn.transfer(now + rng.int(2_000_000, 9_000_000), true, ascii(cmd), rtt, 200);
    if (out) now = conn.transfer(now + 3000, false, ascii(out), rtt, 150);
  }
  conn.close(now + 1000, rtt, true);
}

/** 10.1.0.77 -> 10.1.0.20: UDP to 40 closed ports, each answered with ICMP port unreachable quoting the probe. */
function udpProbes(tl: Timeline): void {
  const s = tl.spec;
  const prober = ipv4(DEMO_HOSTS.udpProber);
  const target = ipv4(DEMO_HOSTS.udpTarget);
  let t = T(450);
  for (let i = 0; i < UDP_PROBES; i++) {
    s.src = prober;
    s.dst = target;
    s.srcPort = 45678;
    s.dstPort = 1000 + i * 7;
    s.ttl = 64;
    s.ipId = tl.nextIpId(prober);
    s.payloadSrc = null;
    s.payloadByte = 0;
    s.payloadLen = 0; // nmap -sU sends empty datagrams to ports it has no payload for
    const probe = tl.emit(t, udp4Frame);
    s.src = target;
    s.dst = prober;
    s.icmpType = 3;
    s.icmpCode = 3;
    s.ipId = tl.nextIpId(target);
    tl.emit(t + tl.rng.int(100, 400), (buf, off, spec) => icmpError4Frame(buf, off, spec, probe, IP_OFFSET_IN_FRAME));
    t += 250_000;
  }
}

/** A little IPv6 (documentation prefix 2001:db8::/32): one AAAA-less DNS exchange and one HTTPS session. */
function ipv6Traffic(tl: Timeline): void {
  const rng = tl.rng;
  const s = tl.spec;
  const client = [0x20010db8, 0x00010000, 0, 0x10];
  const resolver = [0x20010db8, 0x00010000, 0, 0x53];
  const server = [0x20010db8, 0x00430000, 0, 0x443];
  const set = (a: number[], b: number[]): void => {
    for (let i = 0; i < 4; i++) {
      s.src6[i] = a[i]!;
      s.dst6[i] = b[i]!;
    }
  };
  const t0 = T(500);
  set(client, resolver);
  s.srcPort = 41000;
  s.dstPort = 53;
  s.ttl = 64;
  s.payloadSrc = dnsQuery(0x4242, 'www.example.com');
  s.payloadFrom = 0;
  s.payloadLen = s.payloadSrc.length;
  tl.emit(t0, udp6Frame);
  set(resolver, client);
  s.srcPort = 53;
  s.dstPort = 41000;
  s.payloadSrc = dnsAnswer(0x4242, 'www.example.com', ipv4('192.0.2.43'));
  s.payloadLen = s.payloadSrc.length;
  tl.emit(t0 + 900, udp6Frame);

  // HTTPS over v6: handshake, a request, a response, FIN both ways.
  let cSeq = rng.nextU32();
  let sSeq = rng.nextU32();
  let t = t0 + 5000;
  const seg = (fromClient: boolean, flags: number, data: Buffer | null): void => {
    if (fromClient) set(client, server);
    else set(server, client);
    s.srcPort = fromClient ? 52000 : 443;
    s.dstPort = fromClient ? 443 : 52000;
    s.seq = fromClient ? cSeq : sSeq;
    s.ack = flags & ACK ? (fromClient ? sSeq : cSeq) : 0;
    s.flags = flags;
    s.window = 502;
    s.ttl = fromClient ? 64 : 55;
    s.payloadSrc = data;
    s.payloadFrom = 0;
    s.payloadLen = data ? data.length : 0;
    tl.emit(t, tcp6Frame);
    const used = s.payloadLen + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    if (fromClient) cSeq = (cSeq + used) >>> 0;
    else sSeq = (sSeq + used) >>> 0;
    t += 20_000;
  };
  seg(true, SYN, null);
  seg(false, SYN | ACK, null);
  seg(true, ACK, null);
  seg(true, PSH | ACK, tlsRecords(rng, 400));
  seg(false, PSH | ACK, tlsRecords(rng, 1200));
  seg(true, ACK, null);
  seg(true, FIN | ACK, null);
  seg(false, FIN | ACK, null);
  seg(true, ACK, null);
}

/** Builds every scene; returns the timeline (exported for tests that want the counts). */
export function buildDemo(): Timeline {
  const tl = new Timeline(new Prng(SEED));
  const rng = tl.rng;
  const servers = [
    { name: 'www.example.com', addr: ipv4(DEMO_HOSTS.webHttp), port: 80 },
    { name: 'cdn.example.net', addr: ipv4(DEMO_HOSTS.webHttps[0]), port: 443 },
    { name: 'api.example.org', addr: ipv4(DEMO_HOSTS.webHttps[1]), port: 443 },
  ];
  const clients = 30;
  for (let i = 0; i < 45; i++) {
    // The first and last sessions pin the capture to its full ten minutes.
    const at = i === 0 ? 0.5 : i === 1 ? DURATION_SECONDS - 8 : rng.int(2, DURATION_SECONDS - 20);
    const start = T(at) + rng.int(0, 999_999);
    const client = ipv4('10.1.1.10') + rng.int(0, clients - 1);
    webSession(tl, start, client, servers[rng.int(0, servers.length - 1)]!);
  }
  sshSession(tl);
  pings(tl, T(30), '10.1.1.12', DEMO_HOSTS.pingTarget, 4);
  pings(tl, T(410), '10.1.1.21', '198.51.100.1', 3);
  portScan(tl);
  addressScan(tl);
  backdoor(tl);
  udpProbes(tl);
  ipv6Traffic(tl);
  return tl;
}

export function writeDemo(file: string): number {
  const tl = buildDemo();
  tl.write(file);
  return tl.events.length;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node dist/gen/demo.js OUT.pcap');
    process.exit(2);
  }
  const n = writeDemo(out);
  console.log(`wrote ${n} packets to ${out}`);
}
