/**
 * A CommonJS package or Node built-in loaded on first use instead of at start-up. For
 * those only some runs need, whose import is a noticeable part of a replay's start: pino
 * (~20 ms from its single-file build, only once an alert is written), cli-progress
 * (12-20 ms, only for a bar on a terminal), node:dgram, dns and net (5-7 ms a thread,
 * only with IPFIX: output/ipfix.ts). Every replay and every flow-end worker used to load
 * them all. (yaml, ~27 ms this way, is bundled into the config loader's chunk instead,
 * which only a run with --config imports: config/open.ts.)
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyModule<T>(name: string, options: { bundled?: string } = {}): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(name, options.bundled) as T);
}

/**
 * `bundled`: a single-file build of the package made by `npm run build` (rolldown.config.mjs),
 * relative to this module once built (dist/bin/ or dist/util/), tried first. Without a
 * build beside it (the tests, which run the sources) the package itself is loaded.
 */
function load(name: string, bundled: string | undefined): unknown {
  if (bundled !== undefined) {
    // Only a build that is not there falls back; one that fails to load (a module it
    // needs is missing, a syntax error) is an error.
    let file: string | undefined;
    try {
      file = require.resolve(bundled);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    }
    if (file !== undefined) return require(file);
  }
  return require(name);
}
