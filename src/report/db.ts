/**
 * Flow logs as a DuckDB relation, for `tapaudit report` and `tapaudit search`.
 *
 * Why DuckDB: an analyst asks questions of days of flow logs (millions of records). DuckDB
 * reads the NDJSON files (plain or .gz, several files and globs at once) with its own
 * parallel JSON reader and answers in columnar, vectorised SQL, so no record ever becomes
 * a JS object; only the aggregated answer rows cross into JS. Measured on this machine:
 * docs/investigation.md (a search over 2M flows in about a second).
 *
 * Everything the user types (file names, addresses, ports, times, byte bounds) is bound
 * as a prepared-statement parameter, never pasted into SQL text. The only SQL built at
 * run time is from fixed fragments chosen by which options are present.
 *
 * Local networks: DuckDB's `inet` extension is not inside the npm package (it is
 * downloaded on first use, and this sensor runs offline), so addresses are turned into
 * 128-bit integers in SQL (IPv4 mapped as ::ffff:a.b.c.d, the same layout as
 * src/config/cidr.ts) and compared with a small table of [lo, hi] bounds, one row per
 * configured CIDR.
 */
import fs from 'node:fs';
import {
  DuckDBInstance,
  listValue,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import { parseCidr } from '../config/cidr.js';
import { UserError } from '../util/errors.js';

/**
 * Column types of a flow record (SPEC §3, README "Flow records"). Given explicitly so an
 * empty file, a file of UDP only (no tcp_flags) or a file with an odd line does not change
 * what DuckDB infers. Fields the reports do not use are left out: DuckDB then skips them.
 */
const FLOW_COLUMNS = `{
  'start': 'TIMESTAMP', 'end': 'TIMESTAMP', 'proto': 'VARCHAR',
  'src_ip': 'VARCHAR', 'src_port': 'INTEGER', 'dst_ip': 'VARCHAR', 'dst_port': 'INTEGER',
  'pkts_toserver': 'UBIGINT', 'pkts_toclient': 'UBIGINT',
  'bytes_toserver': 'UBIGINT', 'bytes_toclient': 'UBIGINT',
  'tcp_flags': 'VARCHAR', 'state': 'VARCHAR', 'end_reason': 'VARCHAR'
}`;

/** The flow writer's time text: "2026-01-02T03:04:05.123456Z" (src/util/time.ts), UTC. */
const TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%fZ';

/**
 * `read_json` over the bound file list `$files`. ignore_errors: a torn last line (a log
 * being written, a crash) or a stray non-JSON line is skipped, not fatal, the way a
 * malformed packet is counted and not thrown in the sensor itself. DuckDB turns such a
 * line into a row of NULLs, hence the WHERE.
 */
export const READ_FLOWS = `(SELECT * FROM read_json($files, format = 'newline_delimited', columns = ${FLOW_COLUMNS},
  timestampformat = '${TIME_FORMAT}', ignore_errors = true) WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL AND start IS NOT NULL) AS flows`;

/**
 * Text address -> UHUGEINT, NULL when it is not an address. IPv6 text is expanded around
 * its "::" into eight hex groups; IPv4 is placed at ::ffff:0:0 (cidr.ts does the same), so
 * one range table serves both families.
 */
const MACROS = [
  `CREATE OR REPLACE TEMP MACRO ta_v6_half(s) AS CASE WHEN s = '' THEN []::VARCHAR[] ELSE string_split(s, ':') END`,
  `CREATE OR REPLACE TEMP MACRO ta_v6_groups(ip) AS CASE WHEN contains(ip, '::') THEN list_concat(
      ta_v6_half(split_part(ip, '::', 1)),
      list_transform(range(8 - len(ta_v6_half(split_part(ip, '::', 1))) - len(ta_v6_half(split_part(ip, '::', 2)))), x -> '0'),
      ta_v6_half(split_part(ip, '::', 2)))
    ELSE string_split(ip, ':') END`,
  `CREATE OR REPLACE TEMP MACRO ta_v6_num(ip) AS CASE WHEN len(ta_v6_groups(ip)) = 8 THEN
      list_reduce(list_transform(ta_v6_groups(ip), g -> try_cast('0x' || g AS USMALLINT)::UHUGEINT), (acc, g) -> (acc << 16) + g)
    END`,
  `CREATE OR REPLACE TEMP MACRO ta_ip_num(ip) AS CASE
      WHEN contains(ip, ':') THEN ta_v6_num(ip)
      ELSE 281470681743360::UHUGEINT
        + (try_cast(split_part(ip, '.', 1) AS UTINYINT)::UHUGEINT << 24)
        + (try_cast(split_part(ip, '.', 2) AS UTINYINT)::UHUGEINT << 16)
        + (try_cast(split_part(ip, '.', 3) AS UTINYINT)::UHUGEINT << 8)
        + try_cast(split_part(ip, '.', 4) AS UTINYINT)::UHUGEINT
    END`,
];

export interface FlowDb {
  conn: DuckDBConnection;
  /** Bound as `$files` in every statement that reads the logs. */
  files: DuckDBValue;
  /** Run a statement with named parameters; rows as plain objects (BigInt -> number). */
  all(sql: string, params?: Record<string, DuckDBValue>): Promise<Record<string, unknown>[]>;
  close(): void;
}

/** Characters that make DuckDB treat a path as a glob pattern. */
const GLOB_CHARS = /[*?[]/;

/**
 * Open an in-memory DuckDB over the flow logs `paths` (files or globs) with the local
 * network table filled from `localNetworks` (already validated by the config loader).
 */
export async function openFlowDb(command: string, paths: readonly string[], localNetworks: readonly string[]): Promise<FlowDb> {
  if (paths.length === 0) {
    throw new UserError('E_USAGE', `${command}: no flow log given; usage: tapaudit ${command} FLOWS... (NDJSON written by 'tapaudit replay --flows F')`);
  }
  for (const p of paths) {
    if (GLOB_CHARS.test(p)) continue; // DuckDB expands it; no match is reported below
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new UserError('E_INPUT', `${command}: cannot read flow log ${p}: no such file; give an NDJSON flow log written by 'tapaudit replay --flows F'`, 3);
    }
    if (!st.isFile()) throw new UserError('E_INPUT', `${command}: ${p} is not a file; give NDJSON flow logs (globs like 'flows-*.ndjson' work)`, 3);
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const files = listValue([...paths]);
  const all = async (sql: string, params: Record<string, DuckDBValue> = {}) => {
    const reader = await conn.runAndReadAll(sql, params);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  };
  for (const m of MACROS) await conn.run(m);
  await conn.run('CREATE TEMP TABLE ta_local (lo UHUGEINT, hi UHUGEINT)');
  for (const text of localNetworks) {
    const c = parseCidr(text);
    if (!c) continue; // the config loader has already refused anything else
    const [lo, hi] = cidrBounds(c.words, c.prefixLength + (c.ipVersion === 4 ? 96 : 0));
    // bindUHugeInt: a plain bigint would bind as signed HUGEINT, and fc00::/7 is above 2^127.
    const insert = await conn.prepare('INSERT INTO ta_local VALUES ($1, $2)');
    insert.bindUHugeInt(1, lo);
    insert.bindUHugeInt(2, hi);
    await insert.run();
    insert.destroySync();
  }
  // A flow log that does not exist or a glob that matched nothing fails here, once, in one line.
  try {
    await conn.run(`SELECT 1 FROM ${READ_FLOWS} LIMIT 0`, { files });
  } catch (err) {
    throw new UserError('E_INPUT', `${command}: cannot read the flow logs: ${firstLine(err)}`, 3);
  }
  return {
    conn,
    files,
    all,
    close: () => {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

/** Address words (IPv4 as ::ffff:a.b.c.d) and a /0..128 prefix -> [first, last] address as 128-bit integers. */
export function cidrBounds(words: Uint32Array, prefixLength128: number): [bigint, bigint] {
  let n = 0n;
  for (let i = 0; i < 4; i++) n = (n << 32n) | BigInt(words[i]!);
  const hostBits = BigInt(128 - prefixLength128);
  const size = 1n << hostBits;
  const lo = (n >> hostBits) << hostBits;
  return [lo, lo + size - 1n];
}

export function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}
