/**
 * `tapaudit report`: IPAudit-style tables over flow logs, computed in DuckDB (db.ts).
 *
 * The flows are read once into a temp table `f` (only the columns the tables use, plus
 * local/remote flags), because a report asks a dozen questions of the same records and
 * parsing JSON is the expensive part. Every table is one SQL statement; only its top rows
 * come back to JS.
 *
 * Definitions (docs/investigation.md):
 * - bytes/packets are IP bytes as the sensor counts them (README "Flow records");
 * - a flow is *answered* when the responder sent something that is not a refusal:
 *   pkts_toclient > 0 and state not S0/REJ (Zeek conn_state; REJ = SYN answered by RST);
 * - inbound = remote -> local bytes, outbound = local -> remote; flows with both ends
 *   local (internal) or both remote (transit) count in neither;
 * - a host is local when its address is in `localNetworks` of the config.
 */
import { listValue, type DuckDBValue } from '@duckdb/node-api';
import { READ_FLOWS, type FlowDb } from './db.js';
import { plainRow } from './params.js';

export interface ReportOptions {
  /** Only flows with this host on either side (canonical address text). */
  host?: string;
  fromMicros?: number;
  toMicros?: number;
  /** Rows per table. */
  top: number;
  /** Possible scans: at least this many distinct hosts (or scanPorts ports) ... */
  scanHosts: number;
  scanPorts: number;
  /** ... with at most this share of answered flows. */
  scanAnsweredShare: number;
  /** Alert log (NDJSON) to read for the timeline and counts. */
  alerts?: string[];
  /** Time series for the HTML report. */
  series: boolean;
}

export const REPORT_DEFAULTS = {
  top: 20,
  // SPEC §4: scan.address 25 hosts, scan.port 15 ports (Zeek scan.zeek, Snort sfPortscan).
  scanHosts: 25,
  scanPorts: 15,
  // "sent to many and got few answers": at most 1 in 5 flows answered.
  scanAnsweredShare: 0.2,
};

type Row = Record<string, unknown>;

export interface ReportData {
  filter: { host: string | null; from: string | null; to: string | null };
  summary: Row;
  protocols: Row[];
  services: Row[];
  talkers_out: Row[];
  talkers_in: Row[];
  pairs: Row[];
  client_server: Row[];
  remote_hosts: Row[];
  scans: Row[];
  host: { summary: Row; peers: Row[] } | null;
  alerts: { by_rule: Row[]; events: Row[] } | null;
  series: Series | null;
}

export interface Series {
  bucket_seconds: number;
  /** Bucket start times, epoch seconds. */
  t: number[];
  site: { in: number[]; out: number[] };
  hosts: { host: string; in: number[]; out: number[] }[];
}

/**
 * Client/server report services (the IPAudit article's list: who runs HTTP, HTTPS, SMTP,
 * SSH, Telnet servers and who uses them), with their usual alternate ports.
 */
export const CLIENT_SERVER_SERVICES: readonly [string, number][] = [
  ['HTTP', 80], ['HTTP', 8080], ['HTTP', 8000],
  ['HTTPS', 443], ['HTTPS', 8443],
  ['SMTP', 25], ['SMTP', 465], ['SMTP', 587],
  ['SSH', 22],
  ['Telnet', 23],
];

const TIME_TEXT = (col: string) => `strftime(${col}, '%Y-%m-%dT%H:%M:%S.%fZ')`;

/** A flow counts as answered (see the header). */
const ANSWERED = `(pkts_tc > 0 AND coalesce(state, '') NOT IN ('S0', 'REJ'))`;
/** Local -> remote and remote -> local flows; internal and transit count in neither. */
const OUT_BYTES = `CASE WHEN src_local AND NOT dst_local THEN bytes_ts WHEN dst_local AND NOT src_local THEN bytes_tc ELSE 0 END`;
const IN_BYTES = `CASE WHEN src_local AND NOT dst_local THEN bytes_tc WHEN dst_local AND NOT src_local THEN bytes_ts ELSE 0 END`;

