/**
 * Bench captures: `node dist/gen/bench-captures.js DIR [--packets N]` writes
 *
 * - DIR/mix.pcap: realistic sessions, large packets (reading the file dominates). With
 *   the default 2,000,000 packets: ~52,000 flows, ~1.5 GB. 80% of flows are TCP (handshake,
 *   a request, 3-40 full-size 1460-byte data segments one way with ACKs, FIN both ways),
 *   20% are DNS query/answer pairs. 1,500 sessions run at once, interleaved packet by
 *   packet, so the flow table holds many concurrent flows as on a real link.
 * - DIR/churn.pcap: ~1,000,000 short flows in 2,000,000 small packets (the flow table
 *   dominates): 60% SYN answered by RST/ACK, 20% SYN, SYN/ACK, RST, 20% one-packet UDP,
 *   which averages two packets per flow.
 *
 * Deterministic (seeded PRNG, fixed start time). A sidecar DIR/<name>.json records the
 * parameters and GENERATOR_VERSION; a file whose sidecar matches and whose size is right
 * is not written again (the 1.5 GB mix takes a while and the bench runs often).
 *
 * The loop is the hot path of a 2M-packet generator: per packet it draws from the PRNG,
 * updates one slot of the struct-of-arrays session table and builds the frame straight
 * into the writer's buffer. No object, closure, string or Buffer per packet.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TCP_ACK as ACK, TCP_FIN as FIN, TCP_PSH as PSH, TCP_RST as RST, TCP_SYN as SYN } from '../decode/packet.js';
import { FrameSpec, PcapWriter, tcp4Frame, udp4Frame, ipv4 } from './pcap-writer.js';
import { Prng } from './prng.js';

/** Bump when the bytes a given parameter set produces change, so old files are rewritten. */
export const GENERATOR_VERSION = 1;
export const DEFAULT_PACKETS = 2_000_000;

/** 2024-03-05T10:00:00Z, fixed so the bytes never change. */
const START_MICROS = 1_709_632_800 * 1e6;

const MSS = 1460;

export interface CaptureParams {
  generator: 'tapaudit-bench-captures';
  version: number;
  kind: 'mix' | 'churn';
  packets: number;
  seed: number;
}

export interface CaptureResult extends CaptureParams {
  /** Flows (sessions) the generator started. */
  flows: number;
  bytes: number;
}

// ---------------------------------------------------------------------------------------
// mix

/**
 * Concurrent sessions. 1,500 at ~20k packets/s of packet time gives sessions of a few
 * seconds each, so several thousand flows are live in the table at any time.
 */
const MIX_SLOTS = 1500;
const MIX_DNS_SHARE = 0.2;
/** Data segments per TCP session, uniform; with the DNS share this averages ~38 packets per flow (2M packets -> ~52k flows). */
const MIX_MIN_SEGS = 3;
const MIX_MAX_SEGS = 40;
/** Share of TCP sessions whose receiver ACKs every second segment (delayed ACK) instead of every one. */
const MIX_DELAYED_ACK_SHARE = 0.3;
/** Share of TCP sessions where the client uploads instead of downloading. */
const MIX_UPLOAD_SHARE = 0.1;

const K_TCP = 0;
const K_DNS = 1;

// TCP phases, in order.
const P_SYN = 0;
const P_SYNACK = 1;
const P_ACK = 2;
const P_REQUEST = 3;
const P_DATA = 4;
const P_DATA_ACK = 5;
const P_FIN_C = 6;
const P_FIN_S = 7;
const P_LAST_ACK = 8;
const P_DONE = 9;
// DNS phases.
const P_QUERY = 0;
const P_ANSWER = 1;

const LOCAL_CLIENTS = ipv4('10.1.0.0');
const RESOLVER = ipv4('10.1.0.53');
const REMOTE_NETS = [ipv4('192.0.2.0'), ipv4('198.51.100.0'), ipv4('203.0.113.0')];

class MixSessions {
  readonly kind = new Uint8Array(MIX_SLOTS);
  readonly phase = new Uint8Array(MIX_SLOTS);
  readonly client = new Uint32Array(MIX_SLOTS);
  readonly server = new Uint32Array(MIX_SLOTS);
  readonly clientPort = new Uint16Array(MIX_SLOTS);
  readonly serverPort = new Uint16Array(MIX_SLOTS);
  readonly clientSeq = new Uint32Array(MIX_SLOTS);
  readonly serverSeq = new Uint32Array(MIX_SLOTS);
  readonly clientIpId = new Uint16Array(MIX_SLOTS);
  readonly serverIpId = new Uint16Array(MIX_SLOTS);
  readonly segsLeft = new Int32Array(MIX_SLOTS);
  readonly segsSinceAck = new Uint8Array(MIX_SLOTS);
  readonly ackEvery = new Uint8Array(MIX_SLOTS);
  readonly upload = new Uint8Array(MIX_SLOTS);
  readonly tailLen = new Uint16Array(MIX_SLOTS);
  started = 0;

