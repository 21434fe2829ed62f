import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { Pipeline } from '../src/pipeline.js';
import * as warmup from '../src/warmup.js';

// The warm-up itself, counted: Pipeline.open calls it through the module.
vi.mock('../src/warmup.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/warmup.js')>();
  return { ...actual, warmUp: vi.fn(actual.warmUp) };
});

describe('Pipeline.open warms the packet path up unless the replay input is small', () => {
  afterEach(() => vi.mocked(warmup.warmUp).mockClear());

  for (const [what, bytes, calls] of [
    ['input of unknown size (live, stdin)', -1, 1],
    ['a replay of WARM_UP_MIN_BYTES', warmup.WARM_UP_MIN_BYTES, 1],
    ['a replay of one byte less', warmup.WARM_UP_MIN_BYTES - 1, 0],
    ['an empty replay', 0, 0],
  ] as const) {
    it(`${what}: ${calls ? 'warmed up' : 'not warmed up'}`, async () => {
      const p = await Pipeline.open({ config: loadConfig() }, 'adaptive', bytes);
      expect(vi.mocked(warmup.warmUp)).toHaveBeenCalledTimes(calls);
      await p.finish();
    });
  }
});

// ('now', the live sensor, starts its workers at once: test/offload.test.ts, on the build.)
describe('Pipeline.open keeps the flow-end stage on this thread only for a small replay', () => {
  for (const [what, bytes, here] of [
    ['a replay of one byte under WARM_UP_MIN_BYTES', warmup.WARM_UP_MIN_BYTES - 1, true],
    ['an empty replay', 0, true],
    ['a replay of WARM_UP_MIN_BYTES', warmup.WARM_UP_MIN_BYTES, false],
    ['a replay of unknown size (stdin)', -1, false],
  ] as const) {
    it(`${what}: ${here ? 'this thread' : 'ring and workers'}`, async () => {
      const p = await Pipeline.open({ config: loadConfig() }, 'adaptive', bytes);
      expect(p.flowEndHere).toBe(here);
      await p.finish();
    });
  }
});
