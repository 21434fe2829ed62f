/**
 * The replay progress bar (src/cli/progress.ts): on a terminal only, and only for a replay
 * still running after PROGRESS_DELAY_MS.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PacketSource } from '../../src/capture/source.js';
import { PROGRESS_DELAY_MS, startProgress } from '../../src/cli/progress.js';

function fakeSource(total: number): { source: PacketSource; advance: (bytes: number) => void } {
  let done = 0;
  const source = { progress: () => ({ done, total }) } as unknown as PacketSource;
  return { source, advance: (bytes) => { done += bytes; } };
}

describe('startProgress', () => {
  let written: string[];
  const wasTTY = process.stderr.isTTY;

  beforeEach(() => {
    vi.useFakeTimers();
    written = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
    Object.defineProperty(process.stderr, 'isTTY', { value: wasTTY, configurable: true });
  });

  it('shows nothing for a replay that ends within the delay', () => {
    const { source } = fakeSource(100e6);
    const stop = startProgress(source, () => 1000);
    vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
    stop();
    vi.advanceTimersByTime(10 * PROGRESS_DELAY_MS);
    expect(written).toEqual([]);
  });

  it('shows the bar once the replay has run for the delay, from where it is', () => {
    const { source, advance } = fakeSource(100e6);
    advance(40e6);
    const stop = startProgress(source, () => 123_456);
    vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(1);
    advance(10e6);
    vi.advanceTimersByTime(250);
    const text = written.join('');
    expect(text).toContain('replay |');
    expect(text).toContain('50/100 MB');
    expect(text).toContain('123456 pkts');
    stop();
  });

  it('shows nothing when stderr is not a terminal, or the input size is unknown', () => {
    Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
    startProgress(fakeSource(100e6).source, () => 1)();
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    const stop = startProgress(fakeSource(-1).source, () => 1);
    vi.advanceTimersByTime(10 * PROGRESS_DELAY_MS);
    stop();
    expect(written).toEqual([]);
  });
});
