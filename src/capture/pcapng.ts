/**
 * pcapng block parser (draft-ietf-opsawg-pcapng). Handles several sections, each with its
 * own byte order; several interfaces per section, each with its own link type, if_tsresol
 * and if_tsoffset; EPB, SPB and the obsolete Packet Block. Every other block (NRB, ISB,
 * DSB, custom, unknown) is stepped over by its length.
 *
 * Interface properties live in typed arrays filled when an IDB is read (set-up), so a
 * packet block costs a few integer reads and one table lookup.
 */
import { PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_MIN_SHB_BYTES, PCAPNG_SHB_TYPE } from './format.js';
import type { PcapngFormat } from './format.js';
import type { RecordParser } from './parser.js';
import type { PacketHandler } from './source.js';
import { i32be, i32le, u16be, u16le, u32be, u32le } from './bytes.js';

const BT_IDB = 0x00000001;
const BT_PB = 0x00000002; // obsolete Packet Block
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;

/** Block header (type, length) plus the trailing length copy. */
const BLOCK_OVERHEAD = 12;
/**
 * libpcap sf-pcapng.c INITIAL_MAX_BLOCKSIZE: 16 MiB. A larger length is taken as damage
 * rather than a reason to buffer that much.
 */
export const PCAPNG_MAX_BLOCK = 16 * 1024 * 1024;

const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

const TWO_32 = 4294967296;

/** Why a block was skipped; the text is built only for the first one of a file. */
const SKIP_SHORT = 0;
const SKIP_NO_IFACE = 1;
const SKIP_CAPLEN = 2;
const SKIP_SPB_NO_IFACE = 3;
const SKIP_SHORT_IDB = 4;
const SKIP_MESSAGES: Array<(at: number, a: number, b: number) => string> = [
  (at, len) => `packet block at byte ${at} is only ${len} bytes`,
  (at, ifId, count) => `packet block at byte ${at} names interface ${ifId}, the section has ${count}`,
  (at, capLen, len) => `packet block at byte ${at} has caplen ${capLen} in a ${len}-byte block`,
  (at) => `simple packet block at byte ${at} comes before any interface`,
  (at, len) => `interface block at byte ${at} is only ${len} bytes`,
];

/** How an interface's timestamp units become microseconds. */
const TS_DIVIDE = 0; // 10^-n with n > 6: exact integer division of the 64-bit value
const TS_MULTIPLY = 1; // 10^-n with n <= 6 or 2^-n: multiply (binary fractions are floored)

export class PcapngParser implements RecordParser {
  need = BLOCK_OVERHEAD;
  damaged: string | null = null;
  packets = 0;

  private le: boolean;
  private ifCount = 0;
  private ifLinktype = new Int32Array(16);
  private ifTsKind = new Uint8Array(16);
  /** TS_DIVIDE: divisor d, and 2^32 = q*d + r so the high word divides exactly. */
  private ifDiv = new Float64Array(16);
  private ifQ = new Float64Array(16);
  private ifR = new Float64Array(16);
  /** TS_MULTIPLY: microseconds per unit. */
  private ifMul = new Float64Array(16);
  /** if_tsoffset in microseconds. */
  private ifOffset = new Float64Array(16);
  /** SPB has no timestamp: it gets the last one seen (0 before any). */
  private lastMicros = 0;
  private skippedBlocks = 0;
  private firstSkip = '';

  constructor(private readonly name: string, fmt: PcapngFormat) {
    this.le = fmt.littleEndian;
  }

  // Every read below is inside a block whose length was checked against the bytes at hand.
  private u32(buf: Buffer, at: number): number {
    return this.le ? u32le(buf, at) : u32be(buf, at);
  }

  private i32(buf: Buffer, at: number): number {
    return this.le ? i32le(buf, at) : i32be(buf, at);
  }

  private u16(buf: Buffer, at: number): number {
    return this.le ? u16le(buf, at) : u16be(buf, at);
  }

  private stop(message: string): void {
    this.damaged = `${this.name}: ${message}, file is damaged; stopped after ${this.packets} packets`;
  }

