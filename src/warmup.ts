/**
 * A few dozen made-up packets of every common kind through a throwaway copy of the packet
 * path, before the first real packet, so that V8 optimises that path with type feedback
 * for all of its branches.
 *
 * Why: TurboFan optimises a function for the branches it has seen run. When a kind of
 * packet first shows up after that (the first IPv6 packet, the first VLAN tag, the first
 * ARP frame, the first ICMP error, the first idle expiry), the optimised code is thrown
 * away ("Insufficient type feedback", `node --trace-deopt`) and the function is compiled
 * again later. A replay of the real bench capture (2M packets) was deoptimised 27 times,
 * most of them that way, and `--trace-opt` summed 948 ms of TurboFan compilation over
 * the run (`emit` compiled 4 times, `create`, `add` and `count` 3 times each), on V8's
 * helper threads that share the second core with the flow-end worker (and then a
 * read-ahead thread). Feedback is kept per function (per creation site for closures), so
 * a second Pipeline made the same way shares it with the real one.
 *
 * Measured (alternating runs against the same build without it, session 7 VM): real
 * bench 1.01-1.07 -> 0.92-0.98 s (5 rounds; deoptimisations over the run 27 -> 12), and
 * page faults 25-28k -> 18.3k (code running deoptimised allocates, and the young
 * generation grows into new pages); real 100k packets 0.51-0.56 -> 0.45-0.51 s, 600k
 * 0.70-0.90 -> 0.67-0.73 s; mix 1.01-1.12 -> 0.98-1.09 s; churn unchanged. It costs ~10
 * ms (97 packets through cold code), which shows only on tiny captures (4,631 packets:
 * 0.23-0.24 -> 0.24-0.25 s).
 *
 * Session 8 added the sessions reset once established (RSTO, RSTR; now 129 packets) and,
 * halfway, the ring as it runs once the flow-end workers start (asStarted): the
 * deoptimisations of the packet thread over a real bench replay 8 -> 5 (all of them
 * 16-19 -> 13-15), TurboFan's compile time over all threads ~650 -> ~600 ms (3 runs
 * each); wall time within the VM's noise.
 *
 * The throwaway pipeline has no outputs and never starts a flow-end worker: its flows go
 * into its own ring and are dropped with it.
 */
import { LINKTYPE_ETHERNET } from './decode/link.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from './decode/packet.js';
import {
  FrameSpec, IP_OFFSET_IN_FRAME, icmpEcho4Frame, icmpError4Frame, ipv4, tcp4Frame, tcp6Frame, udp4Frame, udp6Frame,
} from './gen/pcap-writer.js';

/**
 * Replay input below this many bytes is not worth the warm-up: its ~10 ms of made-up
 * packets through cold code buy nothing when the capture ends before TurboFan would have
 * optimised the packet path anyway. Alternating runs (session 10 VM), wall: the four
 * captures of ../shared/captures/bench (2.5-3.8 MB, 1,723-7,451 packets), 8 rounds, mean
 * 264 -> 253 ms without it; the first 16,000 packets of the real bench capture (22 MB)
 * 322 -> 320 ms median (8 rounds), a wash; from 100,000 packets (80 MB) up it pays (see
 * above).
 */
export const WARM_UP_MIN_BYTES = 8 * 1024 * 1024;

/**
 * The warm-up pipeline's flow table: 16 flows (fewer than a round makes, so some leave
 * by capacity) and a 2 s active timeout (the flow of every round is cut on the way).
 */
export const WARM_UP_FLOWS = { maxFlows: 16, activeSeconds: 2 } as const;

/** A frame: where it is in the warm-up buffer and its length. */
interface Frame {
  off: number;
  len: number;
}

/** Passes over the packet set: enough for every branch to have run before TurboFan starts. */
const ROUNDS = 4;
/** Start of the made-up packet clock (2001-09-09, before any real capture's packets). */
const START_MICROS = 1_000_000_000_000_000;

