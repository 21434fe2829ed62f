// The runtime bundle (npm run build: tsc, then this): the CLI and its worker entry
// as a few CommonJS files in dist/bin/ instead of ~200 ES modules (ours, zod's, lru-cache's).
// Loading the module graph was most of a replay's start-up on this 2-core machine: the
// CLI's imports 147 ms -> 55 ms, a flow-end worker's 175 ms -> 45 ms (bench/RESULTS.md).
// The worker entry keeps its name beside the chunks, so `new URL('./offload-worker.js',
// import.meta.url)` in the bundled code finds it. Native addons and packages that load
// files of their own at run time stay outside (resolved from node_modules; pino gets a
// single-file copy of its own, the last build below). The config loader (zod, yaml and
// the schemas) becomes a chunk of its own that only a run with --config imports
// (src/config/open.ts): a run without one starts ~30 ms sooner.
import { chmodSync, writeFileSync } from 'node:fs';
import { defineConfig } from 'rolldown';

// The CLI runs as an executable (its first line sets glibc's tunables, src/cli/main.ts),
// as npm's bin link and the bench run it.
const executableCli = {
  name: 'executable-cli',
  writeBundle() {
    chmodSync('dist/bin/tapaudit.js', 0o755);
    // CommonJS, in a package that is ES modules: src/util/code-cache.ts compiles the chunks
    // with V8's code cache, which Node 20 offers through vm.Script, for CommonJS only. The
    // CommonJS loader is also quicker than the ES one (synchronous, one step per file):
    // with the same chunks, captures/demo.pcap 210 -> 197 ms without the cache and 184 ms
    // with it, `tapaudit --help` 79 -> 72 ms (medians of 20 and 16 alternating runs).
    writeFileSync('dist/bin/package.json', '{ "type": "commonjs" }\n');
  },
};

const external = [/^node:/, 'cap', /^@duckdb\//, 'pino', 'sonic-boom', 'prom-client', 'cli-progress'];
/** Both builds below write CommonJS into dist/bin (see executableCli). */
const binOutput = { dir: 'dist/bin', format: 'cjs', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' };

export default defineConfig([{
  input: { tapaudit: 'dist/cli/main.js' },
  platform: 'node',
  plugins: [executableCli],
  external,
  output: { ...binOutput, cleanDir: true },
}, {
  // The flow-end worker in two files of its own (its own build: no chunks shared with the
  // CLI, whose code it repeats): its entry, which installs the code cache
  // (src/offload-worker-boot.ts), and one chunk with all the rest. Node 20 loaded each ES
  // module through several async steps, ~1.5-2 ms apiece even for a file of a few hundred
  // bytes, and a worker's graph was eight files; a worker's start is what a header-only
  // replay waits for (the packet thread blocks in claim() until the worker reads).
  // Header-only bench capture (2M packets, one worker), 16 alternating rounds, as ES
  // modules, eight files -> one: median wall 0.69 -> 0.67 s, CPU 1.165 -> 1.125 s; time in
  // claim() in --cpu-prof runs 61-97 -> 44-62 ms (3 each).
  input: { 'offload-worker': 'dist/offload-worker-boot.js' },
  platform: 'node',
  external,
  output: binOutput,
}, {
  // pino and its dependencies as one CommonJS file, which the alert log loads with its
  // first alert (src/output/alert-log.ts): ~20 ms sooner than require('pino') resolving
  // ~25 files. Only pino's transports (worker threads that load files by path) would not
  // work from it, and tapaudit uses none.
  input: { pino: 'node_modules/pino/pino.js' },
  platform: 'node',
  external: [/^node:/],
  output: {
    dir: 'dist/vendor',
    format: 'cjs',
    entryFileNames: '[name].cjs',
    cleanDir: true,
  },
}]);
