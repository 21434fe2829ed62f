/**
 * Plain-text tables for `tapaudit report` and `tapaudit search`: fixed columns, numbers
 * right-aligned with exact values (analysts compare them with other tools), local hosts
 * marked with "*" as IPAudit marks its local column.
 */
import type { ReportData } from './report.js';

type Row = Record<string, unknown>;

export interface Column {
  key: string;
  title: string;
  /** Right-align (numbers). */
  num?: boolean;
  format?: (v: unknown, row: Row) => string;
}

export function table(rows: readonly Row[], columns: readonly Column[]): string {
  if (rows.length === 0) return '  (none)\n';
  const cells = rows.map((r) => columns.map((c) => (c.format ? c.format(r[c.key], r) : cellText(r[c.key]))));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) =>
    '  ' + vals.map((v, i) => (columns[i]!.num ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd() + '\n';
  return line(columns.map((c) => c.title)) + cells.map(line).join('');
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}

/** Host with the local marker. */
const hostCol = (key: string, title: string, localKey?: string): Column => ({
  key,
  title,
  format: (v, r) => `${String(v)}${localKey && r[localKey] ? ' *' : ''}`,
});

const n = (key: string, title: string): Column => ({ key, title, num: true });

export function renderReportText(d: ReportData): string {
  const s = d.summary;
  const out: string[] = [];
  const filters = [d.filter.host && `host ${d.filter.host}`, d.filter.from && `from ${d.filter.from}`, d.filter.to && `to ${d.filter.to}`]
    .filter(Boolean).join(', ');
  out.push(`Flows ${s.flows}, packets ${s.packets}, bytes ${s.bytes} (IP bytes), ${s.first ?? '-'} .. ${s.last ?? '-'}` +
    (filters ? ` [${filters}]` : '') + '\n');
  out.push(`Local hosts ${s.local_hosts}, remote hosts ${s.remote_hosts}; bytes in (remote -> local) ${s.bytes_in}, ` +
    `out (local -> remote) ${s.bytes_out}, internal ${s.bytes_internal}, transit ${s.bytes_transit}\n`);
  out.push('(* = local host, from localNetworks in the config)\n');

  const section = (title: string, body: string) => out.push(`\n${title}\n${body}`);
  section('Traffic by protocol', table(d.protocols, [
    { key: 'proto', title: 'proto' }, n('flows', 'flows'), n('packets', 'packets'), n('bytes', 'bytes'),
    n('bytes_in', 'in'), n('bytes_out', 'out'),
  ]));
  section('Traffic by service (protocol / server port)', table(d.services, [
    { key: 'proto', title: 'proto' }, n('port', 'port'), n('flows', 'flows'), n('answered', 'answered'),
    n('bytes', 'bytes'), n('bytes_in', 'in'), n('bytes_out', 'out'), n('clients', 'clients'), n('servers', 'servers'),
  ]));
  const talkerCols = [hostCol('host', 'host', 'local'), n('bytes_out', 'bytes sent'), n('bytes_in', 'bytes received'),
    n('pkts_out', 'pkts sent'), n('pkts_in', 'pkts received'), n('flows', 'flows'), n('peers', 'peers')];
  section('Top talkers by bytes sent (out)', table(d.talkers_out, talkerCols));
  section('Top talkers by bytes received (in)', table(d.talkers_in, talkerCols));
  section('Busiest host pairs', table(d.pairs, [
    { key: 'a', title: 'host a' }, { key: 'b', title: 'host b' }, n('flows', 'flows'),
    n('bytes_a_to_b', 'bytes a->b'), n('bytes_b_to_a', 'bytes b->a'), n('pkts_a_to_b', 'pkts a->b'), n('pkts_b_to_a', 'pkts b->a'),
  ]));
  section('Client/server (answered TCP flows; servers are responders, clients initiators)', table(d.client_server, [
    { key: 'service', title: 'service' }, { key: 'role', title: 'role' }, hostCol('host', 'host', 'local'),
    n('peers', 'peers'), n('flows', 'flows'), n('bytes', 'bytes'), { key: 'ports', title: 'ports' },
  ]));
  section('Remote hosts per local host', table(d.remote_hosts, [
    { key: 'host', title: 'local host' }, n('remote_hosts', 'remote hosts'), n('contacted', 'contacted'),
    n('contacted_by', 'contacted by'), n('flows', 'flows'), n('bytes', 'bytes'),
  ]));
  section('Possible scans (many hosts or ports, few answers)', table(d.scans, [
    { key: 'host', title: 'source' }, { key: 'direction', title: 'direction' }, n('hosts', 'hosts'), n('ports', 'ports'),
    n('flows', 'flows'), n('answered', 'answered'), n('no_reply', 'no reply'), n('rejected', 'rejected'),
    { key: 'top_ports', title: 'top ports' }, { key: 'first', title: 'first' },
  ]));
  if (d.host) {
    const h = d.host.summary;
    section(`Host ${d.filter.host}`, `  sent ${h.bytes_out ?? 0} bytes, received ${h.bytes_in ?? 0} bytes in ${h.flows ?? 0} flows with ${h.peers ?? 0} peers\n`);
    section(`Peers of ${d.filter.host}`, peersTable(d.host.peers));
  }
  if (d.alerts) {
    section('Alerts by rule', table(d.alerts.by_rule, [
      { key: 'rule', title: 'rule' }, n('alerts', 'alerts'), n('max_severity', 'max sev'), n('sources', 'sources'),
      { key: 'first', title: 'first' }, { key: 'last', title: 'last' },
    ]));
  }
  return out.join('');
}

export function peersTable(rows: readonly Row[], withLevel = false): string {
  return table(rows, [
    ...(withLevel ? [n('depth', 'depth'), { key: 'via', title: 'via' } as Column] : []),
    { key: 'peer', title: 'peer' }, n('flows', 'flows'), n('bytes_to_peer', 'bytes to'), n('bytes_from_peer', 'bytes from'),
    n('initiated', 'started'), n('accepted', 'accepted'), { key: 'ports', title: 'server ports' },
    { key: 'first', title: 'first' }, { key: 'last', title: 'last' },
  ]);
}
