/**
 * IPFIX export against a real collector: nfcapd (Debian's nfdump 1.7) listens on loopback,
 * `tapaudit replay --ipfix` exports a shared capture to it, and `nfdump -o json` must show
 * the flows of the NDJSON flow log: the same count, packets and bytes in total, and flow by
 * flow the same endpoints, per-direction counters, times, union TCP flags, VLAN and ICMP
 * type/code. nfdump 1.7 keeps an RFC 5103 biflow as ONE record: the forward counters are
 * its in_packets/in_bytes, the reverse elements its out_packets/out_bytes (docs/ipfix.md).
 *
 * Needs nfcapd/nfdump (apt-get install nfdump; .ci/run installs it): skipped with a printed
 * reason elsewhere, a failure under CI=true.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT, capturePath, describeShared } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');
const haveNfdump = spawnSync('nfcapd', ['-V'], { encoding: 'utf8' }).status === 0 && spawnSync('nfdump', ['-V']).status === 0;
if (!haveNfdump) {
  if (process.env.CI === 'true') throw new Error('nfcapd/nfdump missing: CI installs the nfdump package (.ci/run)');
  console.warn('[tapaudit tests] skipping the nfcapd IPFIX test: nfcapd/nfdump not installed (apt-get install nfdump)');
}
const describeNfdump = (haveNfdump ? describeShared : describeShared.skip) as typeof describeShared;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-ipfix-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A UDP port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  const port = await new Promise<number>((r) => s.bind(0, '127.0.0.1', () => r(s.address().port)));
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Whether something has bound 127.0.0.1:port for UDP (Linux /proc/net/udp, hex, host order). */
function udpBound(port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return fs.readFileSync('/proc/net/udp', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1] === want);
}

/**
 * Waits until nothing is left unread in the receive queue of 127.0.0.1:port (/proc/net/udp
 * "tx_queue:rx_queue", hex). nfcapd does not read what is still queued once SIGTERM
 * arrives, so on a busy machine stopping it right after the replay lost records that had
 * been delivered.
 */
