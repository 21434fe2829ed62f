import { describe, expect, it } from 'vitest';
import { moduleSchema } from '../../src/config/schema.js';
import { backdoorModule } from '../../src/detect/backdoor.js';
import { ACK, FIN, PSH, RST, SYN, fakeContext, flow, makeDetector } from './fake-context.js';

/** A client 203.0.113.66 reaching local 10.1.0.31:31337 at each stage of the ladder. */
const attempt = { srcIp: '203.0.113.66', dstIp: '10.1.0.31', srcPort: 40000, dstPort: 31337, state: 'S0' as const, tcpFlagsToServer: SYN, pktsToServer: 2 };
const rejected = { ...attempt, state: 'REJ' as const, tcpFlagsToClient: RST | ACK, pktsToClient: 1 };
const established = { ...attempt, state: 'SF' as const, tcpFlagsToServer: SYN | ACK | FIN, tcpFlagsToClient: SYN | ACK | FIN, pktsToClient: 2 };
const data = { ...established, tcpFlagsToServer: SYN | ACK | PSH | FIN, payloadToServer: 40, payloadToClient: 4100 };

describe('backdoor.port', () => {
  it('severity ladder: attempt < established < data', () => {
    const { det, ctx } = makeDetector(backdoorModule);
    for (const f of [attempt, rejected, established, data]) det.onFlowEnd(flow(f));
    expect(ctx.alerts.map((a) => a.severity)).toEqual([2, 2, 3, 4]);
    const last = ctx.alerts[3]!;
    expect(last.ruleId).toBe('backdoor.port');
    expect(last.sourceIp).toBe('203.0.113.66');
    expect(last.destinationIp).toBe('10.1.0.31');
    expect(last.destinationPort).toBe(31337);
    expect(last.message).toContain('Back Orifice');
    expect(last.message).toContain('4.0 KB');
    // The local listener is the likely compromised host.
    expect(last.message).toMatch(/10\.1\.0\.31 may be compromised/);
    // Escalation is not folded into the attempt by suppression.
    expect(new Set(ctx.alerts.map((a) => a.suppressKey)).size).toBe(3);
  });

  it('failed attempts fold per source; connections are keyed per server:port', () => {
    const { det, ctx } = makeDetector(backdoorModule);
    for (const port of [1243, 1524, 2745, 3127]) det.onFlowEnd(flow({ ...attempt, dstPort: port }));
    det.onFlowEnd(flow({ ...established, dstPort: 12345 }));
    det.onFlowEnd(flow({ ...established, dstPort: 27374 }));
    expect(ctx.alerts).toHaveLength(6);
    expect(new Set(ctx.alerts.slice(0, 4).map((a) => a.suppressKey)).size).toBe(1);
    expect(ctx.alerts[4]!.suppressKey).not.toBe(ctx.alerts[5]!.suppressKey);
  });

  it('names the local client when it calls a remote handler', () => {
    const { det, ctx } = makeDetector(backdoorModule);
    det.onFlowEnd(flow({ ...data, srcIp: '172.16.99.201', dstIp: '64.227.107.71', dstPort: 4444 }));
    const { det: d2, ctx: c2 } = makeDetector(backdoorModule, {}, fakeContext(['172.16.0.0/12']));
    d2.onFlowEnd(flow({ ...data, srcIp: '172.16.99.201', dstIp: '64.227.107.71', dstPort: 4444 }));
    expect(ctx.alerts[0]!.message).toMatch(/64\.227\.107\.71 may be compromised/);
    expect(c2.alerts[0]!.message).toMatch(/172\.16\.99\.201 may be compromised/);
  });

  it('one-sided payload counts as data only from dataMinBytes', () => {
    const { det, ctx } = makeDetector(backdoorModule, { dataMinBytes: 512 });
    det.onFlowEnd(flow({ ...established, payloadToClient: 511 }));
    det.onFlowEnd(flow({ ...established, payloadToClient: 512 }));
    expect(ctx.alerts.map((a) => a.severity)).toEqual([3, 4]);
  });

  it('judges the server port, never a client random source port', () => {
    const { det, ctx } = makeDetector(backdoorModule);
    // Spoofed SYN flood: random source port 4444 to a game server port.
    det.onFlowEnd(flow({ srcIp: '1.2.3.4', srcPort: 4444, dstIp: '10.10.10.10', dstPort: 25565, state: 'S0', tcpFlagsToServer: SYN }));
    // zeek one-sided-2745: the first packet is a SYN/ACK from 1433, so our initiator is the
    // host that used 2745 as its source port, and the server port is 1433.
    det.onFlowEnd(flow({ srcIp: '247.180.123.139', srcPort: 2745, dstIp: '245.181.165.133', dstPort: 1433, state: 'SH', tcpFlagsToClient: SYN | ACK | FIN }));
    expect(ctx.alerts).toHaveLength(0);
  });

  it('mid-stream flows whose guessed initiator sits on a well-known port are skipped', () => {
    const { det, ctx } = makeDetector(backdoorModule);
    // No SYN either way; the first packet came from the web server 80 to client port 4444.
    det.onFlowEnd(flow({ srcIp: '203.0.113.9', srcPort: 80, dstIp: '10.0.0.5', dstPort: 4444, state: 'OTH', tcpFlagsToServer: ACK | PSH, payloadToServer: 1000 }));
    // UDP reply-first from DNS to a client port 12345.
    det.onFlowEnd(flow({ proto: 17, srcIp: '203.0.113.53', srcPort: 53, dstIp: '10.0.0.5', dstPort: 12345, state: 'S0' }));
    expect(ctx.alerts).toHaveLength(0);
    // The same mid-stream flow from a high port is judged (a backdoor session already open).
    det.onFlowEnd(flow({ srcIp: '203.0.113.9', srcPort: 50000, dstIp: '10.0.0.5', dstPort: 4444, state: 'OTH', tcpFlagsToServer: ACK | PSH, payloadToServer: 1000, pktsToClient: 1 }));
    expect(ctx.alerts).toHaveLength(1);
  });

  it('UDP Back Orifice: answered with data', () => {
    const { det, ctx } = makeDetector(backdoorModule);
    det.onFlowEnd(flow({ proto: 17, srcIp: '203.0.113.66', srcPort: 1030, dstIp: '10.1.0.31', dstPort: 31337, state: 'SF', pktsToServer: 1, pktsToClient: 1, payloadToServer: 20, payloadToClient: 300 }));
    expect(ctx.alerts[0]!.severity).toBe(4);
    expect(ctx.alerts[0]!.transport).toBe('udp');
  });

  it('configurable port list and destination allowlist', () => {
    const { det, ctx } = makeDetector(backdoorModule, { ports: [8081], allowDestinations: ['10.9.0.0/16'] });
    det.onFlowEnd(flow(attempt)); // 31337 is no longer listed
    det.onFlowEnd(flow({ ...attempt, dstPort: 8081 }));
    det.onFlowEnd(flow({ ...attempt, dstPort: 8081, dstIp: '10.9.1.1' }));
    expect(ctx.alerts).toHaveLength(1);
    expect(ctx.alerts[0]!.message).toContain('configured backdoor port');
  });

  it('rejects bad config', () => {
    expect(() => moduleSchema(backdoorModule).parse({ ports: [70000] })).toThrow();
    expect(() => moduleSchema(backdoorModule).parse({ knownIrcServers: ['10.0.0.0/33'] })).toThrow();
    expect(() => moduleSchema(backdoorModule).parse({ bogus: 1 })).toThrow();
  });

  describe('IRC from a local host', () => {
    const irc = { srcIp: '10.0.0.7', dstIp: '198.51.100.7', dstPort: 6667, state: 'SF' as const, tcpFlagsToServer: SYN | ACK | PSH, tcpFlagsToClient: SYN | ACK | PSH, pktsToClient: 5, payloadToServer: 300, payloadToClient: 900 };
    it('reports a local client on 6660-6669/7000, not a remote one, not a known server', () => {
      const { det, ctx } = makeDetector(backdoorModule, { knownIrcServers: ['198.51.100.0/24'] });
      det.onFlowEnd(flow({ ...irc, dstIp: '192.0.2.200' }));
      det.onFlowEnd(flow({ ...irc, dstIp: '192.0.2.200', dstPort: 7000 }));
      det.onFlowEnd(flow(irc)); // known IRC server
      det.onFlowEnd(flow({ ...irc, srcIp: '192.0.2.1', dstIp: '192.0.2.200' })); // remote client
      det.onFlowEnd(flow({ ...irc, dstIp: '192.0.2.200', dstPort: 6670 })); // outside the range
      expect(ctx.alerts).toHaveLength(2);
      expect(ctx.alerts[0]!.severity).toBe(3);
      expect(ctx.alerts[0]!.sourceIp).toBe('10.0.0.7');
      expect(ctx.alerts[0]!.message).toContain('bot command channel');
    });
    it('an unanswered IRC attempt is lower', () => {
      const { det, ctx } = makeDetector(backdoorModule);
      det.onFlowEnd(flow({ srcIp: '10.0.0.7', dstIp: '192.0.2.200', dstPort: 6667, state: 'S0', tcpFlagsToServer: SYN }));
      expect(ctx.alerts[0]!.severity).toBe(2);
    });
  });
});