  /**
   * Count a packet block that cannot be used. Only the first is described (the message is
   * built once), so a file full of broken blocks costs no string per block.
   */
  private skip(kind: number, at: number, a: number, b: number): void {
    if (this.skippedBlocks++ !== 0) return;
    this.firstSkip = SKIP_MESSAGES[kind]!(at, a, b);
  }

  parse(buf: Buffer, start: number, end: number, base: number, onPacket: PacketHandler): number {
    let pos = start;
    while (end - pos >= BLOCK_OVERHEAD) {
      let type = this.u32(buf, pos);
      if (type === PCAPNG_SHB_TYPE) {
        // The SHB type reads the same in both orders; its byte-order magic sets the order
        // of everything up to the next SHB.
        const bom = u32be(buf, pos + 8);
        if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.le = false;
        else if (u32le(buf, pos + 8) === PCAPNG_BYTE_ORDER_MAGIC) this.le = true;
        else {
          this.stop(`section header at byte ${base + pos} has byte-order magic ${bom.toString(16)}`);
          return pos;
        }
        type = PCAPNG_SHB_TYPE;
      }
      const len = this.u32(buf, pos + 4);
      if (len < BLOCK_OVERHEAD || len % 4 !== 0 || len > PCAPNG_MAX_BLOCK) {
        this.stop(`block at byte ${base + pos} has length ${len} (must be a multiple of 4, 12 to ${PCAPNG_MAX_BLOCK})`);
        return pos;
      }
      if (end - pos < len) {
        this.need = len;
        return pos;
      }
      const trailer = this.u32(buf, pos + len - 4);
      if (trailer !== len) {
        this.stop(`block at byte ${base + pos} has length ${len} but its trailer says ${trailer}`);
        return pos;
      }
      switch (type) {
        case BT_EPB:
        case BT_PB: {
          if (len < 32) {
            this.skip(SKIP_SHORT, base + pos, len, 0);
            break;
          }
          // EPB: interface id is 32 bits; the obsolete PB has 16-bit id + 16-bit drops count.
          const ifId = type === BT_EPB ? this.u32(buf, pos + 8) : this.u16(buf, pos + 8);
          if (ifId >= this.ifCount) {
            this.skip(SKIP_NO_IFACE, base + pos, ifId, this.ifCount);
            break;
          }
          const capLen = this.u32(buf, pos + 20);
          if (capLen > len - 32) {
            this.skip(SKIP_CAPLEN, base + pos, capLen, len);
            break;
          }
          // The 64-bit timestamp is signed here (pre-1970 captures exist): high word signed,
          // low word unsigned, combined without going through a lossy 64-bit double.
          const micros = this.toMicros(ifId, this.i32(buf, pos + 12), this.u32(buf, pos + 16));
          this.lastMicros = micros;
          this.packets++;
          onPacket(buf, pos + 28, capLen, this.u32(buf, pos + 24), micros, this.ifLinktype[ifId]!);
          break;
        }
        case BT_SPB: {
          if (this.ifCount === 0 || len < 16) {
            this.skip(this.ifCount === 0 ? SKIP_SPB_NO_IFACE : SKIP_SHORT, base + pos, len, 0);
            break;
          }
          const wireLen = this.u32(buf, pos + 8);
          const body = len - 16;
          this.packets++;
          onPacket(buf, pos + 12, wireLen < body ? wireLen : body, wireLen, this.lastMicros, this.ifLinktype[0]!);
          break;
        }
        case BT_IDB:
          if (len < 20) this.skip(SKIP_SHORT_IDB, base + pos, len, 0);
          else this.addInterface(buf, pos, len);
          break;
        case PCAPNG_SHB_TYPE: {
          if (len < PCAPNG_MIN_SHB_BYTES) {
            this.stop(`section header at byte ${base + pos} is only ${len} bytes`);
            return pos;
          }
          const major = this.u16(buf, pos + 12);
          const minor = this.u16(buf, pos + 14);
          if (!(major === 1 && (minor === 0 || minor === 2))) {
            this.stop(`section at byte ${base + pos} has unsupported pcapng version ${major}.${minor}`);
            return pos;
          }
          this.ifCount = 0; // interface ids restart in every section
          break;
        }
        default:
          // NRB, ISB, DSB, custom (0x00000BAD, 0x40000BAD), and anything newer: not needed
          // for flows; the length framing lets us step over them.
          break;
      }
      pos += len;
    }
    this.need = BLOCK_OVERHEAD;
    return pos;
  }