/**
 * The packet set, built once into one buffer: a UDP flow that lasts all rounds, a TCP
 * session (handshake, data, FIN both ways), a refused SYN, two sessions reset once
 * established (one by each side), a DNS-like UDP pair, an ICMP echo pair, an ICMP port
 * unreachable quoting the UDP flow, IPv6 TCP and UDP, UDP under one and under two VLAN
 * tags, an ARP frame, an 802.3 LLC frame and a frame cut short. `round` varies ports and
 * hosts so each round makes new flows.
 */
export function warmUpFrames(round: number): { buf: Buffer; frames: Frame[] } {
  const buf = Buffer.alloc(8192);
  const frames: Frame[] = [];
  let at = 0;
  const add = (len: number): void => {
    frames.push({ off: at, len });
    at += len;
  };
  const s = new FrameSpec();
  const client = ipv4('192.0.2.10') + round;
  const server = ipv4('198.51.100.20');
  const tcp = (from: number, to: number, sport: number, dport: number, flags: number, payload: number): void => {
    s.src = from;
    s.dst = to;
    s.srcPort = sport;
    s.dstPort = dport;
    s.flags = flags;
    s.payloadLen = payload;
    add(tcp4Frame(buf, at, s));
  };
  // The same UDP flow in every round: cut by the active timeout (see WARM_UP_FLOWS).
  s.src = ipv4('192.0.2.9');
  s.dst = server;
  s.srcPort = 5000;
  s.dstPort = 5000;
  s.payloadLen = 20;
  add(udp4Frame(buf, at, s));
  const cport = 40_000 + round;
  tcp(client, server, cport, 443, TCP_SYN, 0);
  tcp(server, client, 443, cport, TCP_SYN | TCP_ACK, 0);
  tcp(client, server, cport, 443, TCP_ACK, 0);
  tcp(client, server, cport, 443, TCP_PSH | TCP_ACK, 200);
  tcp(server, client, 443, cport, TCP_PSH | TCP_ACK, 1400);
  tcp(client, server, cport, 443, TCP_FIN | TCP_ACK, 0);
  tcp(server, client, 443, cport, TCP_FIN | TCP_ACK, 0);
  tcp(client, server, cport, 443, TCP_ACK, 0);
  tcp(client, server, cport + 1, 23, TCP_SYN, 0);
  tcp(server, client, 23, cport + 1, TCP_RST | TCP_ACK, 0);
  // Established sessions reset by either side (RSTO, RSTR): the reset branches of the
  // connection state and of the originator's flag history.
  for (const [port, resetByClient] of [[8080, true], [8443, false]] as const) {
    tcp(client, server, cport + 4, port, TCP_SYN, 0);
    tcp(server, client, port, cport + 4, TCP_SYN | TCP_ACK, 0);
    tcp(client, server, cport + 4, port, TCP_ACK, 0);
    if (resetByClient) tcp(client, server, cport + 4, port, TCP_RST | TCP_ACK, 0);
    else tcp(server, client, port, cport + 4, TCP_RST, 0);
  }

  s.src = client;
  s.dst = server;
  s.srcPort = cport + 2;
  s.dstPort = 53;
  s.payloadLen = 30;
  const query = at;
  add(udp4Frame(buf, at, s));
  s.src = server;
  s.dst = client;
  s.srcPort = 53;
  s.dstPort = cport + 2;
  s.payloadLen = 90;
  add(udp4Frame(buf, at, s));
  s.src = client;
  s.dst = server;
  s.icmpType = 8;
  s.icmpId = round;
  s.payloadLen = 32;
  add(icmpEcho4Frame(buf, at, s));
  s.src = server;
  s.dst = client;
  s.icmpType = 0;
  add(icmpEcho4Frame(buf, at, s));
  // The UDP query's destination answers "port unreachable" (type 3, code 3).
  s.src = server;
  s.dst = client;
  s.icmpType = 3;
  s.icmpCode = 3;
  add(icmpError4Frame(buf, at, s, buf, query + IP_OFFSET_IN_FRAME));
  s.icmpCode = 0;

  s.src6.set([0x20010db8, 0, 0, 0x10 + round]);
  s.dst6.set([0x20010db8, 0, 0, 0x20]);
  s.srcPort = cport;
  s.dstPort = 80;
  s.flags = TCP_SYN;
  s.payloadLen = 0;
  add(tcp6Frame(buf, at, s));
  s.src6.set([0x20010db8, 0, 0, 0x20]);
  s.dst6.set([0x20010db8, 0, 0, 0x10 + round]);
  s.srcPort = 80;
  s.dstPort = cport;
  s.flags = TCP_RST | TCP_ACK;
  add(tcp6Frame(buf, at, s));
  s.srcPort = 53;
  s.dstPort = cport;
  s.payloadLen = 40;
  add(udp6Frame(buf, at, s));

  // One 802.1Q tag (VLAN 100), then an 802.1ad outer tag over it (QinQ), in front of UDP.
  for (const tags of [[0x8100], [0x88a8, 0x8100]]) {
    s.src = client;
    s.dst = server;
    s.srcPort = cport + 3;
    s.dstPort = 123;
    s.payloadLen = 48;
    const plain = udp4Frame(buf, at + 4 * tags.length, s);
    buf.copy(buf, at, at + 4 * tags.length, at + 4 * tags.length + 12);
    tags.forEach((tpid, i) => {
      buf.writeUInt16BE(tpid, at + 12 + 4 * i);
      buf.writeUInt16BE(100 + i, at + 14 + 4 * i);
    });
    add(plain + 4 * tags.length);
  }

  // ARP request, and an 802.3 frame whose type field is a length (LLC, as CDP or STP):
  // not IP, counted, not flowed.
  buf.fill(0xff, at, at + 6);
  buf.fill(0x02, at + 6, at + 12);
  buf.writeUInt16BE(0x0806, at + 12);
  buf.writeUInt32BE(0x00010800, at + 14);
  buf.writeUInt32BE(0x06040001, at + 18);
  add(60);
  buf.fill(0x02, at, at + 12);
  buf.writeUInt16BE(46, at + 12);
  buf.writeUInt32BE(0xaaaa0300, at + 14);
  add(60);
  // Ethernet header cut short.
  add(10);
  return { buf, frames };
}

