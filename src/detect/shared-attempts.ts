/**
 * The per-source state the scan and p2p detectors keep in common: one bounded table of
 * sources and one compact stage of failed attempts (attempts.ts CompactAttempts), read by
 * both. With their default config the two detectors see exactly the same failed and
 * answered attempts (the P2P ports scan skips are those p2p takes out of the compact
 * stage), so two tables and two stages held the same pairs twice: on the churn bench's
 * 1,000,099 flow records (65,536 sources), scan alone took 672 ns per flow and p2p alone
 * 514 through the flow-end stage, both together 1,485 (two 34 MB sets of records evicting
 * each other from the caches).
 *
 * Each detector (a member) keeps its own full state per source once it leaves the compact
 * stage; until then it is "attached" to the source's record. A member leaves when it needs
 * its full state (scan: a threshold is reached; p2p: a P2P-port contact or a full record).
 * A flow that several members pass on counts once in the record: the runner's flow serial
 * (DetectorContext.flowSerial) tells a member's call apart from a repeat of the same flow.
 *
 * Members share a stage only when everything that decides what the stage holds is the same
 * (sharedAttempts' key: window, table size, pairs per record, the reply and skipped
 * ports); otherwise each gets its own, which then behaves as the detector's private stage.
 */
import type { HostKey } from '../flow/record.js';
import { CompactAttempts, type SourceWindow } from './attempts.js';
import { LruTable } from './lru-table.js';
import type { DetectorContext } from './types.js';

export interface AttemptsSpec {
  windowSeconds: number;
  /** Sources tracked at once (the table's bound). */
  maxSources: number;
  /** Pairs a compact record holds. */
  pairsPerSlot: number;
  /**
   * The port lists (as configured) whose flows are not probes, and whose flows never reach
   * the compact stage: equal lists make equal stages (lists written differently only miss
   * the sharing).
   */
  replySrcPorts: readonly (number | string)[];
  notCompactPorts: readonly (number | string)[];
}

/** The stage for `spec`: the one another detector of this runner made with the same spec, or a new one. */
export function sharedAttempts(ctx: DetectorContext, spec: AttemptsSpec): SharedAttempts {
  const key = `attempts|${spec.windowSeconds}|${spec.maxSources}|${spec.pairsPerSlot}|${spec.replySrcPorts.join(',')}|${spec.notCompactPorts.join(',')}`;
  return ctx.shared(key, () => new SharedAttempts(spec));
}

interface Member {
  /** Full states by slot (few: the sources that reached a threshold or a P2P port). */
  readonly full: Map<number, unknown>;
  readonly evicted: () => void;
}

/** Members of one stage: a bit each in the low byte (attached) and the high byte (full state) of a slot's word. */
const MAX_MEMBERS = 8;
const FULL_SHIFT = 8;

export class SharedAttempts {
  readonly compact: CompactAttempts;
  readonly windowMicros: number;
  /** Source -> slot: its compact record, and the index of every member's full state. */
  private readonly sources: LruTable<HostKey, number>;
  /**
   * Per slot, one bit per member still counting in the compact record (bits 0-7) and one
   * per member holding its full state (bits 8-15): a flow reads one word, not a Map, to
   * learn where each member keeps the source.
   */
  private bits = new Uint16Array(256);
  private readonly members: Member[] = [];
  // The last lookup, and the last count into a record, by flow serial.
  private foundSerial = -1;
  private foundKey: HostKey = 0;
  private foundSlot = -1;
  private expiredSerial = -1;
  private expiredSlot = -1;
  private countedSerial = -1;
  private countedSlot = -1;
  private countedResult = 0;

  constructor(spec: AttemptsSpec) {
    this.compact = new CompactAttempts(spec.pairsPerSlot);
    this.windowMicros = spec.windowSeconds * 1e6;
    this.sources = new LruTable<HostKey, number>(spec.maxSources, (slot) => this.evict(slot));
  }

  /** Sources in the table. */
  get size(): number {
    return this.sources.size;
  }

  /** A new member; `evicted` counts a source it held that the table's bound pushed out. */
  join(evicted: () => void): number {
    if (this.members.length === MAX_MEMBERS) throw new Error(`SharedAttempts: at most ${MAX_MEMBERS} members`);
    this.members.push({ full: new Map(), evicted });
    return this.members.length - 1;
  }

