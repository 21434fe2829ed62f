import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ANSWERED, COMPACT_REPEAT, COMPACT_UPGRADE, CompactAttempts, FAILED, ICMP_UNREACH, OPEN, RST_RECEIVED, SourceWindow, T_ECHO, T_TCP, T_UDP,
} from '../../src/detect/attempts.js';

const WINDOW = 300e6;

/** One finished flow as the detectors see it after classification. */
interface Step {
  answered: boolean;
  host: number | string;
  portKey: number;
  srcPort: number;
  verdict: number;
  gap: number;
}

const step: fc.Arbitrary<Step> = fc.record({
  answered: fc.boolean(),
  // Few hosts and ports so pairs repeat; IPv4 keys and IPv6 text side by side.
  host: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('2001:db8::1', '2001:db8::2')),
  portKey: fc.oneof(
    fc.integer({ min: 1, max: 6 }).map((p) => T_TCP * 65536 + p * 1000),
    fc.integer({ min: 1, max: 3 }).map((p) => T_UDP * 65536 + p),
    fc.constant(T_ECHO * 65536),
  ),
  srcPort: fc.constantFrom(40000, 40001, 40002, 50000, 50001, 50002),
  verdict: fc.constantFrom(0, RST_RECEIVED, ICMP_UNREACH, OPEN),
  // Mostly close together, sometimes past the window (expiry and reset), sometimes backwards.
  gap: fc.oneof(fc.integer({ min: 0, max: 5e6 }), fc.constant(WINDOW + 1), fc.integer({ min: -2e6, max: 0 })),
});

/** Everything a SourceWindow exposes, in a comparable form (Map orders included). */
function snapshot(w: SourceWindow) {
  return {
    pairs: [...w.pairs.entries()],
    portsPerHost: [...w.portsPerHost.entries()].sort(),
    hostsPerPort: [...w.hostsPerPort.entries()].sort(),
    probesPerPort: [...w.probesPerPort.entries()].sort(),
    highPortPairs: w.highPortPairs,
    firstMicros: w.firstMicros,
    lastMicros: w.lastMicros,
    failed: w.failed,
    answered: w.answered,
    rstReceived: w.rstReceived,
    icmpUnreachReceived: w.icmpUnreachReceived,
    openPorts: [...w.openPorts],
    srcPortKeys: [...w.srcPortKeys],
    srcPortCounts: [...w.srcPortCounts],
  };
}

