/**
 * Every file in ../shared/captures/malformed/ either replays without throwing (warnings
 * allowed) or is rejected at open with a UserError; no other exception escapes.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { openCaptureFiles } from '../../src/capture/file-source.js';
import { UserError } from '../../src/util/errors.js';
import { capturePath, describeShared, manifest } from '../helpers/shared.js';
import { runAll } from './collect.js';

/** Files rejected at open, and why: each follows what libpcap does with it. */
const REJECTED: Record<string, { code: string; because: string }> = {
  // libpcap sf-pcap.c: major version < 2 -> "archaic pcap savefile format"
  'malformed/lp__pcap-invalid-version-1.pcap': { code: 'E_BAD_VERSION', because: 'archaic pcap version 1.4' },
  // libpcap reads only 2.0-2.4 -> "unsupported pcap savefile version 2.5"
  'malformed/lp__pcap-invalid-version-2.pcap': { code: 'E_BAD_VERSION', because: 'unsupported pcap version 2.5' },
  // libpcap sf-pcapng.c reads SHB 1.0 and 1.2 only
  'malformed/lp__pcapng-invalid-vers-1.pcapng': { code: 'E_BAD_VERSION', because: 'unsupported pcapng version 0.1' },
  'malformed/lp__pcapng-invalid-vers-2.pcapng': { code: 'E_BAD_VERSION', because: 'unsupported pcapng version 1.1' },
  // the first SHB's length and trailer disagree: libpcap fails to open it too
  'malformed/lp__shb-option-too-long.pcapng': { code: 'E_DAMAGED', because: 'does not match its trailer' },
};

/** Files that replay but end early, with the warning they must give. */
const WARNED: Record<string, { packets: number; warning: RegExp }> = {
  // 1 record, then a 2-byte scrap of a record header (tcpdump: "truncated dump file")
  'malformed/ndpi__fuzz-2021-10-13.pcap': { packets: 1, warning: /truncated record at byte 237 \(capture cut short\); 1 packets read/ },
};

/**
 * Packet counts from `capinfos -c` for files that do not hold exactly 1 record (every other
 * replayed file does). linktype-reserved-field-not-zero: capinfos refuses the link type; the
 * file is a bare 24-byte header, so 0.
 */
const PACKETS_IF_NOT_1: Record<string, number> = {
  'malformed/lp__linktype-reserved-field-not-zero.pcap': 0,
  'malformed/ndpi__ip_fragmented_garbage.pcap': 1252,
  'malformed/pcpp__ipv4-malformed.pcap': 2,
  'malformed/pcpp__tcp-malformed.pcap': 2,
  'malformed/td__icmp-icmp_print-oobr-1.pcap': 3,
  'malformed/td__ipv6-bad-version.pcap': 4,
  'malformed/td__timestamp_invalid_micro.pcap': 3,
  'malformed/td__unsupported-link-type-dbus.pcap': 2,
  'malformed/zeek__icmp-header-trunc.pcap': 2,
};

describeShared('malformed/ captures', () => {
  const rows = manifest('malformed/');

  it('the lists name real files', () => {
    const names = new Set(rows.map((r) => r.file));
    for (const f of [...Object.keys(REJECTED), ...Object.keys(WARNED)]) expect(names.has(f)).toBe(true);
  });

  for (const row of rows) {
    const rej = REJECTED[row.file];
    it(`${row.file}: ${rej ? `rejected (${rej.because})` : 'replays'}`, async () => {
      let src;
      try {
        src = openCaptureFiles([capturePath(row.file)]);
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        expect(rej, `unexpected rejection: ${(e as Error).message}`).toBeDefined();
        expect((e as UserError).code).toBe(rej!.code);
        expect((e as UserError).message).toContain(rej!.because);
        expect((e as UserError).message).toContain(row.file.split('/')[1]);
        return;
      }
      expect(rej, 'should have been rejected').toBeUndefined();
      const pkts = await runAll(src);
      const w = WARNED[row.file];
      if (w) {
        expect(pkts.length).toBe(w.packets);
        expect(src.warnings.map((x) => x.message).join('\n')).toMatch(w.warning);
      } else {
        expect(src.warnings).toEqual([]);
        expect(pkts.length).toBe(PACKETS_IF_NOT_1[row.file] ?? 1);
      }
      for (const p of pkts) expect(p.capLen).toBe(p.data.length);
    });
  }

  it('timestamp_invalid_micro: ts_usec >= 1e6 is kept as written, not dropped (3 packets)', async () => {
    const file = capturePath('malformed/td__timestamp_invalid_micro.pcap');
    const pkts = await runAll(openCaptureFiles([file]));
    expect(pkts.length).toBe(3);
    // Read the raw record headers independently (LE microsecond file).
    const raw = fs.readFileSync(file);
    let pos = 24;
    for (let i = 0; i < 3; i++) {
      const sec = raw.readUInt32LE(pos);
      const usec = raw.readUInt32LE(pos + 4);
      expect(pkts[i]!.ts).toBe(sec * 1e6 + usec);
      if (i > 0) expect(usec).toBeGreaterThanOrEqual(1e6); // records 2 and 3 are out of range
      pos += 16 + raw.readUInt32LE(pos + 8);
    }
  });

  it('linktype-reserved-field-not-zero: header only, 0 records (link type = low 16 bits)', async () => {
    const pkts = await runAll(openCaptureFiles([capturePath('malformed/lp__linktype-reserved-field-not-zero.pcap')]));
    expect(pkts.length).toBe(0);
  });

  it('heap-overflow-1: link-type field 0x30300065 reads as LINKTYPE_RAW (101)', async () => {
    const pkts = await runAll(openCaptureFiles([capturePath('malformed/td__heap-overflow-1.pcap')]));
    expect(pkts.map((p) => [p.linktype, p.capLen, p.wireLen])).toEqual([[101, 1, 262144]]);
  });
});
