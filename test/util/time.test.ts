import { describe, expect, it } from 'vitest';
import { formatMicros } from '../../src/util/time.js';

describe('formatMicros', () => {
  it('formats microseconds in UTC with six fraction digits', () => {
    expect(formatMicros(1592551774886931)).toBe('2020-06-19T07:29:34.886931Z');
    expect(formatMicros(0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(formatMicros(999_999)).toBe('1970-01-01T00:00:00.999999Z');
  });

  it('handles pre-1970 and post-2106 times, and clamps what Date cannot hold', () => {
    expect(formatMicros(-500_000_000)).toBe('1969-12-31T23:51:40.000000Z');
    expect(formatMicros(4291747200e6 + 5)).toBe('2106-01-01T00:00:00.000005Z');
    expect(formatMicros(18446744073204e6)).toBe('9999-12-31T23:59:59.999999Z');
    expect(formatMicros(-1e20)).toBe('0000-01-01T00:00:00.000000Z');
  });

  it('stays right when calls alternate between several seconds (prefix cache)', () => {
    const seconds = [1_700_000_000, 1_700_000_001, 1_600_000_000, 1_700_000_000, 1_600_000_000, 1_700_000_001];
    for (const s of seconds) {
      expect(formatMicros(s * 1e6 + 42)).toBe(new Date(s * 1000).toISOString().replace('.000Z', '.000042Z'));
    }
  });
});