  constructor(private readonly rng: Prng) {}

  start(i: number): void {
    const r = this.rng;
    this.started++;
    this.phase[i] = 0;
    this.client[i] = LOCAL_CLIENTS + r.int(256, 65_279); // 10.1.1.0 .. 10.1.254.255
    this.clientPort[i] = r.int(32_768, 60_999); // Linux ip_local_port_range
    this.clientIpId[i] = r.nextU32();
    this.serverIpId[i] = r.nextU32();
    if (r.chance(MIX_DNS_SHARE)) {
      this.kind[i] = K_DNS;
      this.server[i] = RESOLVER;
      this.serverPort[i] = 53;
      return;
    }
    this.kind[i] = K_TCP;
    this.server[i] = REMOTE_NETS[r.int(0, 2)]! + r.int(1, 254);
    this.serverPort[i] = r.chance(0.7) ? 443 : 80;
    this.clientSeq[i] = r.nextU32();
    this.serverSeq[i] = r.nextU32();
    this.segsLeft[i] = r.int(MIX_MIN_SEGS, MIX_MAX_SEGS);
    this.segsSinceAck[i] = 0;
    this.ackEvery[i] = r.chance(MIX_DELAYED_ACK_SHARE) ? 2 : 1;
    this.upload[i] = r.chance(MIX_UPLOAD_SHARE) ? 1 : 0;
    this.tailLen[i] = r.int(100, MSS);
  }
}

