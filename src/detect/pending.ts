/**
 * Hosts that crossed a threshold, reported on the next packet-time tick rather than at
 * once, so the alert carries the counts of everything that arrived in the same second
 * (fuller evidence), or at flush. The report function clears `pending`; a host whose state
 * left its table (LRU eviction, new window) in between is skipped.
 */
import type { BoundedTable } from './types.js';

export class PendingReports<S extends { pending: boolean }> {
  private readonly hosts: string[] = [];

  constructor(
    private readonly table: BoundedTable<string, S>,
    private readonly report: (ip: string, state: S) => void,
  ) {}

  add(ip: string, state: S): void {
    state.pending = true;
    this.hosts.push(ip);
  }

  drain(): void {
    if (this.hosts.length === 0) return;
    for (const ip of this.hosts) {
      const s = this.table.get(ip);
      if (s !== undefined && s.pending) this.report(ip, s);
    }
    this.hosts.length = 0;
  }
}
