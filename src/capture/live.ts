/**
 * Live capture through libpcap, by way of the optional `cap` addon (SPEC §2 live). The
 * source has the same contract as the file readers (src/capture/source.ts): one reused
 * buffer, one synchronous `onPacket` per packet, nothing allocated per packet by us.
 *
 * What cap gives and what it does not (native-notes/ has the long version):
 * - one 'packet' event per packet with the number of bytes it copied into the Buffer we
 *   handed to open(), and a "truncated" flag. No timestamp and no original length
 *   (binding.cc passes neither of pcap_pkthdr's ts / len): packets are stamped here with
 *   the host clock, and wireLen = capLen (snaplen is fixed at 65535 by cap, so a frame is
 *   only cut when it is bigger than that, i.e. GRO/TSO super-frames; turn those offloads
 *   off on a mirror port).
 * - no pcap_stats(): capture loss is estimated from the interface's kernel counters
 *   (src/output/stats-line.ts).
 * - the link type as a name ('ETHERNET', ...) or "Unknown linktype N" with the DLT number.
 *
 * `cap` is loaded lazily with createRequire inside a try, so a missing libpcap or a failed
 * native build only breaks `live` and `interfaces`; every other command never loads it.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
} from '../decode/link.js';
import { UserError } from '../util/errors.js';
import { SYS_CLASS_NET, trySysfsNumber } from '../util/sysfs.js';
import type { PacketHandler, PacketSource, SourceWarning } from './source.js';

/** The parts of cap's API that tapaudit uses (cap ships no types). */
export interface CapAddress {
  addr?: string;
  netmask?: string;
  broadaddr?: string;
  dstaddr?: string;
}
export interface CapDevice {
  name: string;
  description?: string;
  addresses: CapAddress[];
  flags?: string;
}
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event: 'packet'): void;
}
export interface CapModule {
  Cap: { new (): CapHandle; deviceList(): CapDevice[] };
}

export const NO_CAP_MESSAGE =
  "live capture needs libpcap's headers and the cap addon: apt-get install libpcap-dev && npm rebuild cap";

let loaded: CapModule | null = null;

/**
 * Load the cap addon, or throw one UserError saying how to get it. The environment
 * variable TAPAUDIT_NO_CAP=1 makes the load fail as if libpcap were missing: it exists for
 * the tests that check the other commands still work without the addon.
 */
export function loadCap(): CapModule {
  if (process.env.TAPAUDIT_NO_CAP === '1') {
    throw new UserError('E_NO_LIBPCAP', `${NO_CAP_MESSAGE} (TAPAUDIT_NO_CAP=1 is set)`);
  }
  if (loaded) return loaded;
  try {
    const require = createRequire(import.meta.url);
    loaded = require('cap') as CapModule;
    return loaded;
  } catch (err) {
    const why = ((err as Error).message ?? String(err)).split('\n')[0];
    throw new UserError('E_NO_LIBPCAP', `${NO_CAP_MESSAGE} (loading cap failed: ${why})`);
  }
}

/** Interfaces libpcap can capture on, with their addresses. */
export function listInterfaces(): CapDevice[] {
  return loadCap().Cap.deviceList();
}

/**
 * cap's link type names -> pcap LINKTYPE_* numbers (https://www.tcpdump.org/linktypes.html),
 * the numbers the decoder's link table is keyed by. binding.cc names these five; any other
 * comes as "Unknown linktype N" with libpcap's DLT number, which equals the LINKTYPE number
 * for everything the decoder knows beyond them (e.g. 276 LINUX_SLL2).
 */
const LINKTYPE_BY_CAP_NAME: Record<string, number> = {
  NULL: LINKTYPE_NULL,
  ETHERNET: LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL: LINKTYPE_LINUX_SLL,
  RAW: LINKTYPE_RAW,
  IEEE802_11_RADIO: 127,
};

export function linktypeFromCap(name: string): number {
  const known = LINKTYPE_BY_CAP_NAME[name];
  if (known !== undefined) return known;
  const m = /^Unknown linktype (\d+)$/.exec(name);
  return m ? Number(m[1]) : -1;
}

/**
 * Host clock in microseconds since the epoch that never runs backwards.
 *
 * cap hands out no pcap timestamps, so a packet's time is the time its callback runs.
 * Per packet this reads only performance.now() (monotonic, sub-microsecond; one call, no
 * allocation) plus an offset to the wall clock. Once a second the offset is taken again
 * from Date.now(): a wall clock that stepped forward (NTP) is followed at once; one that
 * stepped back is followed by slewing at most 500 µs per second (the 500 ppm bound ntpd
 * itself slews at), so packet time never goes backwards and flows and detector windows,
 * which run on packet time, never see time reverse. The result is also clamped to the
 * last value returned.
 */