/** Host is local: its address as a 128-bit number falls in one of the configured ranges. */
export const IS_LOCAL = (col: string) => `coalesce((SELECT true FROM ta_local WHERE ta_ip_num(${col}) BETWEEN lo AND hi LIMIT 1), false)`;

/** WHERE clause and parameters for the common filters (host, time); fixed SQL fragments only. */
export function flowFilter(opts: { host?: string; fromMicros?: number; toMicros?: number }): { where: string; params: Record<string, DuckDBValue> } {
  const conds: string[] = [];
  const params: Record<string, DuckDBValue> = {};
  if (opts.host !== undefined) {
    conds.push('(src_ip = $host OR dst_ip = $host)');
    params.host = opts.host;
  }
  // A flow is in the window when it overlaps it, so a long flow that began before --from counts.
  if (opts.fromMicros !== undefined) {
    conds.push('"end" >= make_timestamp($from_us::BIGINT)');
    params.from_us = BigInt(opts.fromMicros);
  }
  if (opts.toMicros !== undefined) {
    conds.push('start <= make_timestamp($to_us::BIGINT)');
    params.to_us = BigInt(opts.toMicros);
  }
  return { where: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

export async function buildReport(db: FlowDb, opts: ReportOptions): Promise<ReportData> {
  const filter = flowFilter(opts);
  // Locality is decided once per distinct address, not per record: a log has far fewer
  // addresses than flows (the 2M-flow churn log: ~10x fewer), and the address-to-number
  // macro is string work.
  await db.conn.run(`CREATE OR REPLACE TEMP TABLE f0 AS
    SELECT start, "end", proto, src_ip, src_port, dst_ip, dst_port,
      coalesce(pkts_toserver, 0) AS pkts_ts, coalesce(pkts_toclient, 0) AS pkts_tc,
      coalesce(bytes_toserver, 0) AS bytes_ts, coalesce(bytes_toclient, 0) AS bytes_tc, state
    FROM ${READ_FLOWS} ${filter.where}`, { files: db.files, ...filter.params });
  await db.conn.run(`CREATE OR REPLACE TEMP TABLE ips AS
    SELECT ip, ${IS_LOCAL('ip')} AS local FROM (SELECT src_ip AS ip FROM f0 UNION SELECT dst_ip FROM f0)`);
  await db.conn.run(`CREATE OR REPLACE TEMP TABLE f AS
    SELECT f0.*, s.local AS src_local, d.local AS dst_local
    FROM f0 JOIN ips s ON s.ip = f0.src_ip JOIN ips d ON d.ip = f0.dst_ip`);
  await db.conn.run('DROP TABLE f0');
  const top = { top: opts.top };
  const q = async (sql: string, params: Record<string, DuckDBValue> = {}) => (await db.all(sql, params)).map(plainRow);

  const [summary] = await q(`SELECT count(*) AS flows, coalesce(sum(pkts_ts + pkts_tc), 0)::BIGINT AS packets,
      coalesce(sum(bytes_ts + bytes_tc), 0)::BIGINT AS bytes,
      coalesce(sum(${IN_BYTES}), 0)::BIGINT AS bytes_in, coalesce(sum(${OUT_BYTES}), 0)::BIGINT AS bytes_out,
      coalesce(sum(CASE WHEN src_local AND dst_local THEN bytes_ts + bytes_tc ELSE 0 END), 0)::BIGINT AS bytes_internal,
      coalesce(sum(CASE WHEN NOT src_local AND NOT dst_local THEN bytes_ts + bytes_tc ELSE 0 END), 0)::BIGINT AS bytes_transit,
      ${TIME_TEXT('min(start)')} AS first, ${TIME_TEXT('max("end")')} AS last,
      (SELECT count(DISTINCT ip) FROM (SELECT src_ip AS ip FROM f WHERE src_local UNION ALL SELECT dst_ip FROM f WHERE dst_local)) AS local_hosts,
      (SELECT count(DISTINCT ip) FROM (SELECT src_ip AS ip FROM f WHERE NOT src_local UNION ALL SELECT dst_ip FROM f WHERE NOT dst_local)) AS remote_hosts
    FROM f`);

  const protocols = await q(`SELECT proto, count(*) AS flows, sum(pkts_ts + pkts_tc)::BIGINT AS packets,
      sum(bytes_ts + bytes_tc)::BIGINT AS bytes, sum(${IN_BYTES})::BIGINT AS bytes_in, sum(${OUT_BYTES})::BIGINT AS bytes_out
    FROM f GROUP BY proto ORDER BY bytes DESC, proto`);

  // Service = protocol and server (responder) port, as IPAudit's per-port traffic table.
  const services = await q(`SELECT proto, dst_port AS port, count(*) AS flows, count(*) FILTER (WHERE ${ANSWERED}) AS answered,
      sum(bytes_ts + bytes_tc)::BIGINT AS bytes, sum(${IN_BYTES})::BIGINT AS bytes_in, sum(${OUT_BYTES})::BIGINT AS bytes_out,
      count(DISTINCT src_ip) AS clients, count(DISTINCT dst_ip) FILTER (WHERE ${ANSWERED}) AS servers
    FROM f WHERE proto IN ('tcp', 'udp') GROUP BY proto, dst_port ORDER BY bytes DESC, flows DESC, proto, port LIMIT $top`, top);

  // One row per (host, flow side): what the host sent and received in that flow.
  await db.conn.run(`CREATE OR REPLACE TEMP TABLE h AS
    SELECT host, any_value(local) AS local, sum(sent)::BIGINT AS bytes_out, sum(recv)::BIGINT AS bytes_in,
      sum(pkts_out)::BIGINT AS pkts_out, sum(pkts_in)::BIGINT AS pkts_in, count(*) AS flows, count(DISTINCT peer) AS peers
    FROM (
      SELECT src_ip AS host, src_local AS local, dst_ip AS peer, bytes_ts AS sent, bytes_tc AS recv, pkts_ts AS pkts_out, pkts_tc AS pkts_in FROM f
      UNION ALL
      SELECT dst_ip, dst_local, src_ip, bytes_tc, bytes_ts, pkts_tc, pkts_ts FROM f
    ) GROUP BY host`);
  const talkers_out = await q(`SELECT * FROM h ORDER BY bytes_out DESC, host LIMIT $top`, top);
  const talkers_in = await q(`SELECT * FROM h ORDER BY bytes_in DESC, host LIMIT $top`, top);

  // Host pairs without direction: a = the lower address text, b = the higher.
  const pairs = await q(`SELECT a, b, count(*) AS flows,
      sum(CASE WHEN src_ip = a THEN pkts_ts ELSE pkts_tc END)::BIGINT AS pkts_a_to_b,
      sum(CASE WHEN src_ip = a THEN pkts_tc ELSE pkts_ts END)::BIGINT AS pkts_b_to_a,
      sum(CASE WHEN src_ip = a THEN bytes_ts ELSE bytes_tc END)::BIGINT AS bytes_a_to_b,
      sum(CASE WHEN src_ip = a THEN bytes_tc ELSE bytes_ts END)::BIGINT AS bytes_b_to_a,
      sum(bytes_ts + bytes_tc)::BIGINT AS bytes
    FROM (SELECT *, least(src_ip, dst_ip) AS a, greatest(src_ip, dst_ip) AS b FROM f)
    GROUP BY a, b ORDER BY bytes DESC, a, b LIMIT $top`, top);

  // Who runs and who uses HTTP/HTTPS/SMTP/SSH/Telnet: servers are responders of answered
  // flows to the service port; clients are the initiators of those flows.
  const svcValues = CLIENT_SERVER_SERVICES.map((_, i) => `($s${i}, $p${i})`).join(', ');
  const svcParams: Record<string, DuckDBValue> = { top: opts.top };
  CLIENT_SERVER_SERVICES.forEach(([name, port], i) => {
    svcParams[`s${i}`] = name;
    svcParams[`p${i}`] = port;
  });
  const client_server = await q(`WITH s AS (
      SELECT svc.name AS service, f.* FROM f JOIN (VALUES ${svcValues}) svc(name, port) ON f.dst_port = svc.port
      WHERE f.proto = 'tcp' AND ${ANSWERED}
    ), roles AS (
      SELECT service, 'server' AS role, dst_ip AS host, any_value(dst_local) AS local, count(DISTINCT src_ip) AS peers,
        count(*) AS flows, sum(bytes_ts + bytes_tc)::BIGINT AS bytes, list(DISTINCT dst_port ORDER BY dst_port) AS ports
      FROM s GROUP BY service, dst_ip
      UNION ALL
      SELECT service, 'client', src_ip, any_value(src_local), count(DISTINCT dst_ip), count(*), sum(bytes_ts + bytes_tc)::BIGINT,
        list(DISTINCT dst_port ORDER BY dst_port)
      FROM s GROUP BY service, src_ip
    )
    SELECT * EXCLUDE (rank) FROM (
      SELECT *, row_number() OVER (PARTITION BY service, role ORDER BY local DESC, flows DESC, host) AS rank FROM roles
    ) WHERE rank <= $top ORDER BY service, role DESC, local DESC, flows DESC, host`, svcParams);

  // IPAudit's remote-host count: distinct remote hosts per local host, by who started.
  const remote_hosts = await q(`SELECT host, count(DISTINCT peer) AS remote_hosts,
      count(DISTINCT peer) FILTER (WHERE initiated) AS contacted, count(DISTINCT peer) FILTER (WHERE NOT initiated) AS contacted_by,
      count(*) AS flows, sum(bytes)::BIGINT AS bytes
    FROM (
      SELECT src_ip AS host, dst_ip AS peer, true AS initiated, bytes_ts + bytes_tc AS bytes FROM f WHERE src_local AND NOT dst_local
      UNION ALL
      SELECT dst_ip, src_ip, false, bytes_ts + bytes_tc FROM f WHERE dst_local AND NOT src_local
    ) GROUP BY host ORDER BY remote_hosts DESC, host LIMIT $top`, top);

  // Possible scans: a source that tried many hosts (or ports) and was rarely answered.
  const scans = await q(`WITH d AS (
      SELECT *, CASE WHEN src_local AND NOT dst_local THEN 'outgoing' WHEN dst_local AND NOT src_local THEN 'incoming'
                     WHEN src_local THEN 'internal' ELSE 'transit' END AS direction FROM f
    ), c AS (
      SELECT src_ip AS host, direction, count(DISTINCT dst_ip) AS hosts, count(DISTINCT dst_port) AS ports, count(*) AS flows,
        count(*) FILTER (WHERE ${ANSWERED}) AS answered,
        count(*) FILTER (WHERE pkts_tc = 0) AS no_reply, count(*) FILTER (WHERE state = 'REJ') AS rejected,
        ${TIME_TEXT('min(start)')} AS first, ${TIME_TEXT('max("end")')} AS last
      FROM d GROUP BY src_ip, direction
      HAVING (count(DISTINCT dst_ip) >= $scan_hosts OR count(DISTINCT dst_port) >= $scan_ports)
         AND count(*) FILTER (WHERE ${ANSWERED}) <= $scan_share * count(*)
    ), p AS (
      SELECT d.src_ip AS host, d.direction, d.proto || '/' || d.dst_port AS port, count(*) AS n
      FROM d SEMI JOIN c ON d.src_ip = c.host AND d.direction = c.direction GROUP BY ALL
    ), tp AS (
      SELECT host, direction, list(port || ' x' || n ORDER BY n DESC, port)[1:5] AS top_ports FROM p GROUP BY ALL
    )
    SELECT c.*, tp.top_ports FROM c JOIN tp USING (host, direction)
    ORDER BY hosts DESC, ports DESC, host LIMIT $top`,
    { top: opts.top, scan_hosts: opts.scanHosts, scan_ports: opts.scanPorts, scan_share: opts.scanAnsweredShare });

  let host: ReportData['host'] = null;
  if (opts.host !== undefined) {
    const [hs] = await q(`SELECT * FROM h WHERE host = $host`, { host: opts.host });
    const peers = await q(peersSql('f', '$host') + ' LIMIT $top', { host: opts.host, top: opts.top });
    host = { summary: hs ?? { host: opts.host, flows: 0 }, peers };
  }

  return {
    filter: {
      host: opts.host ?? null,
      from: opts.fromMicros !== undefined ? new Date(opts.fromMicros / 1000).toISOString() : null,
      to: opts.toMicros !== undefined ? new Date(opts.toMicros / 1000).toISOString() : null,
    },
    summary: summary ?? {},
    protocols, services, talkers_out, talkers_in, pairs, client_server, remote_hosts, scans, host,
    alerts: opts.alerts?.length ? await readAlerts(db, opts.alerts) : null,
    series: opts.series ? await buildSeries(q) : null,
  };
}

/**
 * Every host that `hostParam` talked to in `table` (a relation with the columns of `f` or
 * of the raw log): flows, bytes each way, the server ports used, first and last time.
 * `ports` lists "proto/port" of the responder's side, so "tcp/22" under a peer means an
 * SSH session whichever side started it.
 */
export function peersSql(table: string, hostParam: string): string {
  return `SELECT peer, count(*) AS flows,
      sum(sent)::BIGINT AS bytes_to_peer, sum(recv)::BIGINT AS bytes_from_peer,
      count(*) FILTER (WHERE initiated) AS initiated, count(*) FILTER (WHERE NOT initiated) AS accepted,
      list(DISTINCT service ORDER BY service)[1:10] AS ports,
      ${TIME_TEXT('min(start)')} AS first, ${TIME_TEXT('max("end")')} AS last
    FROM (
      SELECT dst_ip AS peer, true AS initiated, bytes_ts AS sent, bytes_tc AS recv, proto || '/' || dst_port AS service, start, "end"
        FROM ${table} WHERE src_ip = ${hostParam}
      UNION ALL
      SELECT src_ip, false, bytes_tc, bytes_ts, proto || '/' || dst_port, start, "end"
        FROM ${table} WHERE dst_ip = ${hostParam} AND src_ip <> ${hostParam}
    ) GROUP BY peer ORDER BY bytes_to_peer + bytes_from_peer DESC, flows DESC, peer`;
}

/** Alert log columns used here (SPEC §4); explicit for the same reasons as the flows. */
const READ_ALERTS = `read_json($alert_files, format = 'newline_delimited', ignore_errors = true,
  columns = {'@timestamp': 'VARCHAR', 'message': 'VARCHAR', 'event': 'STRUCT(severity INTEGER)',
             'rule': 'STRUCT(id VARCHAR, name VARCHAR)', 'source': 'STRUCT(ip VARCHAR)',
             'tapaudit': 'STRUCT(summary BOOLEAN)'})`;

/** Events shown on the HTML timeline at most; the counts by rule cover all of them. */
const MAX_ALERT_EVENTS = 5000;

async function readAlerts(db: FlowDb, files: string[]): Promise<NonNullable<ReportData['alerts']>> {
  const params = { alert_files: listValue(files) };
  const by_rule = (await db.all(`SELECT rule.id AS rule, any_value(rule.name) AS name, count(*) AS alerts,
      max(event.severity) AS max_severity, count(DISTINCT source.ip) AS sources,
      min("@timestamp") AS first, max("@timestamp") AS last
    FROM ${READ_ALERTS} WHERE rule.id IS NOT NULL GROUP BY rule.id ORDER BY alerts DESC, rule`, params)).map(plainRow);
  const events = (await db.all(`SELECT "@timestamp" AS time, rule.id AS rule, event.severity AS severity,
      source.ip AS source, message
    FROM ${READ_ALERTS} WHERE rule.id IS NOT NULL AND NOT coalesce(tapaudit.summary, false)
    ORDER BY severity DESC, time LIMIT ${MAX_ALERT_EVENTS}`, params)).map(plainRow);
  events.sort((a, b) => String(a.time).localeCompare(String(b.time)));
  return { by_rule, events };
}

/**
 * Bucket sizes for the traffic-over-time charts: the smallest that keeps a chart under
 * MAX_BUCKETS points. 5 minutes is the usual MRTG/IPAudit period; smaller ones let a
 * short replay draw a line too, larger ones keep a month readable.
 */
const BUCKET_SECONDS = [1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400];
const MAX_BUCKETS = 400;
/** Hosts drawn beside the site line: the local hosts with the most bytes to/from remote. */
const SERIES_HOSTS = 6;

async function buildSeries(q: (sql: string, p?: Record<string, DuckDBValue>) => Promise<Row[]>): Promise<Series | null> {
  const [span] = await q(`SELECT epoch_us(min(start)) AS lo, epoch_us(max(start)) AS hi FROM f`);
  if (!span || span.lo === null) return null;
  const lo = Number(span.lo);
  const seconds = (Number(span.hi) - lo) / 1e6;
  const bucket = BUCKET_SECONDS.find((b) => seconds / b < MAX_BUCKETS) ?? BUCKET_SECONDS[BUCKET_SECONDS.length - 1]!;
  const us = BigInt(bucket * 1e6);
  const first = Math.floor(lo / 1e6 / bucket) * bucket;
  const count = Math.floor((Number(span.hi) / 1e6 - first) / bucket) + 1;
  const t = Array.from({ length: count }, (_, i) => first + i * bucket);
  const slot = (v: unknown) => Math.round((Number(v) / 1e6 - first) / bucket);

  // A flow's bytes go to the bucket of its start: flows are cut every 1800 s (active
  // timeout), so a long transfer is spread over its records at that resolution.
  const site = { in: new Array<number>(count).fill(0), out: new Array<number>(count).fill(0) };
  for (const r of await q(`SELECT (epoch_us(start) // $us) * $us AS b, sum(${IN_BYTES})::BIGINT AS i, sum(${OUT_BYTES})::BIGINT AS o
      FROM f GROUP BY b`, { us })) {
    site.in[slot(r.b)] = Number(r.i);
    site.out[slot(r.b)] = Number(r.o);
  }
  const hosts: Series['hosts'] = [];
  const topHosts = await q(`SELECT host FROM (
      SELECT src_ip AS host, bytes_ts + bytes_tc AS bytes FROM f WHERE src_local AND NOT dst_local
      UNION ALL SELECT dst_ip, bytes_ts + bytes_tc FROM f WHERE dst_local AND NOT src_local
    ) GROUP BY host ORDER BY sum(bytes) DESC, host LIMIT $n`, { n: SERIES_HOSTS });
  for (const { host } of topHosts) {
    const s = { host: String(host), in: new Array<number>(count).fill(0), out: new Array<number>(count).fill(0) };
    for (const r of await q(`SELECT (epoch_us(start) // $us) * $us AS b,
        sum(CASE WHEN src_ip = $h THEN bytes_tc ELSE bytes_ts END)::BIGINT AS i,
        sum(CASE WHEN src_ip = $h THEN bytes_ts ELSE bytes_tc END)::BIGINT AS o
      FROM f WHERE (src_ip = $h AND NOT dst_local) OR (dst_ip = $h AND NOT src_local) GROUP BY b`, { us, h: String(host) })) {
      s.in[slot(r.b)] = Number(r.i);
      s.out[slot(r.b)] = Number(r.o);
    }
    hosts.push(s);
  }
  return { bucket_seconds: bucket, t, site, hosts };
}
