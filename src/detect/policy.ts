/**
 * policy.server-port (SPEC §4): a protected server answering or initiating outside the
 * ports it is allowed to serve on.
 *
 * Anchor: Y. Gong, "Detecting Worms and Abnormal Activities with NetFlow, Part 2" (2004),
 * §4: define a "server zone" (server -> ports it offers); a flow from a server whose
 * source port is not one of them, and that is not a RST/ACK refusal, means the server
 * answered on an unexpected port (a backdoor listener) or started a connection of its
 * own (a worm or an intruder's download); with data moved it is critical.
 *
 * With our bidirectional flows (src = initiator) that becomes:
 * - inbound: a flow TO the server on a port not in its list that the server answered
 *   (TCP: SYN/ACK, or ACKs without RST, or payload; UDP: any reply). A bare RST/ACK is
 *   the kernel refusing a closed port: no alert.
 * - outbound: a flow the server INITIATED from a source port not in its list, unless its
 *   packets were only RST/ACKs, and unless the destination port is one every server uses
 *   as a client (outboundAllowedPorts: DNS, NTP).
 * Severity 4 when payload moved either way, else 3. No zones configured: does nothing.
 */
import type { z } from 'zod';
import type { SchemaKit } from '../config/fields.js';
import { TCP_ACK as ACK, TCP_RST as RST, TCP_SYN as SYN } from '../decode/packet.js';
import type { FlowRecord } from '../flow/record.js';
import { formatAddr, parseAddr } from '../util/ip.js';
import { humanBytes, transportName } from './human.js';
import type { Detector, DetectorContext, DetectorModule } from './types.js';

const TCP = 6;
const UDP = 17;

export function policySchema({ z, portList, serverZones }: SchemaKit) {
  return z.strictObject({
    /** Protected server -> TCP/UDP ports it may serve on: { "10.1.0.25": [25, 587] }. */
    serverZones: serverZones({}),
    /**
     * Destination ports a protected server may always connect to as a client: name
     * resolution (53) and time (123), which every server does; empty it to be strict.
     */
    outboundAllowedPorts: portList([53, 123]),
  });
}
export type PolicyConfig = z.infer<ReturnType<typeof policySchema>>;

/** Did the responder really answer (not just refuse with RST/ACK)? */
export function responderAnswered(flow: FlowRecord): boolean {
  if (flow.proto === UDP) return flow.pktsToClient > 0;
  const f = flow.tcpFlagsToClient;
  return (f & (SYN | ACK)) === (SYN | ACK) || ((f & ACK) !== 0 && (f & RST) === 0) || flow.payloadToClient > 0;
}

/** Did the initiator send more than RST/ACKs (a refusal of something we did not see)? */
export function initiatorSentReal(flow: FlowRecord): boolean {
  if (flow.proto === UDP) return flow.pktsToServer > 0;
  const f = flow.tcpFlagsToServer;
  return (f & SYN) !== 0 || ((f & ACK) !== 0 && (f & RST) === 0) || flow.payloadToServer > 0;
}

export const policyModule: DetectorModule<PolicyConfig> = {
  id: 'policy',
  rules: ['policy.server-port'],
  schema: policySchema,
  create(config: PolicyConfig, ctx: DetectorContext): Detector {
    // Keys in canonical text (RFC 5952 for IPv6) so they compare equal to FlowRecord.srcIp.
    const zones = new Map<string, Set<number>>();
    const scratch = new Uint32Array(4);
    for (const [ip, ports] of Object.entries(config.serverZones)) {
      const v = parseAddr(ip.trim(), scratch);
      const key = v === 0 ? ip : formatAddr(scratch, v);
      zones.set(key, new Set(ports));
    }
    const outboundAllowed = new Set(config.outboundAllowedPorts);

    function report(flow: FlowRecord, server: string, inbound: boolean, allowed: Set<number>): void {
      const transport = transportName(flow.proto);
      const peer = inbound ? flow.srcIp : flow.dstIp;
      const serverPort = inbound ? flow.dstPort : flow.srcPort;
      // The port the rule is about: the server's own port inbound, the peer's port outbound.
      const port = flow.dstPort;
      const payload = flow.payloadToServer + flow.payloadToClient;
      const list = [...allowed].sort((a, b) => a - b).join(',');
      const moved = payload > 0 ? `${humanBytes(payload)} transferred` : 'no data';
      const message = inbound
        ? `${server} answered ${peer} on ${transport}/${serverPort}, outside its allowed ports ${list} (${flow.state}, ${moved})`
        : `${server} initiated ${transport} to ${peer}:${flow.dstPort} from port ${serverPort}, outside its allowed ports ${list} (${flow.state}, ${moved})`;
      ctx.emit({
        ruleId: 'policy.server-port',
        severity: payload > 0 ? 4 : 3,
        message,
        timestampMicros: flow.endMicros,
        startMicros: flow.startMicros,
        endMicros: flow.endMicros,
        sourceIp: server,
        destinationIp: peer,
        destinationPort: port,
        transport,
        evidence: {
          direction: inbound ? 'inbound' : 'outbound',
          server_port: serverPort,
          allowed_ports: [...allowed].sort((a, b) => a - b),
          peer,
          state: flow.state,
          pkts_toserver: flow.pktsToServer,
          pkts_toclient: flow.pktsToClient,
          payload_toserver: flow.payloadToServer,
          payload_toclient: flow.payloadToClient,
        },
        suppressKey: `${inbound ? 'in' : 'out'}:${transport}/${port}`,
      });
    }

    return {
      onFlowEnd(flow: FlowRecord): void {
        if (zones.size === 0 || (flow.proto !== TCP && flow.proto !== UDP)) return;
        const inbound = zones.get(flow.dstIp);
        if (inbound !== undefined && !inbound.has(flow.dstPort) && responderAnswered(flow)) {
          report(flow, flow.dstIp, true, inbound);
        }
        const outbound = zones.get(flow.srcIp);
        if (outbound !== undefined && !outbound.has(flow.srcPort) && !outboundAllowed.has(flow.dstPort) &&
          initiatorSentReal(flow)) {
          report(flow, flow.srcIp, false, outbound);
        }
      },
    };
  },
};
