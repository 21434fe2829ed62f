/**
 * A V8 code cache for the bundled CLI's chunks (dist/bin/*.js, CommonJS:
 * rolldown.config.mjs), in the main thread (src/cli/main.ts) and in the flow-end workers
 * (src/offload-worker-boot.ts).
 *
 * Every run parses and compiles the JavaScript it runs, lazily, function by function,
 * before any of it gets fast: on a 150,000-packet replay `--log-function-events` (which
 * slows what it logs) summed ~45 ms of parsing and bytecode compilation in our chunks
 * alone (the detectors' chunk 19 ms, the packet path's 14), out of ~0.33 s. V8 can
 * serialise the bytecode of a script's compiled functions (`vm.Script#createCachedData`)
 * and take it back in a later run instead of compiling (`cachedData`); Node 20 does this
 * for its own modules only (the compile cache of `module.enableCompileCache` came in Node
 * 22). So the chunks are CommonJS and this hook compiles them (Module.prototype._compile,
 * as Node itself does, with the same wrapper) with the cache of an earlier run; a chunk
 * without a usable one is cached by saveCodeCache() when the command ends, so the cache
 * holds every function that run compiled (a cache made right after compiling, as the
 * `v8-compile-cache` package does, holds little more than the top level, and most of the
 * cost is in functions compiled on their first call).
 *
 * Measured (this 2-core VM, alternating runs, the same CommonJS build with
 * TAPAUDIT_CODE_CACHE=0 against without): captures/demo.pcap mean wall 185 -> 173 ms, CPU
 * 228 -> 213 ms; the first 150,000 packets of the real bench capture 355 -> 340 ms, CPU
 * 515 -> 498 ms (16 rounds each). With the ES-module build before it: demo median 210 ->
 * 184 ms (20 rounds), the first 500,000 packets 456 -> 438 ms (12 rounds). pino's single
 * file (dist/vendor) cached as well: the demo with an alert log, mean wall 272 -> 248 ms,
 * CPU 338 -> 309 ms (16 rounds).
 *
 * Where: beside the chunks, `dist/bin/.code-cache/<node version>-<arch>/<chunk>.cache`. A
 * build clears it with the chunks (whose names carry a hash of their content), and V8 itself
 * refuses a cache made by another V8 version, with other flags, or for a source of another
 * length (`cachedDataRejected`); the chunk is then compiled as usual and the cache made
 * again. An install the user cannot write to runs without a cache. TAPAUDIT_CODE_CACHE=0
 * turns it off.
 *
 * The cache is written before the command's last collection (src/cli/main.ts): that one sets
 * `--expose-gc`, and V8 refuses a cache made under flags other than the reader's.
 */
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

interface Compiled {
  script: vm.Script;
  /** Where its cache goes. */
  file: string;
  /** Compiled without a usable cache: saveCodeCache writes one. */
  fresh: boolean;
}

type Compile = (this: Module, content: string, filename: string) => unknown;

const compiled: Compiled[] = [];
let cacheDir = '';

/**
 * From now on, the CommonJS files directly in `bundleDir` and in the `vendor` directory
 * beside it (the single-file pino of dist/vendor, which the alert log loads in whichever
 * thread writes it) are compiled with their cache, kept in `bundleDir`.
 */
export function installCodeCache(bundleDir: string): void {
  if (cacheDir !== '' || process.env.TAPAUDIT_CODE_CACHE === '0') return;
  const dirs = new Set([bundleDir, path.join(path.dirname(bundleDir), 'vendor')]);
  cacheDir = path.join(bundleDir, '.code-cache', `${process.version}-${process.arch}`);
  const proto = Module.prototype as unknown as { _compile: Compile };
  const compile = proto._compile;
  proto._compile = function (this: Module, content: string, filename: string): unknown {
    if (!dirs.has(path.dirname(filename))) return compile.call(this, content, filename);
    const file = path.join(cacheDir, `${path.basename(filename)}.cache`);
    let cachedData: Buffer | undefined;
    try {
      cachedData = fs.readFileSync(file);
    } catch {
      // None yet.
    }
    const script = new vm.Script(Module.wrap(content), {
      filename,
      cachedData,
      // For an import() left in a chunk (there is none today): Node's own loader.
      importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    compiled.push({ script, file, fresh: cachedData === undefined || script.cachedDataRejected === true });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, Module.createRequire(filename), this, filename, path.dirname(filename));
  };
}

/** Write the cache of every chunk this run compiled without one; never throws. */
export function saveCodeCache(): void {
  const fresh = compiled.filter((c) => c.fresh);
  compiled.length = 0;
  if (fresh.length === 0) return;
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    for (const c of fresh) {
      // Another run, or the other flow-end worker, may write the same file: each writes its
      // own and renames it into place.
      const tmp = `${c.file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      fs.writeFileSync(tmp, c.script.createCachedData());
      fs.renameSync(tmp, c.file);
    }
  } catch {
    // A read-only install, a full disk: the next run compiles as this one did.
  }
}
