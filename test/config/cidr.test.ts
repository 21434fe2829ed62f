import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CidrMatcher, parseCidr, parseV4Text } from '../../src/config/cidr.js';

describe('parseCidr', () => {
  it('accepts CIDRs and bare addresses, clears host bits', () => {
    expect(parseCidr('10.1.2.3/8')).toMatchObject({ ipVersion: 4, prefixLength: 8 });
    expect(parseCidr('10.1.2.3/8')!.words[3]).toBe(0x0a000000);
    expect(parseCidr('192.0.2.7')).toMatchObject({ ipVersion: 4, prefixLength: 32 });
    expect(parseCidr('fc00::/7')).toMatchObject({ ipVersion: 6, prefixLength: 7 });
    expect(parseCidr('fdff::1/7')!.words[0]).toBe(0xfc000000);
    expect(parseCidr('2001:db8::1')).toMatchObject({ ipVersion: 6, prefixLength: 128 });
    expect(parseCidr('0.0.0.0/0')!.words[3]).toBe(0);
  });
  it('rejects what nobody means in a config', () => {
    for (const bad of ['10.0.0.0/33', '10.1', '0x0a.0.0.1/8', 'fe80::/129', '', 'localhost', '10.0.0.0/', '10.0.0.256', 'fe80::1%eth0']) {
      expect(parseCidr(bad), bad).toBeNull();
    }
  });
});

describe('parseV4Text', () => {
  it('agrees with the dotted quad for every address', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
      const text = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
      expect(parseV4Text(text)).toBe(a);
    }));
  });
  it('rejects non-addresses', () => {
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', '::1', 'a.b.c.d', '1.2.3.4 ', '1234.1.1.1']) {
      expect(parseV4Text(bad), bad).toBe(-1);
    }
  });
});

describe('CidrMatcher', () => {
  const m = new CidrMatcher(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '192.168.1.0/24', '198.51.100.7', 'fc00::/7', '2001:db8:1::/48']);
  it('matches the edges of each range', () => {
    for (const ip of ['10.0.0.0', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.200.1', '198.51.100.7', 'fc00::1', 'fdff:ffff::1', '2001:db8:1:ffff::1']) {
      expect(m.matchText(ip), ip).toBe(true);
    }
    for (const ip of ['9.255.255.255', '11.0.0.0', '172.32.0.0', '172.15.255.255', '198.51.100.8', '8.8.8.8', 'fe80::1', '2001:db8:2::1', 'garbage', '']) {
      expect(m.matchText(ip), ip).toBe(false);
    }
  });
  it('agrees with a naive prefix check on random IPv4 addresses', () => {
    const nets: [number, number][] = [[0x0a000000, 8], [0xac100000, 12], [0xc0a80000, 16], [0xc6336407, 32]];
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
      const naive = nets.some(([n, p]) => (p === 0 ? true : (a >>> (32 - p)) === (n >>> (32 - p))));
      expect(m.matchV4(a)).toBe(naive);
    }));
  });
  it('an empty matcher matches nothing; 0.0.0.0/0 and ::/0 match everything', () => {
    expect(new CidrMatcher([]).matchText('10.0.0.1')).toBe(false);
    expect(new CidrMatcher([]).empty).toBe(true);
    const all = new CidrMatcher(['0.0.0.0/0', '::/0']);
    expect(all.matchText('255.255.255.255')).toBe(true);
    expect(all.matchText('2001:db8::1')).toBe(true);
  });
});