async function udpDrained(port: number): Promise<void> {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const row = fs.readFileSync('/proc/net/udp', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[1] === want);
    if (!row || parseInt(row[4]!.split(':')[1]!, 16) === 0 || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startNfcapd(dir: string, port: number): Promise<{ child: ChildProcess; log: () => string }> {
  let out = '';
  // -w: output directory (1.7 names it -w; -l is the older spelling); -b: bind address;
  // no -D, so it stays our child and SIGTERM makes it flush its file and exit.
  // -B: an 8 MiB socket buffer, as docs/ipfix.md tells operators. With the default 208 KiB
  // (about 90 datagrams, 4.5 ms at the 20,000 messages/s pacer) a CI run lost 657 of the
  // 10,004 end-of-run records while the other test files kept both cores busy and nfcapd
  // was not scheduled in time ("Sequence Errors: 1"). 8 MiB holds that whole burst.
  const child = spawn('nfcapd', ['-w', dir, '-p', String(port), '-b', '127.0.0.1', '-B', String(8 << 20)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 10_000;
  while (!udpBound(port)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nfcapd did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, log: () => out };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  // 'close', not 'exit': its summary line must have come through the pipe.
  const done = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  child.kill('SIGTERM');
  return done;
}

// nfdump prints flags as 8 positions "CEUAPRSF" with '.' for unset bits.
function nfdumpFlags(bits: number): string {
  return 'CEUAPRSF'.split('').map((c, i) => (bits & (0x80 >> i) ? c : '.')).join('');
}
const FLAG_BIT: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32, E: 64, C: 128 };
const flagBits = (letters: string) => [...letters].reduce((b, c) => b | FLAG_BIT[c]!, 0);
const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmp6: 58 };
const END_REASON_TEXT: Record<string, string> = {
  idle: 'idle timeout', active: 'active timeout', fin: 'end of Flow detected', rst: 'end of Flow detected',
  shutdown: 'forced end', capacity: 'lack of resources',
};
/** Milliseconds of an NDJSON time ("...:05.123456Z"), truncated as the exporter does. */
const ms = (iso: string) => Math.floor(Date.parse(iso.slice(0, 23) + 'Z'));
/** nfdump prints local time without a zone; TZ=UTC is set for it below. */
const nfMs = (t: string) => Date.parse(t + 'Z');

// bench/pcpp__example: TCP/UDP browsing; many-protocols: IPv6, 802.1Q and QinQ, ICMP;
// 1kxun: IPv6 + IPv4 mix; portScan: 10,004 flows ending at once at shutdown (the paced
// flush); esnet tcp: VLAN 943 on every frame.
const CAPTURES = [
  'bench/pcpp__example.pcap',
  'bench/pcpp__many-protocols.pcap',
  'bench/ndpi__1kxun.pcap',
  'detection/sgr__portScan_1_to_10000.pcapng',
  'detection/esnet__tcp_0_1000_20190821.pcap',
];

describeNfdump('IPFIX export into nfcapd (nfdump 1.7)', () => {
  for (const capture of CAPTURES) {
    it(`nfdump shows the flows of the flow log: ${capture}`, async () => {
      const work = fs.mkdtempSync(path.join(tmp, 'run-'));
      const dir = path.join(work, 'nfcapd');
      fs.mkdirSync(dir);
      const port = await freePort();
      const { child, log } = await startNfcapd(dir, port);
      let r;
      try {
        const flowsFile = path.join(work, 'flows.ndjson');
        const statsFile = path.join(work, 'stats.json');
        r = spawnSync(process.execPath, [CLI, 'replay', capturePath(capture), '--flows', flowsFile, '--stats', statsFile,
          '--ipfix', `127.0.0.1:${port}`, '--ipfix-domain', '42', '-q'], { encoding: 'utf8' });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        await udpDrained(port);
        expect(await stop(child)).toBe(0);

        const flows = fs.readFileSync(flowsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        const stats = JSON.parse(fs.readFileSync(statsFile, 'utf8'));
        expect(stats.ipfix).toMatchObject({ records_sent: flows.length, records_lost: 0, send_errors: 0 });
        expect(log()).toMatch(/Observation domain 42 from: 127\.0\.0\.1/);
        expect(log()).toMatch(new RegExp(`Flows: ${flows.length}, .*Sequence Errors: 0`));

        const env = { ...process.env, TZ: 'UTC' };
        const nf = spawnSync('nfdump', ['-R', dir, '-o', 'json'], { encoding: 'utf8', env, maxBuffer: 256 << 20 });
        expect(nf.status).toBe(0);
        const records: Record<string, any>[] = JSON.parse(nf.stdout);

        // Totals: nfdump's biflow = in (forward) + out (reverse elements).
        const sum = (xs: Record<string, any>[], f: (x: Record<string, any>) => number) => xs.reduce((a, x) => a + f(x), 0);
        expect(records.length).toBe(flows.length);
        expect(sum(records, (x) => x.in_packets + x.out_packets)).toBe(sum(flows, (f) => f.pkts_toserver + f.pkts_toclient));
        expect(sum(records, (x) => x.in_bytes + x.out_bytes)).toBe(sum(flows, (f) => f.bytes_toserver + f.bytes_toclient));
        expect(sum(flows, (f) => f.pkts_toserver + f.pkts_toclient)).toBe(stats.flow_packets);

        // Flow by flow: the same multiset of records.
        const fromLog = flows.map((f) => {
          const icmp = f.proto === 'icmp' || f.proto === 'icmp6';
          return [f.src_ip, f.dst_ip, PROTO[f.proto] ?? Number(f.proto),
            icmp ? `icmp ${f.icmp_type}.${f.icmp_code}` : `${f.src_port}>${f.dst_port} ${nfdumpFlags(flagBits(f.tcp_flags))}`,
            f.pkts_toserver, f.bytes_toserver, f.pkts_toclient, f.bytes_toclient,
            ms(f.start), ms(f.end), f.vlan[0] ?? 0].join(' ');
        }).sort();
        const fromNfdump = records.map((x) => {
          const icmp = x.proto === 1 || x.proto === 58;
          return [x.src4_addr ?? x.src6_addr, x.dst4_addr ?? x.dst6_addr, x.proto,
            icmp ? `icmp ${x.icmp_type}.${x.icmp_code}` : `${x.src_port}>${x.dst_port} ${x.tcp_flags}`,
            x.in_packets, x.in_bytes, x.out_packets, x.out_bytes, nfMs(x.first), nfMs(x.last), x.src_vlan].join(' ');
        }).sort();
        expect(fromNfdump).toEqual(fromLog);

        // flowEndReason: only the raw format shows it in 1.7.
        const raw = spawnSync('nfdump', ['-R', dir, '-o', 'raw'], { encoding: 'utf8', env, maxBuffer: 512 << 20 });
        const nfReasons: Record<string, number> = {};
        for (const m of raw.stdout.matchAll(/end reason\s+=\s+0x0\d (.+)/g)) nfReasons[m[1]!.trim()] = (nfReasons[m[1]!.trim()] ?? 0) + 1;
        const logReasons: Record<string, number> = {};
        for (const f of flows) logReasons[END_REASON_TEXT[f.end_reason]!] = (logReasons[END_REASON_TEXT[f.end_reason]!] ?? 0) + 1;
        expect(nfReasons).toEqual(logReasons);
      } finally {
        await stop(child);
      }
    });
  }
});