  /** The source's slot, made the most recent in the table, or -1 (once per flow for every member). */
  find(serial: number, key: HostKey): number {
    if (serial !== this.foundSerial || key !== this.foundKey) {
      this.foundSerial = serial;
      this.foundKey = key;
      this.foundSlot = this.sources.get(key) ?? -1;
    }
    return this.foundSlot;
  }

  /** Member `m`'s full state of the source in `slot` (undefined while it counts in the record). */
  full<T>(m: number, slot: number): T | undefined {
    return this.bits[slot]! & (1 << (FULL_SHIFT + m)) ? (this.members[m]!.full.get(slot) as T) : undefined;
  }

  /** Is member `m` counting in the slot's compact record? */
  attached(m: number, slot: number): boolean {
    return (this.bits[slot]! & (1 << m)) !== 0;
  }

  /**
   * A slot for a source not in the table (find gave -1), its record empty; every member
   * attached, unless `attach` is false (a member that goes straight to its full state).
   */
  open(serial: number, key: HostKey, micros: number, attach = true): number {
    const slot = this.compact.alloc(micros);
    if (slot >= this.bits.length) {
      const grown = new Uint16Array(Math.max(2 * this.bits.length, slot + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[slot] = attach ? (1 << this.members.length) - 1 : 0;
    this.sources.set(key, slot);
    if (serial === this.foundSerial && key === this.foundKey) this.foundSlot = slot;
    return slot;
  }

  /**
   * Member `m`, not attached and with no full state, starts counting in the slot's record
   * (a source another member took straight to its full state): the record is emptied
   * first when no member counts in it.
   */
  attach(m: number, slot: number, micros: number): void {
    if ((this.bits[slot]! & 0xff) === 0) this.compact.empty(slot, micros);
    this.bits[slot]! |= 1 << m;
  }

  /** CompactAttempts.expire, once per flow however many members pass it on. */
  expire(serial: number, slot: number, micros: number): void {
    if (serial === this.expiredSerial && slot === this.expiredSlot) return;
    this.expiredSerial = serial;
    this.expiredSlot = slot;
    this.compact.expire(slot, micros, this.windowMicros);
  }

  /** CompactAttempts.addAnswered, once per flow however many members pass it on. */
  addAnswered(serial: number, slot: number, portKey: number, verdict: number, micros: number): void {
    if (serial === this.countedSerial && slot === this.countedSlot) return;
    this.countedSerial = serial;
    this.countedSlot = slot;
    this.compact.addAnswered(slot, portKey, verdict, micros);
  }

  /**
   * CompactAttempts.add, once per flow however many members pass it on: a repeat gets the
   * first call's result (and compact.sameHost/samePort are still that call's).
   */
  add(serial: number, slot: number, host: HostKey, portKey: number, srcPort: number, verdict: number, micros: number): number {
    if (serial === this.countedSerial && slot === this.countedSlot) return this.countedResult;
    this.countedSerial = serial;
    this.countedSlot = slot;
    this.countedResult = this.compact.add(slot, host, portKey, srcPort, verdict, micros);
    return this.countedResult;
  }

  /**
   * Member `m` leaves the compact stage: the full window of the record as it stands (with
   * this flow's pair when add() counted it, without when it returned COMPACT_UPGRADE), to
   * keep with setFull().
   */
  upgrade(m: number, slot: number, sourceIp: string, local: boolean): SourceWindow {
    const w = this.compact.upgrade(slot, sourceIp, local);
    this.bits[slot]! &= ~(1 << m);
    return w;
  }

  /** Keep member `m`'s full state of the source (it no longer counts in the record). */
  setFull(m: number, slot: number, state: unknown): void {
    this.bits[slot]! |= 1 << (FULL_SHIFT + m);
    this.bits[slot]! &= ~(1 << m);
    this.members[m]!.full.set(slot, state);
  }

  /** The table's bound pushed a source out: each member that held it counts it. */
  private evict(slot: number): void {
    const bits = this.bits[slot]!;
    for (let m = 0; m < this.members.length; m++) {
      if (bits & (1 << m)) this.members[m]!.evicted();
      if (bits & (1 << (FULL_SHIFT + m))) {
        this.members[m]!.evicted();
        this.members[m]!.full.delete(slot);
      }
    }
    this.bits[slot] = 0;
    this.compact.free(slot);
    if (slot === this.foundSlot) this.foundSerial = -1;
    if (slot === this.countedSlot) this.countedSerial = -1;
    if (slot === this.expiredSlot) this.expiredSerial = -1;
  }
}