  private addInterface(buf: Buffer, pos: number, len: number): void {
    const i = this.ifCount;
    if (i === this.ifLinktype.length) this.growInterfaces();
    this.ifLinktype[i] = this.u16(buf, pos + 8);
    let tsresol = 6; // default 10^-6 (pcapng §4.2 if_tsresol)
    let offsetSeconds = 0;
    let o = pos + 16;
    const optEnd = pos + len - 4;
    while (optEnd - o >= 4) {
      const code = this.u16(buf, o);
      const olen = this.u16(buf, o + 2);
      if (code === OPT_END || o + 4 + olen > optEnd) break; // damaged options: keep defaults
      if (code === OPT_IF_TSRESOL && olen >= 1) tsresol = buf[o + 4]!;
      else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        offsetSeconds = this.i32(buf, this.le ? o + 8 : o + 4) * TWO_32 + this.u32(buf, this.le ? o + 4 : o + 8);
      }
      o += 4 + ((olen + 3) & ~3);
    }
    this.ifOffset[i] = offsetSeconds * 1e6;
    const exp = tsresol & 0x7f;
    if (tsresol & 0x80) {
      // power-of-two resolution 2^-exp
      this.ifTsKind[i] = TS_MULTIPLY;
      this.ifMul[i] = 1e6 / 2 ** exp;
    } else if (exp <= 6) {
      this.ifTsKind[i] = TS_MULTIPLY;
      this.ifMul[i] = 10 ** (6 - exp);
    } else {
      const d = 10 ** (exp - 6);
      const q = Math.floor(TWO_32 / d);
      this.ifTsKind[i] = TS_DIVIDE;
      this.ifDiv[i] = d;
      this.ifQ[i] = q;
      this.ifR[i] = TWO_32 - q * d;
    }
    this.ifCount = i + 1;
  }

  /**
   * 64-bit timestamp (high signed, low unsigned) in interface units -> microseconds.
   * A nanosecond timestamp of today is about 1.7e18, beyond 2^53: adding the words as
   * doubles would lose up to 256 ns and could floor to the wrong microsecond. Splitting
   * 2^32 = q*d + r keeps every step an exact integer for d up to 1e9 (picoseconds).
   */
  private toMicros(i: number, high: number, low: number): number {
    if (this.ifTsKind[i] === TS_DIVIDE) {
      const d = this.ifDiv[i]!;
      return high * this.ifQ[i]! + Math.floor((high * this.ifR[i]! + low) / d) + this.ifOffset[i]!;
    }
    return Math.floor((high * TWO_32 + low) * this.ifMul[i]!) + this.ifOffset[i]!;
  }

  private growInterfaces(): void {
    const n = this.ifLinktype.length * 2;
    const grow = <T extends Int32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.ifLinktype = grow(this.ifLinktype, (k) => new Int32Array(k));
    this.ifTsKind = grow(this.ifTsKind, (k) => new Uint8Array(k));
    this.ifDiv = grow(this.ifDiv, (k) => new Float64Array(k));
    this.ifQ = grow(this.ifQ, (k) => new Float64Array(k));
    this.ifR = grow(this.ifR, (k) => new Float64Array(k));
    this.ifMul = grow(this.ifMul, (k) => new Float64Array(k));
    this.ifOffset = grow(this.ifOffset, (k) => new Float64Array(k));
  }

  summary(): string | null {
    if (this.skippedBlocks === 0) return null;
    return `${this.name}: ${this.skippedBlocks} malformed packet block(s) skipped (first: ${this.firstSkip})`;
  }
}
