/**
 * The detector runner: creates every enabled module from the registry with its config
 * section, hands it finished flows and packet-time ticks, and stands between detectors
 * and the alert log:
 *
 *   detector.emit -> allowSources (per module) -> suppression -> alertSink
 *
 * Suppression (SPEC §4, "the same logical alert for the same source is suppressed for a
 * configurable window and summarised, not repeated per flow"): the key is rule id +
 * source ip + the alert's suppressKey. The first alert of a key is written at once and
 * opens a window of `alerts.suppressSeconds` of packet time; repeats inside the window
 * (t < start + window) are counted and the latest kept; when the window closes (on a tick
 * or at flush) and there were repeats, ONE summary is written: the latest alert with
 * `tapaudit.suppressed: N`, `tapaudit.summary: true` and " (N more in the last 300 s)".
 * The next alert after the window opens a new one. This is Zeek's Notice suppression
 * (`$identifier`, `n$suppress_for`) plus a summary so no count is lost.
 */
import { LRUCache } from 'lru-cache';
import { CidrMatcher } from '../config/cidr.js';
import type { Config } from '../config/schema.js';
import type { FlowRecord } from '../flow/record.js';
import { LruTable } from './lru-table.js';
import { DETECTOR_MODULES } from './registry.js';
import type { AlertInput, BoundedTable, Detector, DetectorContext, DetectorModule, RuleId } from './types.js';

export interface DetectorRunnerStats {
  /** rule.id -> alert records written (first alerts and summaries). */
  alerts: Record<string, number>;
  /** "<module id>.<table name>" -> entries evicted because the table was full. */
  detector_evictions: Record<string, number>;
  /** Alerts folded into summaries by suppression. */
  suppressed: number;
  /** Alerts dropped because their source is in the module's allowSources. */
  allowlisted: number;
}

export interface DetectorRunner {
  /** A flow finished; every enabled detector sees it, in registry order. */
  onFlowEnd(flow: FlowRecord): void;
  /** Packet time; cheap to call per packet: detectors tick at most once per packet-time second. */
  onTick(nowMicros: number): void;
  /** End of input: detectors' flush, then every pending suppression summary. */
  flush(nowMicros: number): void;
  stats(): DetectorRunnerStats;
  /** Ids of the modules that are running (enabled). */
  readonly moduleIds: readonly string[];
}

/** Name under which the runner's own suppression table counts evictions. */
export const SUPPRESSION_TABLE = 'alerts.suppression';

interface SuppressionEntry {
  windowStartMicros: number;
  repeats: number;
  /** Earliest evidence start among the repeats (the summary spans them all). */
  minStartMicros: number;
  latest: AlertInput | undefined;
  /** Summary written or abandoned; a stale entry still sitting in the pending queue. */
  closed: boolean;
}

const MICROS = 1_000_000;

