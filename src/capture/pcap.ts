/**
 * Classic pcap record parser (libpcap savefile: pcap-savefile(5)). Walks record headers in
 * a chunk buffer and hands each packet out in place: no slice, no object per packet.
 */
import type { PcapFormat } from './format.js';
import { PCAP_HEADER_BYTES } from './format.js';
import type { RecordParser } from './parser.js';
import type { PacketHandler } from './source.js';
import { u32be, u32le } from './bytes.js';

/**
 * libpcap's MAXIMUM_SNAPLEN (pcap-int.h): no sane record is bigger. A larger caplen means the
 * record headers are garbage, and a classic pcap has no sync marker to recover from that.
 */
export const PCAP_MAX_CAPLEN = 262144;
/** libpcap max_snaplen_for_dlt(): D-Bus messages may be up to 128 MiB (LINKTYPE_DBUS 231). */
const DBUS_MAX_CAPLEN = 128 * 1024 * 1024;
const LINKTYPE_DBUS = 231;

/** caplen/len order in the record header (libpcap sf-pcap.c, versions before 2.3). */
const LENGTHS_IN_ORDER = 0;
const LENGTHS_SWAPPED = 1;
/** Version 2.3 files were written both ways: swap only if caplen > len. */
const LENGTHS_MAYBE_SWAPPED = 2;

export class PcapParser implements RecordParser {
  need = PCAP_HEADER_BYTES;
  damaged: string | null = null;
  packets = 0;

  private headerLeft = PCAP_HEADER_BYTES;
  private readonly le: boolean;
  private readonly nano: boolean;
  private readonly hdrBytes: number;
  private readonly linktype: number;
  private readonly maxCaplen: number;
  private readonly lengthsOrder: number;

  constructor(private readonly name: string, fmt: PcapFormat) {
    this.le = fmt.littleEndian;
    this.nano = fmt.nanoseconds;
    this.hdrBytes = fmt.recordHeaderBytes;
    this.linktype = fmt.linktype;
    this.maxCaplen = fmt.linktype === LINKTYPE_DBUS ? DBUS_MAX_CAPLEN : PCAP_MAX_CAPLEN;
    if (fmt.versionMajor === 543 || (fmt.versionMajor === 2 && fmt.versionMinor < 3)) this.lengthsOrder = LENGTHS_SWAPPED;
    else if (fmt.versionMajor === 2 && fmt.versionMinor === 3) this.lengthsOrder = LENGTHS_MAYBE_SWAPPED;
    else this.lengthsOrder = LENGTHS_IN_ORDER;
  }

  parse(buf: Buffer, start: number, end: number, base: number, onPacket: PacketHandler): number {
    let pos = start;
    if (this.headerLeft > 0) {
      // The global header was checked at open (format.ts); here it is only stepped over.
      if (end - pos < this.headerLeft) {
        this.need = this.headerLeft;
        return pos;
      }
      pos += this.headerLeft;
      this.headerLeft = 0;
    }
    const hdr = this.hdrBytes;
    const le = this.le;
    const linktype = this.linktype;
    // Set before the loop, not after it: this function is optimised (OSR) inside its loop
    // on the first chunk, before it ever left the loop, so a store after the loop had no
    // type feedback and threw the optimised code out once per chunk ("Insufficient type
    // feedback", --trace-deopt): 26-40 deoptimisations per replay of the mix, churn and
    // header-only benches, 0-1 since. Wall time within the VM's noise (8 alternating
    // rounds on the header-only capture, median 0.77 s both).
    this.need = hdr;
    while (end - pos >= hdr) {
      let sec: number, frac: number, capLen: number, wireLen: number;
      // One predictable branch per record instead of a function table; byte arithmetic
      // rather than Buffer#readUInt32LE, whose argument validation showed up in profiles
      // (~20% of this loop); the loop condition already guarantees the 16 bytes.
      if (le) {
        sec = u32le(buf, pos);
        frac = u32le(buf, pos + 4);
        capLen = u32le(buf, pos + 8);
        wireLen = u32le(buf, pos + 12);
      } else {
        sec = u32be(buf, pos);
        frac = u32be(buf, pos + 4);
        capLen = u32be(buf, pos + 8);
        wireLen = u32be(buf, pos + 12);
      }
      if (this.lengthsOrder !== LENGTHS_IN_ORDER && (this.lengthsOrder === LENGTHS_SWAPPED || capLen > wireLen)) {
        const t = capLen;
        capLen = wireLen;
        wireLen = t;
      }
      if (capLen > this.maxCaplen) {
        const n = this.packets + 1;
        this.damaged = `${this.name}: record ${n} (at byte ${base + pos}) has caplen ${capLen}, file is damaged; stopped after ${n - 1} records`;
        this.need = hdr;
        return pos;
      }
      const recEnd = pos + hdr + capLen;
      if (recEnd > end) {
        this.need = hdr + capLen;
        return pos;
      }
      // ts_sec is unsigned (a 2106 capture reads as 2106). A fraction >= 1e6 (or 1e9) is
      // out of range but kept as written, like libpcap: the packet is not dropped.
      const micros = this.nano ? sec * 1e6 + Math.floor(frac / 1000) : sec * 1e6 + frac;
      this.packets++;
      onPacket(buf, pos + hdr, capLen, wireLen, micros, linktype);
      pos = recEnd;
    }
    return pos;
  }

  summary(): string | null {
    return null;
  }
}
