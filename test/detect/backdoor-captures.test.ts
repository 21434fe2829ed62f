/**
 * backdoor.port, icmp.* and policy.server-port on the real captures of ../shared, through
 * the whole pipeline (ground truth: shared/captures/MANIFEST.tsv).
 */
import { expect, it } from 'vitest';
import { capturePath, describeShared } from '../helpers/shared.js';
import { replayCapture } from '../helpers/replay.js';

const rule = (a: Record<string, any>) => a.rule.id as string;

describeShared('backdoor.port on real captures', () => {
  it.each([
    ['detection/ndpi__portable_executable.pcap', '172.16.99.201', '64.227.107.71', 4444, 4],
    ['detection/ndpi__http-lines-split.pcap', '192.168.0.1', '192.168.0.20', 31337, 4],
    ['detection/zeek__timestamp.pcap', '192.168.1.10', '192.168.2.20', 12345, 4],
  ])('%s: initiator %s -> %s:%i, severity %i', async (file, src, dst, port, severity) => {
    const { alerts } = await replayCapture(capturePath(file));
    const hits = alerts.filter((a) => rule(a) === 'backdoor.port');
    expect(hits).toHaveLength(1);
    expect(hits[0].source.ip).toBe(src);
    expect(hits[0].destination).toEqual({ ip: dst, port });
    expect(hits[0].event.severity).toBe(severity);
  });

  it.each([
    'detection/zeek__one-sided-2745.pcap',
    'detection/stop__pkt.TCP.synflood.spoofed.pcap',
    'detection/esnet__two_way_all_flags.pcap',
    'detection/slips__malicious-ssh-bruteforce.pcap',
    'detection/cs__http_espn.pcapng',
    'detection/zeek__workshop_2011_browse.pcap',
  ])('%s: client source ports on listed numbers raise nothing', async (file) => {
    const { alerts } = await replayCapture(capturePath(file));
    expect(alerts.filter((a) => rule(a) === 'backdoor.port')).toEqual([]);
  });

  it('a server zone turns the 31337 session into policy.server-port, critical', async () => {
    const { alerts } = await replayCapture(capturePath('detection/ndpi__http-lines-split.pcap'), {
      configYaml: 'detectors:\n  policy:\n    serverZones:\n      "192.168.0.20": [80, 443]\n',
    });
    const hits = alerts.filter((a) => rule(a) === 'policy.server-port');
    expect(hits).toHaveLength(1);
    expect(hits[0].source.ip).toBe('192.168.0.20');
    expect(hits[0].destination.port).toBe(31337);
    expect(hits[0].event.severity).toBe(4);
  });
});

describeShared('icmp.unreachable / icmp.nachi on real captures', () => {
  it('IP-protocol scan replies: 252 protocol unreachables, attributed to the quoted sender', async () => {
    const { alerts } = await replayCapture(capturePath('detection/sgr__hs-sh-IPscan.pcapng'));
    const hits = alerts.filter((a) => rule(a) === 'icmp.unreachable');
    expect(hits).toHaveLength(1);
    expect(hits[0].source.ip).toBe('192.168.231.128');
    expect(hits[0].tapaudit.by_code).toEqual({ protocol: 252 });
    expect(hits[0].tapaudit.error_senders).toEqual(['10.0.0.2']);
    expect(hits[0].tapaudit.error_receivers).toEqual(['10.0.0.128']);
    expect(alerts.filter((a) => rule(a).startsWith('flood.'))).toEqual([]);
  });

  it.each([
    'detection/trace__win_trace1.pcap',
    'detection/sgr__hs-icmpScan.pcapng',
    'detection/cs__http_espn.pcapng',
  ])('%s: no icmp.nachi (traceroute / 28-byte sweep / browsing)', async (file) => {
    const { alerts } = await replayCapture(capturePath(file));
    expect(alerts.filter((a) => rule(a) === 'icmp.nachi')).toEqual([]);
  });

  it('Windows tracert echoes really are 92 bytes: with minHosts 1 only the TTL test keeps Nachi quiet', async () => {
    const { flows, alerts } = await replayCapture(capturePath('detection/trace__win_trace1.pcap'), {
      configYaml: 'detectors:\n  icmpNachi:\n    minHosts: 1\n',
    });
    const echo = flows.find((f) => f.proto === 'icmp' && f.icmp_type === 8 && f.dst_ip === '8.8.8.8');
    expect(echo).toBeDefined();
    expect(echo!.bytes_toserver).toBe(92 * echo!.pkts_toserver);
    expect(alerts.filter((a) => rule(a) === 'icmp.nachi')).toEqual([]);
  });
});
