/**
 * Golden flow records (Zeek btest-style baselines): replay a shared capture and compare
 * the flow NDJSON with the checked-in file, byte for byte. Nothing is masked: flows carry
 * packet time only. After a deliberate change, regenerate with
 *   UPDATE_GOLDEN=1 npx vitest run test/golden/flows.test.ts
 * and review the diff like code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { capturePath, describeShared } from '../helpers/shared.js';
import { replayCapture } from '../helpers/replay.js';

const GOLDEN_DIR = path.join(import.meta.dirname, 'flows');

// Chosen to cover: ICMP errors joined to their flow (traceroute), IPv4 and IPv6
// fragments, QinQ VLAN keys, SLL2 with ICMPv6, nanosecond pcapng on two interfaces,
// a complete backdoor-port session, a rejected/half-open mix, raw IP v4+v6.
const CAPTURES = [
  'detection/trace__win_trace1.pcap',
  'formats/trace__traceroute-frag.pcap',
  'formats/pcpp__ip6_fragments.pcap',
  'formats/zeek__vlan-qinqinq.pcap',
  'formats/zeek__linux_dlt_sll2.pcap',
  'formats/zeek__pcapng-multi-interface.pcapng',
  'detection/ndpi__http-lines-split.pcap',
  'detection/ndpi__portable_executable.pcap',
  'formats/pcpp__raw_ip.pcap',
  'formats/pcpp__null_loopback.pcap',
];

describeShared('golden flow records', () => {
  for (const file of CAPTURES) {
    it(file, async () => {
      const r = await replayCapture(capturePath(file));
      const got = fs.readFileSync(r.flowsPath, 'utf8');
      const golden = path.join(GOLDEN_DIR, path.basename(file).replace(/\.(pcapng|pcap)$/, '') + '.ndjson');
      if (process.env.UPDATE_GOLDEN) fs.writeFileSync(golden, got);
      expect(got).toBe(fs.readFileSync(golden, 'utf8'));
    });
  }

  it('IPAudit columns for the traceroute capture', async () => {
    const r = await replayCapture(capturePath('detection/trace__win_trace1.pcap'), { flowsFormat: 'ipaudit' });
    const got = fs.readFileSync(r.flowsPath, 'utf8');
    const golden = path.join(GOLDEN_DIR, 'trace__win_trace1.ipaudit.txt');
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(golden, got);
    expect(got).toBe(fs.readFileSync(golden, 'utf8'));
  });
});
