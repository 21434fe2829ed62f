import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mtuWarning } from '../../src/capture/live.js';

/** A fake /sys/class/net: name -> its mtu file (and its type file; 1 = Ethernet). */
function sysRoot(mtus: Record<string, string>, types: Record<string, string> = {}): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-sysnet-'));
  for (const [iface, mtu] of Object.entries(mtus)) {
    fs.mkdirSync(path.join(root, iface));
    fs.writeFileSync(path.join(root, iface, 'mtu'), mtu);
    fs.writeFileSync(path.join(root, iface, 'type'), `${types[iface] ?? '1'}\n`);
  }
  return root;
}

describe('mtuWarning', () => {
  const root = sysRoot({ jumbo: '9000\n', wire: '1500\n', small: '576\n', odd: 'n/a\n', lo: '65536\n' }, { lo: '772' });

  it('warns above 1500 with how many times fewer frames the ring holds and what to do', () => {
    const w = mtuWarning('jumbo', root);
    expect(w).toContain('jumbo has MTU 9000');
    // (9000 + 80) / (1500 + 80) = 5.75 slots' worth
    expect(w).toContain('5.7x fewer frames than at MTU 1500');
    expect(w).toContain('ip link set jumbo mtu 1500');
  });

  it('says nothing at or below 1500, for loopback, an unreadable MTU or a missing interface', () => {
    expect(mtuWarning('lo', root)).toBeNull();
    expect(mtuWarning('wire', root)).toBeNull();
    expect(mtuWarning('small', root)).toBeNull();
    expect(mtuWarning('odd', root)).toBeNull();
    expect(mtuWarning('absent', root)).toBeNull();
  });
});