export class MonotonicHostClock {
  private offsetMs: number;
  private nextAnchorPerfMs: number;
  private lastMicros = -Infinity;

  constructor() {
    const perf = performance.now();
    this.offsetMs = Date.now() - perf;
    this.nextAnchorPerfMs = perf + 1000;
  }

  nowMicros(): number {
    const perf = performance.now();
    if (perf >= this.nextAnchorPerfMs) this.reanchor(perf);
    let us = Math.floor((this.offsetMs + perf) * 1000);
    if (us < this.lastMicros) us = this.lastMicros;
    this.lastMicros = us;
    return us;
  }

  private reanchor(perf: number): void {
    const wallOffset = Date.now() - perf;
    const SLEW_MS_PER_ANCHOR = 0.5; // 500 ppm at one anchor per second
    this.offsetMs = wallOffset >= this.offsetMs ? wallOffset : Math.max(wallOffset, this.offsetMs - SLEW_MS_PER_ANCHOR);
    this.nextAnchorPerfMs = perf + 1000;
  }
}

export interface LiveSourceOptions {
  /** BPF expression (pcap-filter(7)); empty = everything. */
  bpf?: string;
  /** libpcap's kernel ring size in bytes (pcap_set_buffer_size). */
  bufferBytes?: number;
}

/** cap objects whose open() failed: never collected (see the LiveSource constructor). */
const FAILED_HANDLES: CapHandle[] = [];

/** Largest frame cap copies: its snaplen is fixed at 65535. One byte more so "truncated" means it. */
const FRAME_BUFFER_BYTES = 65536;

/**
 * libpcap's kernel buffer. Its default is 2 MB, less than one GC pause of a busy Node
 * process at a high rate, so the default here is 64 MB. cap opens libpcap in immediate
 * mode, so the ring is TPACKET_V2: one fixed-size slot per frame, sized by the interface
 * MTU when TSO, GSO, GRO and LRO are off and by the snaplen (65,535) otherwise. libpcap
 * mapped a 128 MB ring for 64 MB (/proc/PID/maps), ~84k slots at MTU 1500.
 */
export const DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024;

/** Bytes a ring slot takes besides the frame: tpacket2_hdr and sockaddr_ll, a VLAN tag, alignment (about). */
const SLOT_OVERHEAD_BYTES = 80;
/** The MTU of an Ethernet mirror port, which the ring's slots are best sized for. */
const WIRE_MTU = 1500;
/** /sys/class/net/IF/type of the loopback interface (ARPHRD_LOOPBACK, linux/if_arp.h). */
const ARPHRD_LOOPBACK = 772;

/**
 * A warning when `iface`'s MTU is above 1500: libpcap's ring then holds that many times
 * fewer frames (see DEFAULT_BUFFER_BYTES). On a 2-vCPU test VM (2026-12-06) a 300k-packet
 * burst lost 17.2 % at MTU 9000 and nothing at 1500, the ring and the offloads the same
 * (native-notes/README.md §6). Null when the MTU is 1500 or less or cannot be read, and
 * for loopback (its 65,536 is for tests, not a port).
 */
export function mtuWarning(iface: string, sysRoot = SYS_CLASS_NET): string | null {
  const mtu = trySysfsNumber(`${sysRoot}/${iface}/mtu`);
  if (mtu === null || !Number.isInteger(mtu) || mtu <= WIRE_MTU) return null;
  if (trySysfsNumber(`${sysRoot}/${iface}/type`) === ARPHRD_LOOPBACK) return null;
  const times = (mtu + SLOT_OVERHEAD_BYTES) / (WIRE_MTU + SLOT_OVERHEAD_BYTES);
  return `${iface} has MTU ${mtu}: libpcap's ring keeps one slot of that size per frame, so it holds ` +
    `${times.toFixed(1)}x fewer frames than at MTU ${WIRE_MTU}; give a capture port the wire's MTU ` +
    `(ip link set ${iface} mtu ${WIRE_MTU}) and turn its offloads off (native-notes/README.md §4)`;
}

/**
 * A live capture on one interface. Opening happens in the constructor so that an unknown
 * interface, a bad BPF expression or a missing permission is reported (one UserError
 * each) before any output file is created.
 */
