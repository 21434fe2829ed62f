/**
 * Flow records as text: NDJSON with the field names of SPEC §3 (a contract users' scripts
 * rely on), or IPAudit's whitespace columns. Built by string concatenation: one record per
 * flow, and measured faster than JSON.stringify of a fresh object (no object per flow).
 */
import { formatMicros } from '../util/time.js';
import { protoName, tcpFlagString, type FlowRecord } from '../flow/record.js';

export type FlowsFormat = 'json' | 'ipaudit';

export function flowToJson(f: FlowRecord): string {
  let s = `{"start":"${formatMicros(f.startMicros)}","end":"${formatMicros(f.endMicros)}"` +
    `,"proto":"${protoName(f.proto)}","src_ip":"${f.srcIp}","src_port":${f.srcPort}` +
    `,"dst_ip":"${f.dstIp}","dst_port":${f.dstPort}` +
    `,"pkts_toserver":${f.pktsToServer},"pkts_toclient":${f.pktsToClient}` +
    `,"bytes_toserver":${f.bytesToServer},"bytes_toclient":${f.bytesToClient}` +
    `,"first_talker":"${f.firstTalker}","last_talker":"${f.lastTalker}"` +
    `,"tcp_flags":"${tcpFlagString(f.tcpFlags)}","tcp_flags_ts":"${tcpFlagString(f.tcpFlagsToServer)}"` +
    `,"tcp_flags_tc":"${tcpFlagString(f.tcpFlagsToClient)}","state":"${f.state}","end_reason":"${f.endReason}"` +
    `,"vlan":[${f.vlans.join(',')}]`;
  if (f.icmpType >= 0) s += `,"icmp_type":${f.icmpType},"icmp_code":${f.icmpCode}`;
  if (f.icmpErrors > 0) {
    s += `,"icmp_errors":${f.icmpErrors},"icmp_error_type":${f.icmpErrorType},"icmp_error_code":${f.icmpErrorCode}` +
      `,"icmp_error_from":"${f.icmpErrorFrom}"`;
  }
  if (f.icmpQuotedProto >= 0) {
    s += `,"icmp_quoted":{"src_ip":"${f.icmpQuotedSrcIp}","dst_ip":"${f.icmpQuotedDstIp}"` +
      `,"proto":"${protoName(f.icmpQuotedProto)}","dst_port":${f.icmpQuotedDstPort}}`;
  }
  return s + '}\n';
}

/**
 * IPAudit's columns: ip1 ip2 proto port1 port2 bytes1 bytes2 pkts1 pkts2 first_time
 * last_time first_talker last_talker. As IPAudit writes them: protocol as a number, times
 * as HH:MM:SS.ffff (here in UTC, from packet time), talkers as 1 (ip1) or 2 (ip2).
 */
export function flowToIpaudit(f: FlowRecord): string {
  return `${f.srcIp} ${f.dstIp} ${f.proto} ${f.srcPort} ${f.dstPort} ` +
    `${f.bytesToServer} ${f.bytesToClient} ${f.pktsToServer} ${f.pktsToClient} ` +
    `${clock(f.startMicros)} ${clock(f.endMicros)} ${f.firstTalker === 'src' ? 1 : 2} ${f.lastTalker === 'src' ? 1 : 2}\n`;
}

function clock(micros: number): string {
  const iso = formatMicros(micros); // ...THH:MM:SS.ffffffZ
  const t = iso.indexOf('T');
  return iso.slice(t + 1, t + 14);
}

export const FLOW_FORMATTERS: Record<FlowsFormat, (f: FlowRecord) => string> = {
  json: flowToJson,
  ipaudit: flowToIpaudit,
};