export function createDetectorRunner(
  config: Config,
  alertSink: (a: AlertInput) => void,
  modules: readonly DetectorModule<unknown>[] = DETECTOR_MODULES,
): DetectorRunner {
  const local = new CidrMatcher(config.localNetworks);
  const suppressMicros = config.alerts.suppressSeconds * MICROS;
  const suppressLabel = `${config.alerts.suppressSeconds} s`;

  const alertCounts: Record<string, number> = {};
  const evictions: Record<string, number> = {};
  let suppressed = 0;
  let allowlisted = 0;

  function write(a: AlertInput): void {
    alertCounts[a.ruleId] = (alertCounts[a.ruleId] ?? 0) + 1;
    alertSink(a);
  }

  function summaryOf(e: SuppressionEntry): AlertInput {
    const a = e.latest!;
    return {
      ...a,
      startMicros: Math.min(e.minStartMicros, a.startMicros),
      message: `${a.message} (${e.repeats} more in the last ${suppressLabel})`,
      evidence: { ...a.evidence, suppressed: e.repeats, summary: true },
    };
  }

  /** Write the summary of a window that had repeats; mark it closed either way. */
  function closeEntry(e: SuppressionEntry): void {
    if (e.closed) return;
    e.closed = true;
    if (e.repeats > 0 && e.latest) write(summaryOf(e));
  }

  evictions[SUPPRESSION_TABLE] = 0;
  // Made at the first alert, and bounded by `maxSize` (each entry counts 1) instead of
  // `max`: with `max` lru-cache allocates its arrays for all 100,000 entries up front,
  // 12.7-13.6 ms (and a full GC) in a run that raises a single alert, against 0.4-0.5 ms;
  // with `maxSize` they grow as entries come. A set that evicts costs ~1.5 us instead of
  // ~1.2 (300,000 sets into 100,000), once per alert.
  let suppression: LRUCache<string, SuppressionEntry> | null = null;
  const suppressionTable = (): LRUCache<string, SuppressionEntry> =>
    (suppression ??= new LRUCache<string, SuppressionEntry>({
      maxSize: config.alerts.maxSuppressionEntries,
      sizeCalculation: () => 1,
      // A full table closes its least recently used window early: the summary is written
      // now rather than lost.
      dispose: (entry, _key, reason) => {
        if (reason === 'evict') {
          evictions[SUPPRESSION_TABLE]!++;
          closeEntry(entry);
        }
      },
    }));
  /**
   * Windows with repeats, in the order they opened. Packet time is nearly monotonic, so
   * the front is the next to close; a window opened out of order closes at most as late
   * as the one in front of it. Bounded by the suppression table size (stale entries are
   * dropped as they reach the front).
   */
  let pending: SuppressionEntry[] = [];
  let pendingHead = 0;

  function closeDue(nowMicros: number, all: boolean): void {
    while (pendingHead < pending.length) {
      const e = pending[pendingHead]!;
      if (!e.closed && !all && nowMicros - e.windowStartMicros < suppressMicros) break;
      pendingHead++;
      if (!e.closed) {
        closeEntry(e);
        // The window is over: the next alert for this key is written at once.
        const key = suppressionKey(e.latest!);
        const table = suppressionTable();
        if (table.peek(key) === e) table.delete(key);
      }
    }
    if (pendingHead > 1024 && pendingHead * 2 > pending.length) {
      pending = pending.slice(pendingHead);
      pendingHead = 0;
    }
  }

  function suppressionKey(a: AlertInput): string {
    return `${a.ruleId}\u0000${a.sourceIp}\u0000${a.suppressKey ?? ''}`;
  }

  function suppress(a: AlertInput): void {
    if (suppressMicros <= 0) {
      write(a);
      return;
    }
    const key = suppressionKey(a);
    const now = a.timestampMicros;
    const table = suppressionTable();
    const e = table.get(key);
    if (e && !e.closed && now - e.windowStartMicros < suppressMicros) {
      if (e.repeats === 0) pending.push(e);
      e.repeats++;
      suppressed++;
      if (a.startMicros < e.minStartMicros) e.minStartMicros = a.startMicros;
      e.latest = a;
      return;
    }
    if (e) closeEntry(e); // an expired window whose tick has not come yet
    table.set(key, { windowStartMicros: now, repeats: 0, minStartMicros: a.startMicros, latest: a, closed: false });
    write(a);
  }

  // Locality of the flow being handed out, worked out once per flow (from its address
  // words, ~10 ns) however many detectors ask, instead of parsing the text each time
  // (~100-180 ns a call; traffic.imbalance, scan, p2p and backdoor each ask per flow),
  // and without making the text (FlowRecord.srcIp). isLocal is for other addresses.
  let current: FlowRecord | null = null;
  let srcLocal = -1;
  let dstLocal = -1;
  function isLocal(ip: string): boolean {
    return local.matchText(ip);
  }
  function srcIsLocal(f: FlowRecord): boolean {
    if (f !== current) return local.matchWords(f.srcAddr, f.ipVersion);
    if (srcLocal < 0) srcLocal = local.matchWords(f.srcAddr, f.ipVersion) ? 1 : 0;
    return srcLocal === 1;
  }
  function dstIsLocal(f: FlowRecord): boolean {
    if (f !== current) return local.matchWords(f.dstAddr, f.ipVersion);
    if (dstLocal < 0) dstLocal = local.matchWords(f.dstAddr, f.ipVersion) ? 1 : 0;
    return dstLocal === 1;
  }

  const shared = new Map<string, unknown>();
  let flowSerial = 0;

  const detectors: Detector[] = [];
  const moduleIds: string[] = [];
  for (const m of modules) {
    const section = config.detectors[m.id];
    if (section && section.enabled === false) continue;
    const allow = new CidrMatcher(section?.allowSources ?? []);
    const rules = new Set<RuleId>(m.rules);
    const ctx: DetectorContext = {
      emit(a: AlertInput): void {
        if (!rules.has(a.ruleId)) {
          throw new Error(`detector "${m.id}" emitted rule ${a.ruleId}, which it does not declare in rules`);
        }
        if (!allow.empty && allow.matchText(a.sourceIp)) {
          allowlisted++;
          return;
        }
        suppress(a);
      },
      isLocal,
      srcIsLocal,
      dstIsLocal,
      table<K extends {}, V extends {}>(name: string, maxEntries: number, onEvict?: (value: V, key: K) => void): BoundedTable<K, V> {
        return boundedTable<K, V>(`${m.id}.${name}`, maxEntries, evictions, onEvict);
      },
      shared<T>(key: string, make: () => T): T {
        if (!shared.has(key)) shared.set(key, make());
        return shared.get(key) as T;
      },
      flowSerial: () => flowSerial,
      evictionCounter(name: string): () => void {
        const statsName = `${m.id}.${name}`;
        evictions[statsName] ??= 0;
        return () => { evictions[statsName]!++; };
      },
    };
    // `section` holds the module's own keys plus enabled/allowSources; modules ignore those.
    detectors.push(m.create(section ?? {}, ctx));
    moduleIds.push(m.id);
  }

  // Tick at most once per packet-time second; `nextTickMicros` makes the per-packet call
  // one comparison. Time going backwards (reordered captures) simply does not tick.
  let nextTickMicros = -Infinity;

  return {
    moduleIds,
    onFlowEnd(flow: FlowRecord): void {
      flowSerial++;
      current = flow;
      srcLocal = -1;
      dstLocal = -1;
      for (let i = 0; i < detectors.length; i++) detectors[i]!.onFlowEnd(flow);
      current = null;
    },
    onTick(nowMicros: number): void {
      if (nowMicros < nextTickMicros) return;
      nextTickMicros = (Math.floor(nowMicros / MICROS) + 1) * MICROS;
      for (let i = 0; i < detectors.length; i++) detectors[i]!.onTick?.(nowMicros);
      closeDue(nowMicros, false);
    },
    flush(nowMicros: number): void {
      for (let i = 0; i < detectors.length; i++) detectors[i]!.flush?.(nowMicros);
      closeDue(nowMicros, true);
      suppression?.clear();
    },
    stats(): DetectorRunnerStats {
      return { alerts: { ...alertCounts }, detector_evictions: { ...evictions }, suppressed, allowlisted };
    },
  };
}

/** A BoundedTable (lru-table.ts); evictions because of `max` are counted under `statsName`. */
export function boundedTable<K extends {}, V extends {}>(
  statsName: string,
  maxEntries: number,
  evictions: Record<string, number>,
  onEvict?: (value: V, key: K) => void,
): BoundedTable<K, V> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new Error(`table ${statsName}: maxEntries must be a positive integer, got ${maxEntries}`);
  }
  evictions[statsName] ??= 0;
  return new LruTable<K & (number | string), V>(maxEntries, (v, k) => {
    evictions[statsName]!++;
    onEvict?.(v, k);
  }) as unknown as BoundedTable<K, V>;
}
