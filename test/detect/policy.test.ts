import { describe, expect, it } from 'vitest';
import { moduleSchema } from '../../src/config/schema.js';
import { policyModule } from '../../src/detect/policy.js';
import type { FlowRecord } from '../../src/flow/record.js';
import { ACK, FIN, PSH, RST, SYN, flow, makeDetector } from './fake-context.js';

const zones = { serverZones: { '10.1.0.25': [25, 587], '2001:DB8::25': [443] } };
const client = '203.0.113.9';

function inbound(port: number, extra: Partial<FlowRecord> = {}): FlowRecord {
  return flow({ srcIp: client, srcPort: 50000, dstIp: '10.1.0.25', dstPort: port, state: 'SF', pktsToServer: 3, pktsToClient: 2,
    tcpFlagsToServer: SYN | ACK | FIN, tcpFlagsToClient: SYN | ACK | FIN, ...extra });
}
function outbound(srcPort: number, dstPort: number, extra: Partial<FlowRecord> = {}): FlowRecord {
  return flow({ srcIp: '10.1.0.25', srcPort, dstIp: client, dstPort, state: 'SF', pktsToServer: 3, pktsToClient: 2,
    tcpFlagsToServer: SYN | ACK | FIN, tcpFlagsToClient: SYN | ACK | FIN, ...extra });
}

describe('policy.server-port', () => {
  it('does nothing without zones', () => {
    const { det, ctx } = makeDetector(policyModule);
    det.onFlowEnd(inbound(6667));
    det.onFlowEnd(outbound(40000, 80));
    expect(ctx.alerts).toHaveLength(0);
  });

  it('inbound: answered on a non-allowed port alerts; allowed ports and RST/ACK refusals do not', () => {
    const { det, ctx } = makeDetector(policyModule, zones);
    det.onFlowEnd(inbound(25, { payloadToClient: 500 })); // allowed
    det.onFlowEnd(inbound(6667, { state: 'REJ', tcpFlagsToServer: SYN, tcpFlagsToClient: RST | ACK, pktsToClient: 1 })); // refused
    det.onFlowEnd(inbound(6667, { state: 'S0', tcpFlagsToServer: SYN, tcpFlagsToClient: 0, pktsToClient: 0 })); // unanswered
    expect(ctx.alerts).toHaveLength(0);
    det.onFlowEnd(inbound(6667)); // SYN/ACK: established, no data
    expect(ctx.alerts).toHaveLength(1);
    const a = ctx.alerts[0]!;
    expect(a.severity).toBe(3);
    expect(a.sourceIp).toBe('10.1.0.25');
    expect(a.destinationIp).toBe(client);
    expect(a.destinationPort).toBe(6667);
    expect(a.evidence.direction).toBe('inbound');
    expect(a.evidence.allowed_ports).toEqual([25, 587]);
    expect(a.message).toContain('outside its allowed ports 25,587');
  });

  it('severity 4 with data; a reset after the handshake still counts as answered', () => {
    const { det, ctx } = makeDetector(policyModule, zones);
    det.onFlowEnd(inbound(31337, { tcpFlagsToClient: SYN | ACK | PSH, payloadToServer: 10, payloadToClient: 4100 }));
    det.onFlowEnd(inbound(8080, { state: 'RSTR', tcpFlagsToClient: SYN | ACK | RST }));
    expect(ctx.alerts.map((a) => a.severity)).toEqual([4, 3]);
  });

  it('UDP inbound counts only when the server replied', () => {
    const { det, ctx } = makeDetector(policyModule, zones);
    det.onFlowEnd(inbound(161, { proto: 17, state: 'S0', pktsToClient: 0, tcpFlagsToServer: 0, tcpFlagsToClient: 0 }));
    expect(ctx.alerts).toHaveLength(0);
    det.onFlowEnd(inbound(161, { proto: 17, state: 'SF', pktsToClient: 1, payloadToClient: 60, tcpFlagsToServer: 0, tcpFlagsToClient: 0 }));
    expect(ctx.alerts).toHaveLength(1);
    expect(ctx.alerts[0]!.transport).toBe('udp');
  });

  it('outbound: the server initiating from a non-allowed port, except DNS/NTP and RST/ACK-only', () => {
    const { det, ctx } = makeDetector(policyModule, zones);
    det.onFlowEnd(outbound(25, 40000)); // from an allowed port (answer seen as its own flow)
    det.onFlowEnd(outbound(40001, 53, { proto: 17 })); // DNS lookup
    det.onFlowEnd(outbound(40002, 123, { proto: 17 })); // NTP
    det.onFlowEnd(outbound(40003, 6000, { state: 'OTH', tcpFlagsToServer: RST | ACK, tcpFlagsToClient: 0, pktsToClient: 0 }));
    expect(ctx.alerts).toHaveLength(0);
    det.onFlowEnd(outbound(40004, 80, { state: 'S0', tcpFlagsToServer: SYN, tcpFlagsToClient: 0, pktsToClient: 0 }));
    det.onFlowEnd(outbound(40005, 80, { payloadToServer: 200, payloadToClient: 300000 }));
    expect(ctx.alerts.map((a) => a.severity)).toEqual([3, 4]);
    expect(ctx.alerts[1]!.evidence.direction).toBe('outbound');
    expect(ctx.alerts[1]!.destinationPort).toBe(80);
    expect(ctx.alerts[1]!.message).toContain('initiated tcp to 203.0.113.9:80');
  });

  it('outboundAllowedPorts can be emptied to be strict', () => {
    const { det, ctx } = makeDetector(policyModule, { ...zones, outboundAllowedPorts: [] });
    det.onFlowEnd(outbound(40001, 53, { proto: 17 }));
    expect(ctx.alerts).toHaveLength(1);
  });

  it('IPv6 zone keys are matched in canonical form', () => {
    const { det, ctx } = makeDetector(policyModule, zones);
    det.onFlowEnd(flow({ srcIp: '2001:db8::9', dstIp: '2001:db8::25', dstPort: 22, tcpFlagsToClient: SYN | ACK }));
    det.onFlowEnd(flow({ srcIp: '2001:db8::9', dstIp: '2001:db8::25', dstPort: 443, tcpFlagsToClient: SYN | ACK }));
    expect(ctx.alerts).toHaveLength(1);
    expect(ctx.alerts[0]!.sourceIp).toBe('2001:db8::25');
  });

  it('rejects bad zones', () => {
    expect(() => moduleSchema(policyModule).parse({ serverZones: { 'mail.example': [25] } })).toThrow();
    expect(() => moduleSchema(policyModule).parse({ serverZones: { '10.1.0.25': [70000] } })).toThrow();
    expect(() => moduleSchema(policyModule).parse({ serverZones: { '10.1.0.25': 25 } })).toThrow();
  });
});
