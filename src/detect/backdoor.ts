/**
 * backdoor.port (SPEC §4): traffic to a known backdoor/trojan listener, and IRC from a
 * local host as a likely bot command channel.
 *
 * Judged by the SERVER port of the flow (the responder's port, flow.dstPort), never by a
 * client's random source port: a SYN flood with random source ports hits 4444 or 31337 by
 * chance, and a reply from 1433 to a client that used source port 2745 is not Bagle.
 *
 * Anchors: the IPAudit article (a compromised host listening with `nc -l -p 31337`;
 * "IRC is typically used as a communications mechanism for compromised machines").
 *
 * Stateless: one decision per flow; repeats are folded by the alert log's suppression,
 * keyed by server:port and severity so an escalation (attempt -> data) is still written.
 */
import type { z } from 'zod';
import { CidrMatcher } from '../config/cidr.js';
import type { SchemaKit } from '../config/fields.js';
import { TCP_ACK as ACK, TCP_SYN as SYN } from '../decode/packet.js';
import type { FlowRecord } from '../flow/record.js';
import { DEFAULT_BACKDOOR_PORTS, DEFAULT_IRC_PORTS, backdoorPortName, portTable } from './backdoor-ports.js';
import { humanBytes, transportName } from './human.js';
import type { Detector, DetectorContext, DetectorModule, Severity } from './types.js';

const TCP = 6;
const UDP = 17;

export function backdoorSchema({ z, cidrList, nonNegativeInt, portList }: SchemaKit) {
  return z.strictObject({
    /** Server ports that name a backdoor/trojan listener (TCP and UDP). */
    ports: portList(DEFAULT_BACKDOOR_PORTS),
    /**
     * Payload bytes (both directions together) from which a flow counts as "data
     * transferred" even if only one side sent payload. 512 B is more than a banner or a
     * single probe and less than any shell session or dropped binary.
     */
    dataMinBytes: nonNegativeInt(512),
    /** IRC server ports; a local client reaching one is reported as a likely bot channel. */
    ircPorts: portList(DEFAULT_IRC_PORTS),
    /** IRC servers the site knows and accepts (CIDRs): no alert for clients reaching them. */
    knownIrcServers: cidrList([]),
    /** Servers (CIDRs) whose listed ports are legitimate services here: not reported. */
    allowDestinations: cidrList([]),
  });
}
export type BackdoorConfig = z.infer<ReturnType<typeof backdoorSchema>>;

/** How far the flow got: the severity ladder of SPEC §4 (attempt < established < data). */
export const STAGE_ATTEMPT = 0;
export const STAGE_ESTABLISHED = 1;
export const STAGE_DATA = 2;
const STAGE_NAMES = ['attempt', 'established', 'data'] as const;

/**
 * Stage of a TCP/UDP flow. TCP is established when the responder sent SYN/ACK or the
 * state says the handshake completed (S1, SF, RSTO, RSTR); UDP when the responder spoke.
 */
export function flowStage(flow: FlowRecord, dataMinBytes: number): number {
  const payload = flow.payloadToServer + flow.payloadToClient;
  let established: boolean;
  if (flow.proto === TCP) {
    const s = flow.state;
    established = s === 'S1' || s === 'SF' || s === 'RSTO' || s === 'RSTR' ||
      (flow.tcpFlagsToClient & (SYN | ACK)) === (SYN | ACK);
  } else {
    established = flow.pktsToClient > 0;
  }
  if (!established) return STAGE_ATTEMPT;
  if ((flow.payloadToServer > 0 && flow.payloadToClient > 0) || (payload > 0 && payload >= dataMinBytes)) return STAGE_DATA;
  return STAGE_ESTABLISHED;
}

/**
 * Is the flow's direction trustworthy enough to call dstPort the server port? For TCP a
 * SYN in either direction fixes it (SPEC §3). Without one (capture started mid-stream, or
 * UDP) the first talker is a guess; when that guessed initiator sits on a well-known port
 * (< 1024) it is most likely the server answering, so the listed dstPort is a client's
 * ephemeral port: skip.
 */
function directionTrusted(flow: FlowRecord): boolean {
  if (flow.proto === TCP && ((flow.tcpFlagsToServer | flow.tcpFlagsToClient) & SYN) !== 0) return true;
  return flow.srcPort >= 1024;
}

