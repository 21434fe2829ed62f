/**
 * Every capture in ../shared/captures/formats/ through openCaptureFiles: packet counts,
 * link types per packet, timestamps, gzip, several files in one run, stop(), and the
 * user errors for files that are not captures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openCaptureFiles } from '../../src/capture/file-source.js';
import { UserError, EXIT_BAD_INPUT } from '../../src/util/errors.js';
import { capturePath, describeShared, manifest } from '../helpers/shared.js';
import { byLinktype, epochTextToMicros, firstDifference, runAll } from './collect.js';

/**
 * Packet counts from `capinfos -c` (Wireshark 4, run on this machine on each file), which
 * agree with the counts in MANIFEST.tsv's ground_truth. Files that must be rejected: null.
 */
const CAPINFOS_COUNT: Record<string, number | null> = {
  'formats/ndpi__nano.pcapng': 6,
  'formats/pcapngtg-be__test001.pcapng': 4,
  'formats/pcapngtg-le__test010.pcapng': 4,
  'formats/pcapngtg-le__test100.pcapng': 5,
  'formats/pcapngtg-le__test101.pcapng': 4,
  'formats/pcapngtg-le__test102.pcapng': 5,
  'formats/pcapngtg-le__test201.pcapng': 4,
  'formats/pcapngtg-le__test202.pcapng': 8,
  'formats/pcpp__VlanPackets.pcap': 26,
  'formats/pcpp__ip4_fragments.pcap': 53,
  'formats/pcpp__ip6_fragments.pcap': 36,
  'formats/pcpp__ipv6_options.pcap': 6,
  'formats/pcpp__many_interfaces-1.pcapng': 64,
  'formats/pcpp__nanosecs_big_endian.pcap': 10,
  'formats/pcpp__null_loopback.pcap': 3,
  'formats/pcpp__pcapng-example.pcapng': 159,
  'formats/pcpp__pcapng-example.pcapng.zst': null, // zstd: rejected (capinfos: 159)
  'formats/pcpp__raw_ip.pcap': 100,
  'formats/pcpp__sll.pcap': 518,
  'formats/pcpp__sll2.pcap': 3,
  'formats/pcpp__solaris.snoop': null, // snoop: rejected (capinfos: 250)
  'formats/pcpp__too_many_interfaces.pcapng': 1,
  'formats/td__802.1ad_QinQ.pcap': 2,
  'formats/td__LINKTYPE_IPV4.pcap': 1,
  'formats/td__LINKTYPE_IPV6.pcap': 1,
  'formats/td__empty.pcap': 0,
  'formats/td__empty.pcapng': 0,
  'formats/td__ipv6-routing-header.pcap': 4,
  'formats/td__pptp.pcap': 23,
  'formats/td__tcp-handshake-nano.pcap': 3,
  'formats/td__time_2038.pcap': 1,
  'formats/td__time_2106.pcap': 1,
  'formats/td__time_2107.pcapng': 1,
  'formats/trace__traceroute-frag.pcap': 185,
  'formats/zeek__1000-requests-one-dropped-response.pcap.gz': 4102,
  'formats/zeek__get-to-ssh-server.pcap': 9,
  'formats/zeek__http-qinq-0.pcap': 14,
  'formats/zeek__http-vlan-0.pcap': 14,
  'formats/zeek__ipv6-hbh-routing0.pcap': 1,
  'formats/zeek__linux_dlt_sll2.pcap': 6,
  'formats/zeek__mixed-vlan-mpls.pcap': 47,
  'formats/zeek__pcapng-multi-interface.pcapng': 6,
  'formats/zeek__vlan-qinqinq.pcap': 14,
};

/** First packet's frame.time_epoch from `tshark -T fields -e frame.time_epoch` (ns files). */
const TSHARK_FIRST_EPOCH: Record<string, string> = {
  'formats/ndpi__nano.pcapng': '1721295318.976755289',
  'formats/zeek__pcapng-multi-interface.pcapng': '1767663089.500330493',
  'formats/pcpp__nanosecs_big_endian.pcap': '1766361926.167647291',
  'formats/zeek__get-to-ssh-server.pcap': '1770126425.732560000',
  'formats/td__tcp-handshake-nano.pcap': '1418145369.924505488',
  'formats/pcpp__pcapng-example.pcapng': '1422527998.578402281',
};