export class LiveSource implements PacketSource {
  readonly name: string;
  readonly warnings: SourceWarning[] = [];
  readonly linktype: number;
  readonly linktypeName: string;
  private readonly cap: CapHandle;
  private readonly buffer = Buffer.alloc(FRAME_BUFFER_BYTES);
  private readonly clock = new MonotonicHostClock();
  private onPacket: PacketHandler | null = null;
  private done: (() => void) | null = null;
  private stopped = false;
  private bytes = 0;
  /** Frames cut by cap because they were larger than its 64 KiB buffer. */
  truncatedFrames = 0;

  constructor(iface: string, options: LiveSourceOptions = {}) {
    const cap = loadCap();
    this.name = iface;
    const devices = cap.Cap.deviceList();
    // Checked here rather than left to pcap_activate: libpcap's own wording for this
    // ("No such device exists", preceded by a SIOCGIFADDR warning that binding.cc prints to
    // stderr) does not say which names would work.
    if (!devices.some((d) => d.name === iface)) {
      const names = devices.map((d) => d.name).join(', ');
      throw new UserError('E_NO_INTERFACE', `live: no interface "${iface}" to capture on; available: ${names} (see 'tapaudit interfaces')`);
    }
    this.cap = new cap.Cap();
    const bpf = options.bpf ?? '';
    let linkName: string;
    try {
      linkName = this.cap.open(iface, bpf, options.bufferBytes ?? DEFAULT_BUFFER_BYTES, this.buffer);
    } catch (err) {
      // A failed open() can leave cap's object holding an activated pcap handle without
      // an initialised libuv poll handle; when V8 later collects the object, its destructor
      // calls uv_poll_stop on that and libuv aborts the process (seen with a bad BPF
      // filter: "uv_poll_stop: Assertion `!uv__is_closing(handle)' failed"). Keeping the
      // object reachable means it is never destroyed; the process is about to exit anyway.
      FAILED_HANDLES.push(this.cap);
      throw openError(iface, bpf, (err as Error).message);
    }
    this.linktypeName = linkName;
    this.linktype = linktypeFromCap(linkName);
    if (this.linktype < 0) {
      this.cap.close();
      throw new UserError('E_LINKTYPE', `live: cannot decode the link type of ${iface} (${linkName}); capture on an Ethernet interface`);
    }
  }

  run(onPacket: PacketHandler): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.onPacket = onPacket;
    // The listener is attached synchronously after open(): cap only delivers from the
    // libuv poll callback, so nothing arrives (or is lost) before this line runs.
    this.cap.on('packet', this.deliver);
    return new Promise<void>((resolve) => {
      this.done = resolve;
    });
  }

  /** cap's 'packet' listener, bound once. The only work besides the pipeline's onPacket. */
  private readonly deliver = (nbytes: number, truncated: boolean): void => {
    if (truncated) this.truncatedFrames++;
    this.bytes += nbytes;
    this.onPacket!(this.buffer, 0, nbytes, nbytes, this.clock.nowMicros(), this.linktype);
  };

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cap.removeAllListeners('packet');
    this.cap.close();
    const done = this.done;
    this.done = null;
    done?.();
  }

  /** The host clock as the source stamps packets (for ticks between packets). */
  nowMicros(): number {
    return this.clock.nowMicros();
  }

  progress(): { done: number; total: number } {
    return { done: this.bytes, total: -1 };
  }
}

/** libpcap's open/filter errors -> one line that says what to do. */
function openError(iface: string, bpf: string, msg: string): UserError {
  if (/permission|not permitted|EPERM|EACCES/i.test(msg)) {
    return new UserError(
      'E_PERMISSION',
      `live: no permission to capture on ${iface} (${msg}); run as root or grant CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode), e.g. the systemd unit's AmbientCapabilities or setcap cap_net_raw,cap_net_admin+eip on node`,
    );
  }
  if (/filter|syntax|parse|bpf/i.test(msg) && bpf !== '') {
    return new UserError('E_BPF', `live: bad BPF filter "${bpf}": ${msg}; see pcap-filter(7)`);
  }
  if (/no such device/i.test(msg)) {
    return new UserError('E_NO_INTERFACE', `live: no interface "${iface}" to capture on (${msg}); see 'tapaudit interfaces'`);
  }
  if (/not up|network is down/i.test(msg)) {
    return new UserError('E_IFACE_DOWN', `live: ${iface} is down (${msg}); bring it up: ip link set ${iface} up`);
  }
  return new UserError('E_CAPTURE', `live: cannot capture on ${iface}: ${msg}`);
}
