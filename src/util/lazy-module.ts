/**
 * A CommonJS package or Node built-in loaded on first use instead of at start-up. For
 * those only some runs need, whose import is a noticeable part of a replay's start: pino
 * (~30 ms, only once an alert is written), cli-progress (~8 ms, only on a terminal),
 * node:dgram, dns and net (5-7 ms a thread, only with IPFIX: output/ipfix.ts). Every
 * replay and every flow-end worker used to load them all. (yaml, ~27 ms this way, is
 * bundled into the config loader's chunk instead, which only a run with --config
 * imports: config/open.ts.)
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
