/**
 * The detector contract (SPEC §4). One module per detector under src/detect/, listed in
 * the registry; each exports its id, its defaults (units in the names), its config schema
 * and a factory. Detectors see finished flows (`onFlowEnd`) and packet-time ticks; they
 * keep per-host state only in bounded LRU tables made through `ctx.table()`.
 */
import type { z } from 'zod';
import type { SchemaKit } from '../config/fields.js';
import type { FlowRecord } from '../flow/record.js';

export const RULE_IDS = [
  'scan.address',
  'scan.port',
  'scan.random',
  'backdoor.port',
  'icmp.unreachable',
  'icmp.nachi',
  'policy.server-port',
  'traffic.imbalance',
  'flood.spoofed-source',
  'p2p.activity',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

/** ECS event.severity: 1 info, 2 low, 3 high, 4 critical. */
export type Severity = 1 | 2 | 3 | 4;

/** What a detector reports; the alert log turns it into the ECS record of SPEC §4. */
export interface AlertInput {
  ruleId: RuleId;
  severity: Severity;
  /** One line an operator reads: "10.0.0.5 probed 1000 hosts on tcp/445 (1000 unanswered)". */
  message: string;
  /** Packet time of the finding (becomes @timestamp), and the span of the evidence. */
  timestampMicros: number;
  startMicros: number;
  endMicros: number;
  /** The offending host. */
  sourceIp: string;
  destinationIp?: string;
  destinationPort?: number;
  /** "tcp" | "udp" | "icmp" | ... */
  transport?: string;
  /** Evidence, written under `tapaudit.*`: counts, samples, per-port tables, hints. */
  evidence: Record<string, unknown>;
  /**
   * What makes two findings "the same alert" for suppression, beyond rule and source
   * (e.g. the destination port). Default: rule + source.
   */
  suppressKey?: string;
}

/** A bounded per-host LRU table (lru-table.ts); evictions are counted in stats. */
export interface BoundedTable<K extends {}, V extends {}> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  has(key: K): boolean;
  readonly size: number;
  /** Entries, most recently used first. */
  entries(): IterableIterator<[K, V]>;
  clear(): void;
}

/** What the registry gives each detector. */
export interface DetectorContext {
  /** Report a finding; the alert log applies allowlists-free suppression and writes it. */
  emit(alert: AlertInput): void;
  /** True when the address (text form) is in the configured local networks. */
  isLocal(ip: string): boolean;
  /**
   * True when the flow's src (initiator) or dst (responder) is in the local networks: from
   * the address words, worked out once per flow however many detectors ask, and without
   * making the address text (FlowRecord.srcIp).
   */
  srcIsLocal(flow: FlowRecord): boolean;
  dstIsLocal(flow: FlowRecord): boolean;
  /**
   * A bounded LRU table for per-host state. `name` appears in stats
   * (`detector_evictions.<detectorId>.<name>`). `onEvict` is called for each entry the
   * bound pushes out (not for delete/clear), so a detector that keeps its per-host state
   * in slab arrays indexed by the value can reuse the slot.
   */
  table<K extends {}, V extends {}>(name: string, maxEntries: number, onEvict?: (value: V, key: K) => void): BoundedTable<K, V>;
  /**
   * State that detectors of this runner share: the first call with `key` makes it, later
   * calls (from any detector) get the same object. Scan and p2p share their per-source
   * attempts this way (shared-attempts.ts) when their configs agree.
   */
  shared<T>(key: string, make: () => T): T;
  /**
   * A number that changes with every flow the runner hands out, so shared state counts a
   * flow once however many detectors pass it on.
   */
  flowSerial(): number;
  /**
   * Counts an eviction from this detector's table `name` (`detector_evictions.<id>.<name>`)
   * for a table kept in shared state rather than made by table().
   */
  evictionCounter(name: string): () => void;
}

export interface Detector {
  /** A flow finished (any end reason). Must not keep `flow` itself: copy what it needs. */
  onFlowEnd(flow: FlowRecord): void;
  /** Packet time moved on (called about once per packet-time second): close windows. */
  onTick?(nowMicros: number): void;
  /** End of input (after the last flow): report what is still pending. */
  flush?(nowMicros: number): void;
}

/**
 * One detector module. `schema` builds the schema that validates this detector's config
 * section (with every default filled in) from the kit the config loader hands it (zod and
 * config/fields.ts), so a module never loads zod itself; defaults are documented in
 * docs/detectors.md with their sources.
 */
export interface DetectorModule<C = unknown> {
  /** Config section name and stats name, e.g. "scan", "backdoor". */
  id: string;
  /** The rule ids this module can raise. */
  rules: readonly RuleId[];
  schema(kit: SchemaKit): z.ZodType<C>;
  create(config: C, ctx: DetectorContext): Detector;
}
