/**
 * The scan / P2P / flood rules on the shared real captures (ground truth in MANIFEST.tsv):
 * the positives raise the expected rule from the expected source with the evidence the
 * manifest describes; the negative controls raise none of these rules. (The full
 * acceptance table for every detector is the golden test's job.)
 */
import { expect, it } from 'vitest';
import { capturePath, describeShared } from '../helpers/shared.js';
import { replayCapture } from '../helpers/replay.js';

type Alert = Record<string, any>;
const mine = (alerts: Alert[]) => alerts.filter((a) => /^(scan|p2p|flood)\./.test(a.rule.id));
const ids = (alerts: Alert[]) => [...new Set(mine(alerts).map((a) => `${a.rule.id}@${a.source.ip}`))].sort();
const replay = async (file: string) => (await replayCapture(capturePath(`detection/${file}`))).alerts;

describeShared('scan, p2p and flood rules on real captures', () => {
  it('vertical SYN scan 1-10000: one scan.port, final size capped and said so, open ports from the scanner RSTs', async () => {
    const alerts = mine(await replay('sgr__portScan_1_to_10000.pcapng'));
    expect(ids(alerts)).toEqual(['scan.port@192.168.1.7']);
    const last = alerts.at(-1)!;
    expect(last.destination.ip).toBe('192.168.1.1');
    expect(last.tapaudit.same_src_port.port).toBe(41859);
    expect(last.tapaudit.open_ports).toEqual(expect.arrayContaining([53, 80, 443, 1990, 8200]));
    expect(last.message).toMatch(/probed at least 4096 ports on 192\.168\.1\.1/);
  });

  it('masscan TCP and UDP 0-1000: scan.port from 172.31.15.102', async () => {
    for (const f of ['esnet__tcp_0_1000_20190821.pcap', 'esnet__udp_0_1000_20190821.pcap']) {
      const alerts = mine(await replay(f));
      expect(ids(alerts)).toEqual(['scan.port@172.31.15.102']);
      expect(alerts.at(-1)!.tapaudit.ports).toBeGreaterThanOrEqual(990);
    }
  });

  it('SYN, ACK, UDP and ICMP sweeps: scan.address', async () => {
    const cases: [string, string, number | undefined, number][] = [
      ['sgr__hs-tcp_synPingSweepRand.pcapng', '10.0.0.128', 80, 250],
      ['sgr__hs-tcp_ackPingSweepRand.pcapng', '10.0.0.128', 80, 256],
      ['sgr__hs-udpScan.pcap', '246.237.45.150', 40125, 96],
      ['sgr__hs-icmpScan.pcapng', '10.0.0.128', undefined, 250],
    ];
    for (const [file, src, port, hosts] of cases) {
      const alerts = mine(await replay(file));
      expect(ids(alerts), file).toEqual([`scan.address@${src}`]);
      expect(alerts[0]!.destination?.port, file).toBe(port);
      expect(alerts.at(-1)!.tapaudit.targets, file).toBeGreaterThanOrEqual(hosts);
    }
  });

  it('Gnutella client: p2p.activity, no scan, no flood', async () => {
    const alerts = mine(await replay('ndpi__gnutella.pcap'));
    expect(ids(alerts)).toEqual(['p2p.activity@10.0.2.15']);
    expect(alerts[0]!.event.severity).toBe(1);
  });

  it('spoofed SYN flood: flood.spoofed-source on 10.10.10.10:25565, no scan', async () => {
    const alerts = mine(await replay('stop__pkt.TCP.synflood.spoofed.pcap'));
    expect(ids(alerts).every((r) => r.startsWith('flood.spoofed-source@'))).toBe(true);
    expect(alerts[0]!.destination).toEqual({ ip: '10.10.10.10', port: 25565 });
    expect(alerts[0]!.tapaudit.spread).toBe('random');
  });

  it('negative controls raise none of these rules', async () => {
    for (const f of [
      'slips__malicious-ssh-bruteforce.pcap', 'esnet__two_way_all_flags.pcap', 'cs__http_espn.pcapng',
      'zeek__workshop_2011_browse.pcap', 'trace__win_trace1.pcap', 'sgr__hs-sh-IPscan.pcapng',
    ]) {
      expect(ids(await replay(f)), f).toEqual([]);
    }
  });
});
