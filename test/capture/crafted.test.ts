/**
 * Byte-level fixtures built here (no ../shared needed) for the corners the public
 * captures do not cover: if_tsresol powers of 2, if_tsoffset, the obsolete Packet Block,
 * damaged block framing, packet blocks that lie, pcap version quirks, records larger than
 * the chunk buffer, and a fast-check property: any bytes after a valid header never throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { replayBytes } from '../../src/capture/file-source.js';
import { detectFormat } from '../../src/capture/format.js';
import { UserError } from '../../src/util/errors.js';
import { collector } from './collect.js';

const pad4 = (n: number): number => (n + 3) & ~3;

/** pcapng writer for tests; `le` picks the section byte order. */
class Ng {
  private parts: Buffer[] = [];
  constructor(private le = true) {}
  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.le) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    return b;
  }
  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  }
  /** A block: type, total length, body (padded), total length again. */
  block(type: number, body: Buffer, lenOverride?: number, trailerOverride?: number): this {
    const padded = Buffer.concat([body, Buffer.alloc(pad4(body.length) - body.length)]);
    const len = 12 + padded.length;
    this.parts.push(this.u32(type), this.u32(lenOverride ?? len), padded, this.u32(trailerOverride ?? len));
    return this;
  }
  shb(major = 1, minor = 0): this {
    // byte-order magic, version, section length -1
    return this.block(0x0a0d0d0a, Buffer.concat([this.u32(0x1a2b3c4d), this.u16(major), this.u16(minor), Buffer.alloc(8, 0xff)]));
  }
  option(code: number, value: Buffer): Buffer {
    return Buffer.concat([this.u16(code), this.u16(value.length), value, Buffer.alloc(pad4(value.length) - value.length)]);
  }
  idb(linktype: number, options: Buffer[] = []): this {
    const opts = options.length ? Buffer.concat([...options, this.u16(0), this.u16(0)]) : Buffer.alloc(0);
    return this.block(1, Buffer.concat([this.u16(linktype), this.u16(0), this.u32(0), opts]));
  }
  epb(ifId: number, tsHigh: number, tsLow: number, data: Buffer, capLen = data.length, wireLen = data.length): this {
    return this.block(6, Buffer.concat([this.u32(ifId), this.u32(tsHigh), this.u32(tsLow), this.u32(capLen), this.u32(wireLen), data]));
  }
  pb(ifId: number, tsHigh: number, tsLow: number, data: Buffer): this {
    return this.block(2, Buffer.concat([this.u16(ifId), this.u16(0), this.u32(tsHigh), this.u32(tsLow), this.u32(data.length), this.u32(data.length), data]));
  }
  spb(wireLen: number, data: Buffer): this {
    return this.block(3, Buffer.concat([this.u32(wireLen), data]));
  }
  setOrder(le: boolean): this {
    this.le = le;
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Classic pcap writer: magic LE microsecond unless told otherwise. */
function pcap(records: Array<[sec: number, frac: number, cap: number, wire: number, data?: Buffer]>, opts: { magic?: number; major?: number; minor?: number; linkField?: number; recExtra?: number } = {}): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(opts.magic ?? 0xa1b2c3d4, 0);
  h.writeUInt16LE(opts.major ?? 2, 4);
  h.writeUInt16LE(opts.minor ?? 4, 6);
  h.writeUInt32LE(65535, 16);
  h.writeUInt32LE(opts.linkField ?? 1, 20);
  const parts: Buffer[] = [h];
  for (const [sec, frac, cap, wire, data] of records) {
    const r = Buffer.alloc(16 + (opts.recExtra ?? 0));
    r.writeUInt32LE(sec, 0);
    r.writeUInt32LE(frac, 4);
    r.writeUInt32LE(cap, 8);
    r.writeUInt32LE(wire, 12);
    parts.push(r, data ?? Buffer.alloc(Math.min(cap, wire), 0xab));
  }
  return Buffer.concat(parts);
}

