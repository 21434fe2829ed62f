import { describe, expect, it } from 'vitest';
import { FlowRecord } from '../../src/flow/record.js';
import { parseAddr } from '../../src/util/ip.js';

function setAddresses(r: FlowRecord, src: string, dst: string): void {
  r.ipVersion = parseAddr(src, r.srcAddr);
  parseAddr(dst, r.dstAddr);
  r.addressesChanged();
}

describe('FlowRecord address text', () => {
  it('is empty on a new record, as before any flow was written into it', () => {
    const r = new FlowRecord();
    expect([r.srcIp, r.dstIp]).toEqual(['', '']);
  });

  it('is made from the words after addressesChanged, IPv4 and IPv6 (RFC 5952)', () => {
    const r = new FlowRecord();
    setAddresses(r, '192.0.2.1', '198.51.100.7');
    expect([r.srcIp, r.dstIp]).toEqual(['192.0.2.1', '198.51.100.7']);
    setAddresses(r, '2001:db8:0:0:1:0:0:1', '2001:DB8::a');
    expect([r.srcIp, r.dstIp]).toEqual(['2001:db8::1:0:0:1', '2001:db8::a']);
  });

  it('a string read from a reused record stays that flow\'s text', () => {
    const r = new FlowRecord();
    setAddresses(r, '10.0.0.1', '10.0.0.2');
    const kept = r.srcIp;
    setAddresses(r, '10.9.9.9', '10.0.0.2');
    expect(kept).toBe('10.0.0.1');
    expect(r.srcIp).toBe('10.9.9.9');
  });

  it('text set by hand is returned as set until the words change', () => {
    const r = new FlowRecord();
    setAddresses(r, '10.0.0.1', '10.0.0.2');
    r.srcIp = '10.0.0.99';
    expect(r.srcIp).toBe('10.0.0.99');
    r.addressesChanged();
    expect(r.srcIp).toBe('10.0.0.1');
  });
});