async function expectUserError(paths: string[], code: string, ...mustContain: string[]): Promise<UserError> {
  let err: unknown;
  try {
    openCaptureFiles(paths);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  const ue = err as UserError;
  expect(ue.code).toBe(code);
  expect(ue.exitCode).toBe(EXIT_BAD_INPUT);
  expect(ue.message).not.toContain('\n');
  for (const s of mustContain) expect(ue.message).toContain(s);
  return ue;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-capture-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describeShared('formats/ captures', () => {
  const rows = manifest('formats/');

  it('the count table covers every formats/ file in the manifest', () => {
    expect(rows.map((r) => r.file).sort()).toEqual(Object.keys(CAPINFOS_COUNT).sort());
  });

  for (const row of rows) {
    const expected = CAPINFOS_COUNT[row.file];
    if (expected === null) {
      it(`${row.file} is rejected with a UserError naming it`, async () => {
        const code = row.file.endsWith('.zst') ? 'E_COMPRESSED' : 'E_NOT_CAPTURE';
        await expectUserError([capturePath(row.file)], code, path.basename(row.file));
      });
    } else {
      it(`${row.file}: ${expected} packets, as capinfos counts`, async () => {
        const src = openCaptureFiles([capturePath(row.file)]);
        const pkts = await runAll(src);
        expect(pkts.length).toBe(expected);
        expect(src.warnings).toEqual([]);
        for (const p of pkts) {
          expect(p.capLen).toBeLessThanOrEqual(262144);
          expect(Number.isFinite(p.ts)).toBe(true);
        }
        expect(src.progress()).toEqual({ done: row.bytes, total: row.bytes });
      });
    }
  }

  it('the snoop message says how to convert it', async () => {
    await expectUserError([capturePath('formats/pcpp__solaris.snoop')], 'E_NOT_CAPTURE', 'Solaris snoop', 'editcap -F pcap');
  });

  it('the zstd message says how to decompress it', async () => {
    await expectUserError([capturePath('formats/pcpp__pcapng-example.pcapng.zst')], 'E_COMPRESSED', 'zstd -d');
  });

  it('a bad file anywhere in the list fails before any packet is read', async () => {
    await expectUserError([capturePath('formats/td__pptp.pcap'), capturePath('formats/pcpp__solaris.snoop')], 'E_NOT_CAPTURE', 'solaris.snoop');
  });

  describe('link types per packet on multi-interface files (tshark frame.interface_id / encap)', () => {
    it('pcapng-example: IDB0 Ethernet for packets 1-59, IDB1 Linux SLL (113) for 60-159', async () => {
      const pkts = await runAll(openCaptureFiles([capturePath('formats/pcpp__pcapng-example.pcapng')]));
      expect(pkts.slice(0, 59).every((p) => p.linktype === 1)).toBe(true);
      expect(pkts.slice(59).every((p) => p.linktype === 113)).toBe(true);
      expect(byLinktype(pkts)).toEqual({ 1: 59, 113: 100 });
    });

    it('many_interfaces: packets 3 and 4 on interface 10 (NULL), the rest Ethernet', async () => {
      const pkts = await runAll(openCaptureFiles([capturePath('formats/pcpp__many_interfaces-1.pcapng')]));
      expect(pkts.map((p) => p.linktype).slice(0, 6)).toEqual([1, 1, 0, 0, 1, 1]);
      expect(byLinktype(pkts)).toEqual({ 0: 2, 1: 62 });
    });

    it('test202: three sections LE/BE/LE, interface ids restart per section', async () => {
      const pkts = await runAll(openCaptureFiles([capturePath('formats/pcapngtg-le__test202.pcapng')]));
      // tshark, custom blocks left out: encap 1,1,15(NULL),1(SPB),1,1,1(SPB),15
      expect(pkts.map((p) => p.linktype)).toEqual([1, 1, 0, 1, 1, 1, 1, 0]);
      // Packets with an EPB timestamp (tshark): 1340954905.298858 and .301858 for the NULL ones.
      expect(pkts[0]!.ts).toBe(1340954905298858);
      expect(pkts[2]!.ts).toBe(1340954905301858);
      expect(pkts[7]!.ts).toBe(1340954905301858);
      // SPB (no timestamp) carries the last timestamp seen.
      expect(pkts[3]!.ts).toBe(pkts[2]!.ts);
    });

    it('test010: SPB-only file gets timestamp 0 and interface 0 link type', async () => {
      const pkts = await runAll(openCaptureFiles([capturePath('formats/pcapngtg-le__test010.pcapng')]));
      expect(pkts.map((p) => [p.ts, p.linktype])).toEqual([[0, 1], [0, 1], [0, 1], [0, 1]]);
      for (const p of pkts) expect(p.capLen).toBeLessThanOrEqual(p.wireLen);
    });

    it('zeek multi-interface: nanosecond IDB0 and microsecond IDB1 on one time line', async () => {
      const pkts = await runAll(openCaptureFiles([capturePath('formats/zeek__pcapng-multi-interface.pcapng')]));
      for (const p of pkts) expect(p.ts).toBeGreaterThan(1.7e15);
      for (const p of pkts) expect(p.ts).toBeLessThan(1.8e15);
    });
  });

  describe('timestamps', () => {
    for (const [file, epoch] of Object.entries(TSHARK_FIRST_EPOCH)) {
      it(`${file}: first packet at tshark's ${epoch} (floored to µs)`, async () => {
        const pkts = await runAll(openCaptureFiles([capturePath(file)]));
        expect(pkts[0]!.ts).toBe(epochTextToMicros(epoch));
      });
    }

    it('pcapng-example IDB1: 64-bit timestamps are signed (tshark shows them unsigned as 18446744073204.126329)', async () => {
      const pkts = await runAll(openCaptureFiles([capturePath('formats/pcpp__pcapng-example.pcapng')]));
      // 18446744073204126329 µs unsigned = 2^64 - 505425287 -> -505425287 µs.
      expect(pkts[59]!.ts).toBe(-505425287);
    });

    it('time_2038 / time_2106: ts_sec is unsigned 32-bit', async () => {
      const p38 = await runAll(openCaptureFiles([capturePath('formats/td__time_2038.pcap')]));
      expect(new Date(p38[0]!.ts / 1000).toISOString()).toBe('2038-01-01T00:00:00.000Z');
      const p106 = await runAll(openCaptureFiles([capturePath('formats/td__time_2106.pcap')]));
      expect(p106[0]!.ts).toBe(4291747200 * 1e6);
      expect(new Date(p106[0]!.ts / 1000).getUTCFullYear()).toBe(2106);
    });

    it('time_2107.pcapng: 64-bit EPB timestamp reads as 2107', async () => {
      const pkts = await runAll(openCaptureFiles([capturePath('formats/td__time_2107.pcapng')]));
      expect(pkts[0]!.ts).toBe(4323283200 * 1e6);
      expect(new Date(pkts[0]!.ts / 1000).getUTCFullYear()).toBe(2107);
    });
  });

  describe('gzip', () => {
    const gz = capturePath('formats/zeek__1000-requests-one-dropped-response.pcap.gz');

    it('the shared .pcap.gz gives the same packets as its gunzipped content', async () => {
      const viaGz = await runAll(openCaptureFiles([gz]));
      expect(viaGz.length).toBe(4102);
      const plain = path.join(tmp, 'gunzipped.pcap');
      fs.writeFileSync(plain, zlib.gunzipSync(fs.readFileSync(gz)));
      const viaPlain = await runAll(openCaptureFiles([plain]));
      expect(firstDifference(viaGz, viaPlain)).toBe('');
    });

    it('a gzipped pcapng gives the same packets as the plain file', async () => {
      const orig = capturePath('formats/pcpp__pcapng-example.pcapng');
      const gzPath = path.join(tmp, 'example.pcapng.gz');
      fs.writeFileSync(gzPath, zlib.gzipSync(fs.readFileSync(orig)));
      const a = await runAll(openCaptureFiles([orig]));
      const src = openCaptureFiles([gzPath]);
      const b = await runAll(src);
      expect(firstDifference(b, a)).toBe('');
      expect(src.warnings).toEqual([]);
      expect(src.progress().done).toBe(fs.statSync(gzPath).size);
    });

    it('a truncated gzip gives a warning and the packets before the damage', async () => {
      const full = await runAll(openCaptureFiles([gz]));
      const bytes = fs.readFileSync(gz);
      const cut = path.join(tmp, 'cut.pcap.gz');
      fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const src = openCaptureFiles([cut]);
      const got = await runAll(src);
      expect(got.length).toBeGreaterThan(0);
      expect(got.length).toBeLessThan(4102);
      expect(firstDifference(got, full.slice(0, got.length))).toBe('');
      expect(src.warnings.length).toBe(1);
      expect(src.warnings[0]!.where).toBe(cut);
      expect(src.warnings[0]!.message).toMatch(/gzip stream is damaged or cut short/);
    });

    it('a corrupt gzip body (bytes flipped) ends that file with a warning, not a crash', async () => {
      const bytes = Buffer.from(fs.readFileSync(gz));
      for (let i = 20000; i < 20100; i++) bytes[i] = bytes[i]! ^ 0x5a;
      const bad = path.join(tmp, 'corrupt.pcap.gz');
      fs.writeFileSync(bad, bytes);
      const src = openCaptureFiles([bad]);
      const got = await runAll(src);
      expect(got.length).toBeLessThan(4102);
      expect(src.warnings.length).toBeGreaterThan(0);
    });
  });

  describe('several files in one run', () => {
    const files = ['formats/td__pptp.pcap', 'formats/pcpp__pcapng-example.pcapng', 'formats/zeek__1000-requests-one-dropped-response.pcap.gz', 'formats/td__empty.pcap', 'formats/pcpp__nanosecs_big_endian.pcap'].map(capturePath);

    it('reads them in the order given, as one stream', async () => {
      const each = [];
      for (const f of files) each.push(...(await runAll(openCaptureFiles([f]))));
      const src = openCaptureFiles(files);
      const together = await runAll(src);
      expect(together.length).toBe(23 + 159 + 4102 + 0 + 10);
      expect(firstDifference(together, each)).toBe('');
      const total = files.reduce((s, f) => s + fs.statSync(f).size, 0);
      expect(src.progress()).toEqual({ done: total, total });
      expect(src.name).toContain('td__pptp.pcap');
    });

    it('in reverse order gives the reverse file order', async () => {
      const rev = [...files].reverse();
      const pkts = await runAll(openCaptureFiles(rev));
      expect(pkts.length).toBe(4294);
      expect(pkts.slice(0, 10).every((p) => p.ts > 1.7e15)).toBe(true); // nanosecs_big_endian first
    });

    it('stop() during the first file ends the run after that chunk', async () => {
      const src = openCaptureFiles(files);
      let n = 0;
      await src.run(() => {
        if (++n === 1) src.stop();
      });
      expect(n).toBe(23); // the whole first file is one chunk; the next file is never opened
      expect(src.progress().done).toBeLessThan(src.progress().total);
    });
  });
});

describe('user errors', () => {
  it('missing file', async () => {
    await expectUserError([path.join(tmp, 'nope.pcap')], 'E_NO_FILE', 'nope.pcap');
  });

  it('directory', async () => {
    await expectUserError([tmp], 'E_IS_DIR', tmp);
  });

  it('empty file', async () => {
    const f = path.join(tmp, 'empty.pcap');
    fs.writeFileSync(f, '');
    await expectUserError([f], 'E_EMPTY', 'empty.pcap', '0 bytes');
  });

  it('text file: names the first bytes', async () => {
    const f = path.join(tmp, 'page.pcap');
    fs.writeFileSync(f, '<html><body>not a capture</body></html>\n');
    await expectUserError([f], 'E_NOT_CAPTURE', 'page.pcap', 'starts with bytes 3c 68 74 6d, not a pcap or pcapng magic');
  });

  it('a file cut inside the pcap header', async () => {
    const f = path.join(tmp, 'short.pcap');
    fs.writeFileSync(f, Buffer.from('d4c3b2a102000400000000', 'hex'));
    await expectUserError([f], 'E_NOT_CAPTURE', 'short.pcap', '11 bytes, shorter than a pcap file header');
  });

  it('unreadable file (EACCES)', async () => {
    if (process.getuid?.() === 0) return; // root reads anything: nothing to test
    const f = path.join(tmp, 'secret.pcap');
    fs.copyFileSync(capturePathOr('formats/td__empty.pcap'), f);
    fs.chmodSync(f, 0o000);
    await expectUserError([f], 'E_UNREADABLE', 'secret.pcap');
  });

  it('no file at all', async () => {
    await expectUserError([], 'E_NO_FILE');
  });
});

function capturePathOr(file: string): string {
  const p = capturePath(file);
  if (fs.existsSync(p)) return p;
  // Without ../shared: a 24-byte empty pcap header written here.
  const f = path.join(tmp, 'header-only.pcap');
  fs.writeFileSync(f, Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'));
  return f;
}