describe('CompactAttempts', () => {
  it('upgrade() hands over exactly the window a SourceWindow fed the same flows would hold', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const compact = new CompactAttempts(64);
        // Other slots in use around it, so slot arithmetic is exercised.
        const before = compact.alloc(0);
        const slot = compact.alloc(1e6);
        compact.alloc(0);
        const w = new SourceWindow('192.0.2.1', false, 1e6);
        let t = 1e6;
        for (const s of steps) {
          t += s.gap;
          if (s.answered) {
            compact.addAnswered(slot, s.portKey, ANSWERED | s.verdict, t);
            w.addAnswered(s.portKey, ANSWERED | s.verdict, t);
            continue;
          }
          compact.expire(slot, t, WINDOW);
          w.expire(t, WINDOW);
          const r = compact.add(slot, s.host, s.portKey, s.srcPort, FAILED | s.verdict, t);
          const pair = w.addFailure(s.host, s.portKey, s.srcPort, FAILED | s.verdict, t, 4096);
          expect(r === COMPACT_REPEAT).toBe(pair === undefined);
          if (pair) {
            // What the pair's host and port had before it: what scan checks its thresholds on.
            expect(compact.sameHost).toBe(w.portsPerHost.get(s.host)! - 1);
            expect(compact.samePort).toBe(w.hostsPerPort.get(s.portKey)! - 1);
          }
          expect(compact.pairs(slot)).toBe(w.pairs.size);
        }
        expect(snapshot(compact.upgrade(slot, '192.0.2.1', false))).toEqual(snapshot(w));
        expect(compact.pairs(before)).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('counts a new pair with the pairs on its host and port before it, and asks for an upgrade, counting nothing, when full', () => {
    const c = new CompactAttempts(4);
    const slot = c.alloc(0);
    for (let p = 1; p <= 3; p++) {
      expect(c.add(slot, 7, p, 40000, FAILED, p)).toBe(p - 1);
      expect([c.sameHost, c.samePort]).toEqual([p - 1, 0]);
    }
    // A repeat is counted and leaves sameHost/samePort as they were.
    expect(c.add(slot, 7, 2, 40000, FAILED, 5)).toBe(COMPACT_REPEAT);
    // Port 1 on a second host.
    expect(c.add(slot, 8, 1, 40000, FAILED, 6)).toBe(3);
    expect([c.sameHost, c.samePort]).toEqual([0, 1]);
    // Full (4 pairs): any new pair needs the full window.
    expect(c.add(slot, 9, 9, 40000, FAILED, 7)).toBe(COMPACT_UPGRADE);
    const w = c.upgrade(slot, '192.0.2.1', true);
    expect(w.failed).toBe(5);
    expect(w.pairs.size).toBe(4);
    expect(w.local).toBe(true);
    expect(w.portsPerHost.get(7)).toBe(3);
    expect(w.hostsPerPort.get(1)).toBe(2);
  });

  it('counts up to 8,191 probes of one pair, then asks for the full window', () => {
    // A pair's probes share a word with its port key (13 bits): a source repeating one
    // (host, port) more often than that moves to a SourceWindow, which counts on.
    const c = new CompactAttempts(4);
    const slot = c.alloc(0);
    expect(c.add(slot, 7, 445, 40000, FAILED, 1)).toBe(0);
    expect(c.add(slot, 2001, 80, 40000, FAILED, 1)).toBe(1);
    for (let i = 2; i <= 8191; i++) expect(c.add(slot, 7, 445, 40000, FAILED, i)).toBe(COMPACT_REPEAT);
    expect(c.add(slot, 7, 445, 40000, FAILED, 9000)).toBe(COMPACT_UPGRADE);
    // The other pair is unaffected.
    expect(c.add(slot, 2001, 80, 40000, FAILED, 9001)).toBe(COMPACT_REPEAT);
    const w = c.upgrade(slot, '192.0.2.1', false);
    expect(w.failed).toBe(8193);
    expect([...w.pairs.values()].map((p) => [p.host, p.portKey, p.probes])).toEqual([[7, 445, 8191], [2001, 80, 2]]);
    expect(w.probesPerPort.get(445)).toBe(8191);
  });

  it('reuses freed slots and starts them empty', () => {
    const c = new CompactAttempts(8);
    const a = c.alloc(0);
    c.add(a, 1, 80, 40000, FAILED | RST_RECEIVED, 1);
    c.addAnswered(a, 443, ANSWERED | OPEN, 2);
    c.free(a);
    const b = c.alloc(10);
    expect(b).toBe(a);
    expect(c.size).toBe(1);
    const w = c.upgrade(b, '192.0.2.9', false);
    expect(w.sourceIp).toBe('192.0.2.9');
    expect(w.pairs.size).toBe(0);
    expect(w.failed + w.answered + w.rstReceived).toBe(0);
    expect(w.openPorts).toEqual([]);
    expect(w.firstMicros).toBe(10);
  });

  it('grows past its first chunks of slots without losing any, IPv4 and IPv6 hosts', () => {
    const c = new CompactAttempts(2);
    const slots: number[] = [];
    const hostOf = (i: number) => (i % 3 === 0 ? `2001:db8::${i.toString(16)}` : i);
    for (let i = 0; i < 3000; i++) {
      const s = c.alloc(i);
      c.add(s, hostOf(i), 80, 40000, FAILED, i);
      slots.push(s);
    }
    // Freed and reused slots start without the hosts of their last source.
    for (let i = 0; i < 3000; i += 7) c.free(slots[i]!);
    for (let i = 0; i < 3000; i += 7) {
      const s = c.alloc(i);
      expect(c.pairs(s)).toBe(0);
      c.add(s, i + 1, 443, 40000, FAILED, i);
      slots[i] = s;
    }
    for (let i = 0; i < 3000; i += 1) {
      const w = c.upgrade(slots[i]!, '192.0.2.1', false);
      expect([...w.pairs.values()].map((p) => p.host)).toEqual([i % 7 === 0 ? i + 1 : hostOf(i)]);
    }
  });
});
