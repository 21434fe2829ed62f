/**
 * The flow-end worker's entry in the bundle (rolldown.config.mjs makes it
 * dist/bin/offload-worker.js): the worker's own code, src/offload-worker.ts, compiled with
 * V8's code cache of an earlier run (util/code-cache.ts), as the CLI's chunks are: a worker
 * is a new isolate, which compiles everything it runs again. Header-only bench capture (one
 * worker, which the packet thread waits for as it starts), 14 alternating rounds: mean wall
 * 0.622 -> 0.610 s, CPU 1.076 -> 1.054 s; churn bench (two workers), 6 rounds: median wall
 * 2.05 -> 1.98 s. Unbundled (dist/, the tests) offload.ts starts dist/offload-worker.js
 * itself.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installCodeCache } from './util/code-cache.js';

installCodeCache(path.dirname(fileURLToPath(import.meta.url)));
// A failure to load is an unhandled rejection: the worker's 'error' event in offload.ts.
void import('./offload-worker.js');