export const backdoorModule: DetectorModule<BackdoorConfig> = {
  id: 'backdoor',
  rules: ['backdoor.port'],
  schema: backdoorSchema,
  create(config: BackdoorConfig, ctx: DetectorContext): Detector {
    const backdoor = portTable(config.ports);
    const irc = portTable(config.ircPorts);
    const knownIrc = new CidrMatcher(config.knownIrcServers);
    const allowDst = new CidrMatcher(config.allowDestinations);

    function report(flow: FlowRecord, isIrc: boolean): void {
      const stage = flowStage(flow, config.dataMinBytes);
      const transport = transportName(flow.proto);
      const service = `${transport}/${flow.dstPort}`;
      const payload = flow.payloadToServer + flow.payloadToClient;
      let severity: Severity;
      let message: string;
      let label: string;
      if (isIrc) {
        label = 'IRC';
        // SPEC: a local IRC client is a likely bot channel (3); a failed attempt is lower.
        severity = stage === STAGE_ATTEMPT ? 2 : 3;
        message = stage === STAGE_ATTEMPT
          ? `${flow.srcIp} tried IRC at ${flow.dstIp} on ${service} (no answer): possible bot command channel`
          : `${flow.srcIp} talked IRC to ${flow.dstIp} on ${service} (${humanBytes(payload)} transferred): possible bot command channel; ${flow.srcIp} may be compromised`;
      } else {
        label = backdoorPortName(flow.dstPort);
        severity = (2 + stage) as Severity;
        // The likely compromised side: a local listener answering (nc -l -p 31337), or a
        // local client calling a remote handler (reverse shell, dropper download).
        const suspect = !ctx.dstIsLocal(flow) && ctx.srcIsLocal(flow) ? flow.srcIp : flow.dstIp;
        if (stage === STAGE_ATTEMPT) {
          message = `${flow.srcIp} tried ${flow.dstIp} on ${service} (${label}): ${flow.state}, no connection`;
        } else if (stage === STAGE_ESTABLISHED) {
          message = `${flow.dstIp} answered on ${service} (${label}) to ${flow.srcIp}: connection established, no data; ${suspect} may be compromised`;
        } else {
          message = `${flow.dstIp} answered on ${service} (${label}) to ${flow.srcIp}: ${humanBytes(payload)} transferred; ${suspect} may be compromised`;
        }
      }
      ctx.emit({
        ruleId: 'backdoor.port',
        severity,
        message,
        timestampMicros: flow.endMicros,
        startMicros: flow.startMicros,
        endMicros: flow.endMicros,
        sourceIp: flow.srcIp,
        destinationIp: flow.dstIp,
        destinationPort: flow.dstPort,
        transport,
        evidence: {
          service: label,
          stage: STAGE_NAMES[stage],
          state: flow.state,
          src_port: flow.srcPort,
          pkts_toserver: flow.pktsToServer,
          pkts_toclient: flow.pktsToClient,
          payload_toserver: flow.payloadToServer,
          payload_toclient: flow.payloadToClient,
          initiator_local: ctx.srcIsLocal(flow),
          server_local: ctx.dstIsLocal(flow),
        },
        // Failed attempts fold per source (a port scan touching 20 listed ports is one
        // finding, the scan detector's); a connection is its own finding per server:port.
        suppressKey: stage === STAGE_ATTEMPT ? `attempt:${isIrc ? 'irc' : 'backdoor'}` : `${flow.dstIp}:${transport}/${flow.dstPort}:${severity}`,
      });
    }

    return {
      onFlowEnd(flow: FlowRecord): void {
        if (flow.proto !== TCP && flow.proto !== UDP) return;
        const port = flow.dstPort;
        // One typed-array read rejects almost every flow before any other work.
        const isBackdoor = backdoor[port] === 1;
        const isIrc = !isBackdoor && flow.proto === TCP && irc[port] === 1;
        if (!isBackdoor && !isIrc) return;
        if (!directionTrusted(flow)) return;
        if (allowDst.matchWords(flow.dstAddr, flow.ipVersion)) return;
        if (isIrc && (!ctx.srcIsLocal(flow) || knownIrc.matchWords(flow.dstAddr, flow.ipVersion))) return;
        report(flow, isIrc);
      },
    };
  },
};
