/**
 * `tapaudit search` and `--pivot`: the flow history by time, host, port, protocol and
 * session size, and from one host to every host it talked to (and one step further), to
 * map the scope of a compromise. DuckDB reads the logs directly (db.ts); the filters are
 * fixed SQL fragments with bound parameters.
 */
import { listValue, type DuckDBValue } from '@duckdb/node-api';
import { READ_FLOWS, type FlowDb } from './db.js';
import { plainRow } from './params.js';
import { flowFilter, IS_LOCAL, peersSql } from './report.js';

export interface SearchOptions {
  fromMicros?: number;
  toMicros?: number;
  /** Either side of the flow. */
  host?: string;
  /** The port on the local side / remote side (localNetworks of the config). */
  localPort?: number;
  remotePort?: number;
  proto?: string;
  /** Bounds on bytes_toserver + bytes_toclient. */
  minBytes?: number;
  maxBytes?: number;
  limit: number;
}

type Row = Record<string, unknown>;

/** Columns of a search hit: the flow record's own names (SPEC §3), times as the log writes them. */
const HIT_COLUMNS = `strftime(start, '%Y-%m-%dT%H:%M:%S.%fZ') AS start, strftime("end", '%Y-%m-%dT%H:%M:%S.%fZ') AS "end",
  proto, src_ip, src_port, dst_ip, dst_port, pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient,
  tcp_flags, state, end_reason`;

function whereFor(opts: Omit<SearchOptions, 'limit'>): { where: string; params: Record<string, DuckDBValue> } {
  const base = flowFilter(opts);
  const conds = base.where ? [base.where.slice('WHERE '.length)] : [];
  const params = base.params;
  if (opts.proto !== undefined) {
    conds.push('proto = $proto');
    params.proto = opts.proto;
  }
  const bytes = '(coalesce(bytes_toserver, 0) + coalesce(bytes_toclient, 0))';
  if (opts.minBytes !== undefined) {
    conds.push(`${bytes} >= $min_bytes`);
    params.min_bytes = BigInt(opts.minBytes);
  }
  if (opts.maxBytes !== undefined) {
    conds.push(`${bytes} <= $max_bytes`);
    params.max_bytes = BigInt(opts.maxBytes);
  }
  // A port "on the local side" matches whichever end is local, so an internal flow
  // (both ends local) matches on either port. Locality is only computed when asked for.
  if (opts.localPort !== undefined) {
    conds.push(`((src_port = $local_port AND ${IS_LOCAL('src_ip')}) OR (dst_port = $local_port AND ${IS_LOCAL('dst_ip')}))`);
    params.local_port = opts.localPort;
  }
  if (opts.remotePort !== undefined) {
    conds.push(`((src_port = $remote_port AND NOT ${IS_LOCAL('src_ip')}) OR (dst_port = $remote_port AND NOT ${IS_LOCAL('dst_ip')}))`);
    params.remote_port = opts.remotePort;
  }
  return { where: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

/** Matching flows in time order, at most `limit`; `more` says whether the limit cut the answer. */
export async function searchFlows(db: FlowDb, opts: SearchOptions): Promise<{ rows: Row[]; more: boolean }> {
  const { where, params } = whereFor(opts);
  const rows = await db.all(`SELECT ${HIT_COLUMNS} FROM ${READ_FLOWS} ${where}
    ORDER BY start, src_ip, src_port, dst_ip, dst_port LIMIT $limit`, { files: db.files, ...params, limit: opts.limit + 1 });
  const more = rows.length > opts.limit;
  return { rows: rows.slice(0, opts.limit).map(plainRow), more };
}

/**
 * Every host `pivot` talked to (depth 1), and with depth 2 every host those talked to
 * (except `pivot` itself), each with flows, bytes both ways, server ports, first and last
 * time. Other filters (time, protocol, ports, size) narrow the flows considered. At most
 * `limit` peers per host.
 */
export async function pivot(db: FlowDb, host: string, depth: 1 | 2, opts: Omit<SearchOptions, 'host'>): Promise<Row[]> {
  const { where, params } = whereFor(opts);
  // The filtered flows as a CTE in each statement (a view cannot hold bound parameters).
  const withS = `WITH s AS (SELECT start, "end", proto, src_ip, src_port, dst_ip, dst_port,
      coalesce(bytes_toserver, 0) AS bytes_ts, coalesce(bytes_toclient, 0) AS bytes_tc FROM ${READ_FLOWS} ${where})`;
  const bind = { files: db.files, ...params };
  const level1 = (await db.all(`${withS} SELECT 1 AS depth, $host AS via, *, ${IS_LOCAL('peer')} AS local FROM (${peersSql('s', '$host')}) LIMIT $limit`,
    { ...bind, host, limit: opts.limit })).map(plainRow);
  if (depth === 1 || level1.length === 0) return level1;

  // Depth 2: the same per-host aggregate for every depth-1 peer, in one pass over the logs.
  const level2 = (await db.all(`${withS} SELECT 2 AS depth, via, peer, flows, bytes_to_peer, bytes_from_peer, initiated, accepted, ports, first, last,
      ${IS_LOCAL('peer')} AS local
    FROM (
      SELECT via, peer, count(*) AS flows, sum(sent)::BIGINT AS bytes_to_peer, sum(recv)::BIGINT AS bytes_from_peer,
        count(*) FILTER (WHERE initiated) AS initiated, count(*) FILTER (WHERE NOT initiated) AS accepted,
        list(DISTINCT service ORDER BY service)[1:10] AS ports,
        strftime(min(start), '%Y-%m-%dT%H:%M:%S.%fZ') AS first, strftime(max("end"), '%Y-%m-%dT%H:%M:%S.%fZ') AS last,
        row_number() OVER (PARTITION BY via ORDER BY sum(sent) + sum(recv) DESC, count(*) DESC, peer) AS rank
      FROM (
        SELECT src_ip AS via, dst_ip AS peer, true AS initiated, bytes_ts AS sent, bytes_tc AS recv, proto || '/' || dst_port AS service, start, "end"
          FROM s WHERE src_ip IN (SELECT unnest($vias))
        UNION ALL
        SELECT dst_ip, src_ip, false, bytes_tc, bytes_ts, proto || '/' || dst_port, start, "end"
          FROM s WHERE dst_ip IN (SELECT unnest($vias)) AND src_ip <> dst_ip
      ) WHERE peer <> $host GROUP BY via, peer
    ) WHERE rank <= $limit ORDER BY list_position($vias, via), rank`,
    { ...bind, host, limit: opts.limit, vias: listValue(level1.map((r) => String(r.peer))) })).map(plainRow);
  return [...level1, ...level2];
}