/** The packet-path entry points the warm-up drives (a Pipeline, see Pipeline.open). */
export interface WarmablePipeline {
  onPacket(buf: Buffer, offset: number, capLen: number, wireLen: number, timestampMicros: number, linktype: number): void;
  /** Every flow leaves (reason "shutdown"). */
  expireAll(): void;
  /**
   * From now on hand flows over as once the flow-end workers run (FlowOffload.warmUpAsStarted):
   * called halfway, so both ways of the ring get their feedback.
   */
  asStarted?(): void;
}

/**
 * ROUNDS passes of the packet set, a second apart in packet time, then one packet an hour
 * later (every earlier flow expires idle on the way) and the end (the rest expire).
 */
export function warmUp(p: WarmablePipeline): void {
  let t = START_MICROS;
  let last = warmUpFrames(0);
  for (let round = 0; round < ROUNDS; round++) {
    if (round > 0) last = warmUpFrames(round);
    if (round === ROUNDS / 2) p.asStarted?.();
    for (const f of last.frames) {
      p.onPacket(last.buf, f.off, f.len, f.len, t, LINKTYPE_ETHERNET);
      t += 1000;
    }
    t += 1_000_000;
  }
  // The lasting UDP flow's packet (the same in every round) once more, an hour later.
  const f = last.frames[0]!;
  p.onPacket(last.buf, f.off, f.len, f.len, t + 3_600_000_000, LINKTYPE_ETHERNET);
  p.expireAll();
}