/** Fills `s` with the TCP segment of slot i sent by the client (fromClient) or the server. */
function mixSegment(m: MixSessions, s: FrameSpec, i: number, fromClient: boolean, flags: number, payloadLen: number): void {
  if (fromClient) {
    s.src = m.client[i]!;
    s.dst = m.server[i]!;
    s.srcPort = m.clientPort[i]!;
    s.dstPort = m.serverPort[i]!;
    s.seq = m.clientSeq[i]!;
    s.ack = flags & ACK ? m.serverSeq[i]! : 0;
    s.ttl = 64;
    s.ipId = m.clientIpId[i] = (m.clientIpId[i]! + 1) & 0xffff;
    m.clientSeq[i] = (m.clientSeq[i]! + payloadLen + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
  } else {
    s.src = m.server[i]!;
    s.dst = m.client[i]!;
    s.srcPort = m.serverPort[i]!;
    s.dstPort = m.clientPort[i]!;
    s.seq = m.serverSeq[i]!;
    s.ack = flags & ACK ? m.clientSeq[i]! : 0;
    s.ttl = 52;
    s.ipId = m.serverIpId[i] = (m.serverIpId[i]! + 1) & 0xffff;
    m.serverSeq[i] = (m.serverSeq[i]! + payloadLen + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
  }
  s.flags = flags;
  s.window = flags & SYN ? 64_240 : 501;
  s.payloadLen = payloadLen;
}

/** Builds the next packet of slot i into `s`; returns the builder's protocol (6 or 17). */
function mixNext(m: MixSessions, s: FrameSpec, i: number, rng: Prng): number {
  if (m.kind[i] === K_DNS) {
    const query = m.phase[i] === P_QUERY;
    s.src = query ? m.client[i]! : m.server[i]!;
    s.dst = query ? m.server[i]! : m.client[i]!;
    s.srcPort = query ? m.clientPort[i]! : 53;
    s.dstPort = query ? 53 : m.clientPort[i]!;
    s.ttl = 64;
    s.ipId = query ? (m.clientIpId[i] = (m.clientIpId[i]! + 1) & 0xffff) : (m.serverIpId[i] = (m.serverIpId[i]! + 1) & 0xffff);
    // Typical A query / answer sizes (RFC 1035 messages of 30-60 and 50-200 bytes).
    s.payloadLen = query ? rng.int(30, 60) : rng.int(50, 200);
    m.phase[i] = query ? P_ANSWER : P_DONE;
    return 17;
  }
  const up = m.upload[i] === 1;
  switch (m.phase[i]) {
    case P_SYN:
      mixSegment(m, s, i, true, SYN, 0);
      m.phase[i] = P_SYNACK;
      break;
    case P_SYNACK:
      mixSegment(m, s, i, false, SYN | ACK, 0);
      m.phase[i] = P_ACK;
      break;
    case P_ACK:
      mixSegment(m, s, i, true, ACK, 0);
      m.phase[i] = P_REQUEST;
      break;
    case P_REQUEST:
      mixSegment(m, s, i, true, PSH | ACK, rng.int(200, 700));
      m.phase[i] = P_DATA;
      break;
    case P_DATA: {
      const last = --m.segsLeft[i]! === 0;
      mixSegment(m, s, i, !up, last ? PSH | ACK : ACK, last ? m.tailLen[i]! : MSS);
      m.segsSinceAck[i]!++;
      m.phase[i] = last || m.segsSinceAck[i]! >= m.ackEvery[i]! ? P_DATA_ACK : P_DATA;
      break;
    }
    case P_DATA_ACK:
      mixSegment(m, s, i, up, ACK, 0);
      m.segsSinceAck[i] = 0;
      m.phase[i] = m.segsLeft[i]! > 0 ? P_DATA : P_FIN_C;
      break;
    case P_FIN_C:
      mixSegment(m, s, i, true, FIN | ACK, 0);
      m.phase[i] = P_FIN_S;
      break;
    case P_FIN_S:
      mixSegment(m, s, i, false, FIN | ACK, 0);
      m.phase[i] = P_LAST_ACK;
      break;
    default:
      mixSegment(m, s, i, true, ACK, 0);
      m.phase[i] = P_DONE;
  }
  return 6;
}

function writeMix(file: string, packets: number, seed: number): number {
  const rng = new Prng(seed);
  const w = PcapWriter.create(file);
  const s = new FrameSpec();
  s.payloadSrc = null;
  s.payloadByte = 0; // zeros: memset speed, O(1) checksum
  const m = new MixSessions(rng);
  for (let i = 0; i < MIX_SLOTS; i++) m.start(i);
  let t = START_MICROS;
  for (let n = 0; n < packets; n++) {
    const i = rng.int(0, MIX_SLOTS - 1);
    const proto = mixNext(m, s, i, rng);
    const off = w.begin();
    const len = proto === 6 ? tcp4Frame(w.buf, off, s) : udp4Frame(w.buf, off, s);
    w.commit(t, len);
    if (m.phase[i] === P_DONE) m.start(i);
    // Mean gap 50 us: ~20k packets/s of packet time, 2M packets in ~100 s.
    t += rng.int(1, 99);
  }
  w.close();
  return m.started;
}

// ---------------------------------------------------------------------------------------
// churn

/** A few concurrent short flows so their packets interleave (a SYN's RST comes a little later). */
const CHURN_SLOTS = 256;
const CH_REJ = 0; // SYN, RST/ACK
const CH_OPEN_RST = 1; // SYN, SYN/ACK, RST
const CH_UDP = 2; // one datagram, no reply
/** Common service ports for the churn probes (a realistic spread, not one port). */
const CHURN_PORTS = [80, 443, 22, 25, 53, 110, 123, 143, 445, 993, 3389, 8080, 8443, 3306, 5432, 6379];

function writeChurn(file: string, packets: number, seed: number): number {
  const rng = new Prng(seed);
  const w = PcapWriter.create(file);
  const s = new FrameSpec();
  s.payloadSrc = null;
  s.payloadByte = 0;
  s.payloadLen = 0;
  const kind = new Uint8Array(CHURN_SLOTS);
  const phase = new Uint8Array(CHURN_SLOTS);
  const client = new Uint32Array(CHURN_SLOTS);
  const server = new Uint32Array(CHURN_SLOTS);
  const clientPort = new Uint16Array(CHURN_SLOTS);
  const serverPort = new Uint16Array(CHURN_SLOTS);
  const seq = new Uint32Array(CHURN_SLOTS);
  const clientBase = ipv4('10.2.0.0');
  let started = 0;
  const start = (i: number): void => {
    started++;
    const r = rng.next();
    kind[i] = r < 0.6 ? CH_REJ : r < 0.8 ? CH_OPEN_RST : CH_UDP;
    phase[i] = 0;
    // 65,536 local clients x 32k source ports x 762 servers x 16 ports: 1M flows
    // essentially never repeat a 5-tuple.
    client[i] = clientBase + (rng.nextU32() & 0xffff);
    server[i] = REMOTE_NETS[rng.int(0, 2)]! + rng.int(1, 254);
    clientPort[i] = rng.int(32_768, 65_535);
    serverPort[i] = CHURN_PORTS[rng.int(0, CHURN_PORTS.length - 1)]!;
    seq[i] = rng.nextU32();
  };
  for (let i = 0; i < CHURN_SLOTS; i++) start(i);
  let t = START_MICROS;
  for (let n = 0; n < packets; n++) {
    const i = rng.int(0, CHURN_SLOTS - 1);
    const k = kind[i]!;
    const ph = phase[i]!;
    // Phase 0 is always the client's first packet; replies swap the direction.
    const fromClient = ph === 0 || (k === CH_OPEN_RST && ph === 2);
    s.src = fromClient ? client[i]! : server[i]!;
    s.dst = fromClient ? server[i]! : client[i]!;
    s.srcPort = fromClient ? clientPort[i]! : serverPort[i]!;
    s.dstPort = fromClient ? serverPort[i]! : clientPort[i]!;
    s.ttl = fromClient ? 64 : 52;
    s.ipId = rng.nextU32() & 0xffff;
    const off = w.begin();
    let len: number;
    let done: boolean;
    if (k === CH_UDP) {
      s.payloadLen = rng.int(20, 120);
      len = udp4Frame(w.buf, off, s);
      s.payloadLen = 0;
      done = true;
    } else {
      if (ph === 0) {
        s.flags = SYN;
        s.seq = seq[i]!;
        s.ack = 0;
        s.window = 64_240;
      } else if (ph === 1 && k === CH_REJ) {
        s.flags = RST | ACK;
        s.seq = 0;
        s.ack = (seq[i]! + 1) >>> 0;
        s.window = 0;
      } else if (ph === 1) {
        s.flags = SYN | ACK;
        s.seq = rng.nextU32();
        s.ack = (seq[i]! + 1) >>> 0;
        s.window = 65_160;
      } else {
        s.flags = RST;
        s.seq = (seq[i]! + 1) >>> 0;
        s.ack = 0;
        s.window = 0;
      }
      len = tcp4Frame(w.buf, off, s);
      done = k === CH_REJ ? ph === 1 : ph === 2;
    }
    w.commit(t, len);
    phase[i] = ph + 1;
    if (done) start(i);
    // Mean gap 10 us: 2M packets in ~20 s of packet time, so most of the 1M flows are
    // still inside their timeouts when the capture ends (the table really fills).
    t += rng.int(1, 19);
  }
  w.close();
  return started;
}

// ---------------------------------------------------------------------------------------

const SEEDS = { mix: 0x6d697831, churn: 0x63687231 } as const;

function sidecarPath(file: string): string {
  return `${file}.json`;
}

/** The sidecar of an up-to-date file, or null when it must be (re)written. */
export function upToDate(file: string, params: CaptureParams): CaptureResult | null {
  try {
    const side = JSON.parse(fs.readFileSync(sidecarPath(file), 'utf8')) as CaptureResult;
    const same =
      side.generator === params.generator &&
      side.version === params.version &&
      side.kind === params.kind &&
      side.packets === params.packets &&
      side.seed === params.seed;
    if (same && fs.statSync(file).size === side.bytes) return side;
  } catch {
    // missing or unreadable sidecar: regenerate
  }
  return null;
}

/** Writes DIR/<kind>.pcap unless an up-to-date copy is there; returns its description. */
export function ensureCapture(dir: string, kind: 'mix' | 'churn', packets: number): CaptureResult & { file: string; reused: boolean } {
  const file = path.join(dir, `${kind}.pcap`);
  const params: CaptureParams = { generator: 'tapaudit-bench-captures', version: GENERATOR_VERSION, kind, packets, seed: SEEDS[kind] };
  const existing = upToDate(file, params);
  if (existing) return { ...existing, file, reused: true };
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(sidecarPath(file), { force: true });
  const flows = kind === 'mix' ? writeMix(file, packets, params.seed) : writeChurn(file, packets, params.seed);
  const result: CaptureResult = { ...params, flows, bytes: fs.statSync(file).size };
  fs.writeFileSync(sidecarPath(file), JSON.stringify(result, null, 2) + '\n');
  return { ...result, file, reused: false };
}

function parseArgs(argv: string[]): { dir: string; packets: number } {
  let dir = '';
  let packets = DEFAULT_PACKETS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--packets') {
      packets = Number(argv[++i]);
      if (!Number.isInteger(packets) || packets < 1) {
        console.error('--packets needs a positive integer, e.g. --packets 50000');
        process.exit(2);
      }
    } else if (!dir && !a.startsWith('-')) dir = a;
    else {
      console.error(`unknown argument ${a}; usage: node dist/gen/bench-captures.js DIR [--packets N]`);
      process.exit(2);
    }
  }
  if (!dir) {
    console.error('usage: node dist/gen/bench-captures.js DIR [--packets N]');
    process.exit(2);
  }
  return { dir, packets };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { dir, packets } = parseArgs(process.argv.slice(2));
  for (const kind of ['mix', 'churn'] as const) {
    const t0 = process.hrtime.bigint();
    const r = ensureCapture(dir, kind, packets);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const what = r.reused ? 'up to date' : `written in ${secs.toFixed(1)} s`;
    console.log(`${r.file}: ${r.packets} packets, ${r.flows} flows, ${(r.bytes / 1e6).toFixed(1)} MB (${what})`);
  }
}