function replay(bytes: Buffer, chunk?: number) {
  const c = collector();
  const r = replayBytes('t.cap', bytes, c.onPacket, chunk);
  return { ...r, pkts: c.pkts };
}

function userError(f: () => unknown): UserError {
  try {
    f();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('no UserError');
}

const data = (n: number, fill = 0x11): Buffer => Buffer.alloc(n, fill);

describe('pcapng fixtures', () => {
  it('if_tsresol 2^-10 and 10^-3, if_tsoffset, in both byte orders', () => {
    for (const le of [true, false]) {
      const ng = new Ng(le).shb();
      ng.idb(1, [ng.option(9, Buffer.from([0x8a]))]); // 2^-10 s units
      ng.idb(101, [ng.option(9, Buffer.from([3]))]); // milliseconds
      const off = Buffer.alloc(8);
      if (le) off.writeBigInt64LE(100n);
      else off.writeBigInt64BE(100n);
      ng.idb(0, [ng.option(14, off)]); // µs, +100 s
      ng.epb(0, 0, 3 * 1024 + 512, data(10)); // 3.5 s
      ng.epb(1, 0, 1500, data(20)); // 1.5 s
      ng.epb(2, 0, 7, data(30)); // 7 µs + 100 s
      const r = replay(ng.bytes());
      expect(r.warnings).toEqual([]);
      expect(r.pkts.map((p) => [p.ts, p.linktype, p.capLen])).toEqual([
        [3_500_000, 1, 10],
        [1_500_000, 101, 20],
        [100_000_007, 0, 30],
      ]);
    }
  });

  it('nanosecond EPB timestamps beyond 2^53 convert exactly; negative ones stay negative', () => {
    const ng = new Ng().shb();
    ng.idb(1, [ng.option(9, Buffer.from([9]))]);
    const ns = 1_721_295_318_976_755_289n; // > 2^53
    ng.epb(0, Number(ns >> 32n), Number(ns & 0xffffffffn), data(4));
    const neg = -1_500n; // 1.5 µs before 1970
    const u = BigInt.asUintN(64, neg);
    ng.epb(0, Number(u >> 32n), Number(u & 0xffffffffn), data(4));
    const r = replay(ng.bytes());
    expect(r.pkts[0]!.ts).toBe(1_721_295_318_976_755);
    expect(r.pkts[1]!.ts).toBe(-2); // floor(-1.5)
  });

  it('obsolete Packet Block reads like an EPB; SPB takes the last timestamp and caplen = min(wire, body)', () => {
    const ng = new Ng().shb().idb(113);
    ng.pb(0, 0, 42, data(9));
    ng.spb(5, data(8)); // body padded to 8, wire 5 -> caplen 5
    ng.spb(100, data(12)); // snapped: caplen 12
    const r = replay(ng.bytes());
    expect(r.pkts.map((p) => [p.ts, p.capLen, p.wireLen, p.linktype])).toEqual([
      [42, 9, 9, 113],
      [42, 5, 5, 113],
      [42, 12, 100, 113],
    ]);
  });

  it('unknown, custom, NRB, ISB and DSB blocks are skipped by length', () => {
    const ng = new Ng().shb().idb(1);
    for (const t of [4, 5, 0x0a, 0x00000bad, 0x40000bad, 0x12345678]) ng.block(t, data(13));
    ng.epb(0, 0, 1, data(3));
    const r = replay(ng.bytes(), 16);
    expect(r.pkts.length).toBe(1);
    expect(r.warnings).toEqual([]);
  });

  it('a packet block that lies (bad interface, caplen past the block, before any IDB) is skipped and reported once', () => {
    const ng = new Ng().shb();
    ng.spb(4, data(4)); // before any IDB
    ng.idb(1);
    ng.epb(7, 0, 1, data(4)); // no interface 7
    ng.epb(0, 0, 1, data(4), 400); // caplen 400 in a 48-byte block
    ng.epb(0, 0, 2, data(4));
    const r = replay(ng.bytes());
    expect(r.pkts.map((p) => p.ts)).toEqual([2]);
    expect(r.warnings.length).toBe(1);
    expect(r.warnings[0]).toMatch(/3 malformed packet block\(s\) skipped \(first: simple packet block at byte 28 comes before any interface\)/);
  });

  it('interface ids restart with every section; byte order can change', () => {
    const ng = new Ng(true).shb().idb(1).idb(113).epb(1, 0, 1, data(4));
    ng.setOrder(false).shb().idb(0).epb(0, 0, 2, data(4)).epb(1, 0, 3, data(4));
    const r = replay(ng.bytes());
    expect(r.pkts.map((p) => [p.ts, p.linktype])).toEqual([[1, 113], [2, 0]]);
    expect(r.warnings[0]).toMatch(/names interface 1, the section has 1/);
  });

  it('damaged framing stops the file with a warning and keeps what was read', () => {
    const good = new Ng().shb().idb(1).epb(0, 0, 1, data(4)).bytes();
    const cases: Array<[Buffer, RegExp]> = [
      [new Ng().block(6, data(20), 30).bytes(), /has length 30 \(must be a multiple of 4/],
      [new Ng().block(6, data(20), 8).bytes(), /has length 8 /],
      [new Ng().block(6, data(20), undefined, 36).bytes(), /has length 32 but its trailer says 36/],
      [new Ng().block(6, data(20), 0x7ffffff0).bytes(), /has length 2147483632/],
      [new Ng().shb(1, 1).bytes(), /unsupported pcapng version 1.1/],
    ];
    for (const [tail, msg] of cases) {
      const r = replay(Buffer.concat([good, tail, good]));
      expect(r.pkts.length).toBe(1);
      expect(r.warnings.length).toBe(1);
      expect(r.warnings[0]).toMatch(msg);
      expect(r.warnings[0]).toMatch(/file is damaged; stopped after 1 packets/);
    }
  });

  it('the first SHB is the header: bad version, bad byte-order magic, or cut short is a UserError', () => {
    expect(userError(() => replay(new Ng().shb(2, 0).bytes())).message).toMatch(/t.cap: unsupported pcapng version 2.0/);
    const bom = new Ng().shb().bytes();
    bom.writeUInt32LE(0x11223344, 8);
    expect(userError(() => replay(bom)).message).toMatch(/byte-order magic is 44332211, not 1a2b3c4d/);
    const shb = new Ng().shb().bytes();
    expect(userError(() => replay(shb.subarray(0, 20))).message).toMatch(/20 bytes, shorter than a pcapng section header \(28 bytes\)/);
  });

  it('1.2 sections are read (libpcap treats 1.2 as 1.0)', () => {
    const r = replay(new Ng().shb(1, 2).idb(1).epb(0, 0, 5, data(4)).bytes());
    expect(r.pkts.length).toBe(1);
  });
});

describe('classic pcap fixtures', () => {
  it('records bigger than the chunk buffer grow it', () => {
    const big = data(200_000, 0x5c);
    const bytes = pcap([[1, 2, big.length, big.length, big], [3, 4, 10, 10]]);
    const r = replay(bytes, 1000);
    expect(r.pkts.map((p) => p.capLen)).toEqual([200_000, 10]);
    expect(r.pkts[0]!.data.equals(big)).toBe(true);
  });

  it('caplen above 262144 stops the file as damaged', () => {
    const r = replay(pcap([[1, 0, 4, 4], [2, 0, 300_000, 300_000], [3, 0, 4, 4]]));
    expect(r.pkts.length).toBe(1);
    expect(r.warnings).toEqual(['t.cap: record 2 (at byte 44) has caplen 300000, file is damaged; stopped after 1 records']);
  });

  it('nanosecond magic floors to µs; unsigned seconds; big-endian', () => {
    const le = pcap([[0xfffffff0, 999_999_999, 4, 4]], { magic: 0xa1b23c4d });
    expect(replay(le).pkts[0]!.ts).toBe(0xfffffff0 * 1e6 + 999_999);
    const be = Buffer.from(le);
    // rewrite as big-endian
    be.writeUInt32BE(0xa1b23c4d, 0);
    be.writeUInt16BE(2, 4);
    be.writeUInt16BE(4, 6);
    be.writeUInt32BE(1, 20);
    for (const at of [24, 28, 32, 36]) be.writeUInt32BE(le.readUInt32LE(at), at);
    const r = replay(be);
    expect(r.pkts.map((p) => [p.ts, p.capLen, p.linktype])).toEqual([[0xfffffff0 * 1e6 + 999_999, 4, 1]]);
  });

  it('version 2.2 has caplen and len swapped; 2.3 swaps only when caplen > len (libpcap)', () => {
    // written as (len=60, caplen=20) in the caplen/len slots
    expect(replay(pcap([[1, 0, 60, 20, data(20)]], { minor: 2 })).pkts.map((p) => [p.capLen, p.wireLen])).toEqual([[20, 60]]);
    expect(replay(pcap([[1, 0, 60, 20, data(20)]], { minor: 3 })).pkts.map((p) => [p.capLen, p.wireLen])).toEqual([[20, 60]]);
    expect(replay(pcap([[1, 0, 20, 60, data(20)]], { minor: 3 })).pkts.map((p) => [p.capLen, p.wireLen])).toEqual([[20, 60]]);
  });

  it('Kuznetzov magic: 24-byte record headers', () => {
    const r = replay(pcap([[1, 5, 8, 8], [2, 6, 3, 3]], { magic: 0xa1b2cd34, recExtra: 8 }));
    expect(r.pkts.map((p) => [p.ts, p.capLen])).toEqual([[1_000_005, 8], [2_000_006, 3]]);
  });

  it('link type is the low 16 bits of the header field', () => {
    expect(replay(pcap([[1, 0, 4, 4]], { linkField: 0x30300065 })).pkts[0]!.linktype).toBe(101);
  });

  it('header errors: version, magic, short, foreign formats', () => {
    expect(userError(() => replay(pcap([], { major: 1 }))).code).toBe('E_BAD_VERSION');
    expect(userError(() => replay(pcap([], { minor: 5 }))).message).toBe('t.cap: unsupported pcap version 2.5 (libpcap reads 2.0-2.4); check the file is intact');
    expect(userError(() => replay(pcap([]).subarray(0, 23))).message).toMatch(/23 bytes, shorter than a pcap file header \(24 bytes\)/);
    expect(userError(() => replay(Buffer.from('GET / HTTP/1.1\r\n'))).message).toMatch(/starts with bytes 47 45 54 20, not a pcap or pcapng magic/);
    expect(userError(() => detectFormat('x.xz', Buffer.from('fd377a585a000004', 'hex'), 8)).message).toMatch(/x.xz is xz-compressed/);
    expect(userError(() => replay(Buffer.from([0xd4]))).code).toBe('E_NOT_CAPTURE');
  });
});

describe('property: bytes after a valid header never throw', () => {
  it('pcap', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 300 }), (tail, chunk) => {
        const r = replay(Buffer.concat([pcap([]), tail]), chunk);
        for (const p of r.pkts) expect(p.data.length).toBe(p.capLen);
      }),
      { numRuns: 300 },
    );
  });

  it('pcapng', () => {
    const head = new Ng().shb().idb(1).bytes();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 300 }), (tail, chunk) => {
        const r = replay(Buffer.concat([head, tail]), chunk);
        for (const p of r.pkts) expect(p.data.length).toBe(p.capLen);
      }),
      { numRuns: 300 },
    );
  });
});
