/**
 * The long fuzz run (issue 7 §2): `npm run fuzz [-- --cases N --seed S --workers W
 * --case-ms T]`. fast-check cases, seeded from real captures, against
 *
 * - the readers: a mutated capture file (src/fuzz/mutate.ts) through replayBytes (format
 *   check, pcap/pcapng parsers, chunking) with a random chunk size;
 * - the decoder: a mutated real packet, or random bytes, under its own or a random link
 *   type;
 * - the whole pipeline (1 case in 100: a Pipeline costs ~5-20 ms to build):
 *   src/fuzz/check.ts.
 *
 * What must hold: nothing throws except the format check's UserError; the decoder returns
 * a known reason; the readers deliver records inside the buffer; the pipeline keeps its
 * accounting. And nothing loops: each case has a time limit (`--case-ms`, default 2000).
 * A case that runs over it but returns fails; one that never returns is caught by the
 * main thread, which watches each worker's current case through shared memory and
 * terminates a worker stuck in one case (a synchronous loop cannot be interrupted from
 * inside). Either way the report names the seed and fast-check's path to replay the case.
 *
 * Seeds: ../shared/captures (formats/, detection/, malformed/) when present beside the
 * repo, else captures/demo.pcap. Each seed is cut to its first 16 KiB.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { replayBytes } from '../capture/file-source.js';
import { defaultConfig } from '../config/index.js';
import { decode } from '../decode/decode.js';
import { DecodedPacket } from '../decode/packet.js';
import { REASON_COUNT } from '../decode/reasons.js';
import { isUserError } from '../util/errors.js';
import { pipelineCase } from './check.js';
import { headerBytes, mutate, mutationArb } from './mutate.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..', '..');
const SHARED_CAPTURES = path.resolve(REPO, '..', 'shared', 'captures');
const SEED_BYTES = 16 * 1024;
/** Share of cases per target. Pipeline cases are ~1000x dearer than the others. */
const PIPELINE_EVERY = 100;
const DECODER_SHARE = 0.45;

interface Options {
  cases: number;
  seed: number;
  workers: number;
  caseMs: number;
}

interface WorkerInput extends Options {
  index: number;
  /** Shared: per worker [case start time ms or 0, cases done]. */
  progress: SharedArrayBuffer;
}

interface WorkerReport {
  index: number;
  seed: number;
  cases: { reader: number; decoder: number; pipeline: number };
  failures: string[];
  outcomes: { refused: number; replayed: number; packets: number };
}

// ---------------------------------------------------------------- seeds and pools

function seedFiles(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  const dirs = ['formats', 'detection', 'malformed'].map((d) => path.join(SHARED_CAPTURES, d)).filter((d) => fs.existsSync(d));
  const files = dirs.length ? dirs.flatMap((d) => fs.readdirSync(d).map((f) => path.join(d, f))) : [path.join(REPO, 'captures', 'demo.pcap')];
  for (const f of files.sort()) {
    const b = fs.readFileSync(f);
    out.push({ name: path.relative(path.dirname(SHARED_CAPTURES), f), bytes: b.subarray(0, Math.min(b.length, SEED_BYTES)) });
  }
  return out;
}

interface PooledPacket {
  linktype: number;
  wireLen: number;
  bytes: Uint8Array;
}

/** Real packets, read from the seeds (at most 200 per file). */
function packetPool(seeds: { name: string; bytes: Uint8Array }[]): PooledPacket[] {
  const pool: PooledPacket[] = [];
  for (const s of seeds) {
    let n = 0;
    try {
      replayBytes(s.name, s.bytes, (b, o, c, w, _ts, lt) => {
        if (n++ < 200) pool.push({ linktype: lt, wireLen: w, bytes: Uint8Array.from(b.subarray(o, o + c)) });
      });
    } catch (e) {
      if (!isUserError(e)) throw e;
    }
  }
  return pool;
}

// ---------------------------------------------------------------- the worker

async function workerMain(input: WorkerInput): Promise<WorkerReport> {
  const progress = new Float64Array(input.progress);
  const slot = input.index * 2;
  const seeds = seedFiles();
  const pool = packetPool(seeds);
  const config = defaultConfig();
  const out = new DecodedPacket();
  const report: WorkerReport = {
    index: input.index,
    seed: input.seed,
    cases: { reader: 0, decoder: 0, pipeline: 0 },
    failures: [],
    outcomes: { refused: 0, replayed: 0, packets: 0 },
  };
  const begin = (): number => {
    const t = Date.now();
    progress[slot] = t;
    return t;
  };
  const end = (t0: number, what: string): void => {
    progress[slot] = 0;
    progress[slot + 1]!++;
    const ms = Date.now() - t0;
    if (ms > input.caseMs) throw new Error(`${what}: one case took ${ms} ms (limit ${input.caseMs} ms)`);
  };

  const pipelineRuns = Math.max(1, Math.floor(input.cases / PIPELINE_EVERY));
  const decoderRuns = Math.floor((input.cases - pipelineRuns) * DECODER_SHARE);
  const readerRuns = input.cases - pipelineRuns - decoderRuns;
  const mutated = fc.record({
    i: fc.nat(seeds.length - 1),
    muts: fc.array(mutationArb, { minLength: 1, maxLength: 8 }),
    keepHeader: fc.boolean(),
    chunk: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 20000 })),
  });

  let packetsSeen = 0;
  const count = (b: Buffer, o: number, c: number): void => {
    if (o < 0 || c < 0 || o + c > b.length) throw new Error(`record outside the buffer: offset ${o}, capLen ${c}, buffer ${b.length}`);
    packetsSeen++;
  };
  const readerProp = fc.property(mutated, ({ i, muts, keepHeader, chunk }) => {
    const s = seeds[i]!;
    const bytes = mutate(s.bytes, muts, keepHeader ? headerBytes(s.bytes) : 0);
    const t0 = begin();
    try {
      const r = replayBytes(s.name, bytes, count, chunk);
      report.outcomes.replayed++;
      report.outcomes.packets += r.packets;
    } catch (e) {
      if (!isUserError(e)) throw e;
      report.outcomes.refused++;
    }
    end(t0, `reader on a mutation of ${s.name}`);
  });

  const decoderCase = fc.oneof(
    fc.record({ pooled: fc.nat(Math.max(0, pool.length - 1)), muts: fc.array(mutationArb, { minLength: 0, maxLength: 6 }), lt: fc.constant(-1), keepWire: fc.boolean() }),
    fc.record({ bytes: fc.uint8Array({ maxLength: 200 }), lt: fc.oneof(fc.constantFrom(0, 1, 12, 14, 101, 108, 113, 228, 229, 276), fc.integer({ min: -2, max: 70000 })) }),
  );
  const decodeBuf = Buffer.alloc(70_000);
  const decoderProp = fc.property(decoderCase, (c) => {
    let bytes: Uint8Array;
    let lt: number;
    let wire: number;
    if ('pooled' in c && pool.length > 0) {
      const p = pool[c.pooled]!;
      bytes = mutate(p.bytes, c.muts);
      lt = p.linktype;
      wire = c.keepWire ? p.wireLen : bytes.length;
    } else if ('bytes' in c) {
      bytes = c.bytes;
      lt = c.lt;
      wire = bytes.length;
    } else return;
    // Guard bytes after the packet: a read past capLen would see 0xff, not zeros.
    decodeBuf.fill(0xff, 0, bytes.length + 64);
    decodeBuf.set(bytes, 7);
    const t0 = begin();
    const reason = decode(decodeBuf, 7, bytes.length, wire, lt, out);
    end(t0, 'decoder');
    if (!(Number.isInteger(reason) && reason >= 0 && reason < REASON_COUNT)) throw new Error(`decode returned ${reason}`);
  });

  const pipelineProp = fc.asyncProperty(mutated, async ({ i, muts, keepHeader, chunk }) => {
    const s = seeds[i]!;
    const bytes = mutate(s.bytes, muts, keepHeader ? headerBytes(s.bytes) : 0);
    const t0 = begin();
    const r = await pipelineCase(s.name, bytes, config, chunk);
    end(t0, `pipeline on a mutation of ${s.name}`);
    if (r.problem !== null) throw new Error(`pipeline on a mutation of ${s.name}: ${r.problem}`);
  });

  interface Outcome {
    numRuns: number;
    failed: boolean;
    message: string | null;
  }
  const outcome = <T>(d: fc.RunDetails<T>): Outcome => ({ numRuns: d.numRuns, failed: d.failed, message: fc.defaultReportMessage(d) ?? null });
  const runs: [keyof WorkerReport['cases'], number, () => Promise<Outcome>][] = [
    ['reader', readerRuns, async () => outcome(fc.check(readerProp, { numRuns: readerRuns, seed: input.seed }))],
    ['decoder', decoderRuns, async () => outcome(fc.check(decoderProp, { numRuns: decoderRuns, seed: input.seed + 1 }))],
    ['pipeline', pipelineRuns, async () => outcome(await fc.check(pipelineProp, { numRuns: pipelineRuns, seed: input.seed + 2 }))],
  ];
  for (const [name, n, go] of runs) {
    const d = await go();
    report.cases[name] = d.numRuns;
    if (d.failed) report.failures.push(`${name}: ${d.message ?? 'failed'}`.slice(0, 4000));
    else if (d.numRuns !== n) report.failures.push(`${name}: ran ${d.numRuns} of ${n} cases`);
  }
  void packetsSeen;
  return report;
}

// ---------------------------------------------------------------- the main thread

function parseOptions(argv: string[]): Options {
  const o: Options = { cases: 1_050_000, seed: Date.now() % 2 ** 31, workers: Math.max(1, os.availableParallelism()), caseMs: 2000 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    const key = argv[i];
    if (!Number.isInteger(v) || v < 0) throw new Error(`${key} needs a whole number, got ${argv[i + 1]}`);
    if (key === '--cases') o.cases = v;
    else if (key === '--seed') o.seed = v;
    else if (key === '--workers') o.workers = Math.max(1, v);
    else if (key === '--case-ms') o.caseMs = v;
    else throw new Error(`unknown option ${key}; use --cases N --seed S --workers W --case-ms T`);
  }
  return o;
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`fuzz: ${(e as Error).message}\n`);
    return 2;
  }
  const started = Date.now();
  process.stdout.write(`fuzz: ${o.cases} cases, seed ${o.seed}, ${o.workers} workers, ${o.caseMs} ms per case at most; seeds from ${fs.existsSync(SHARED_CAPTURES) ? SHARED_CAPTURES : 'captures/demo.pcap'}\n`);
  const progress = new SharedArrayBuffer(8 * 2 * o.workers);
  const view = new Float64Array(progress);
  const per = Math.ceil(o.cases / o.workers);
  const reports: WorkerReport[] = [];
  const hangs: string[] = [];
  const workers = Array.from({ length: o.workers }, (_, index) => {
    const input: WorkerInput = { ...o, cases: per, seed: o.seed + 1000 * index, index, progress };
    return new Worker(fileURLToPath(import.meta.url), { workerData: input });
  });
  const done = workers.map(
    (w, index) =>
      new Promise<void>((resolve) => {
        w.on('message', (r: WorkerReport) => reports.push(r));
        w.on('error', (e) => {
          hangs.push(`worker ${index} (seed ${o.seed + 1000 * index}) crashed: ${e.stack ?? String(e)}`);
          resolve();
        });
        w.on('exit', () => resolve());
      }),
  );
  const watchdog = setInterval(() => {
    const now = Date.now();
    let total = 0;
    for (let i = 0; i < o.workers; i++) {
      total += view[i * 2 + 1]!;
      const t0 = view[i * 2]!;
      if (t0 > 0 && now - t0 > Math.max(5 * o.caseMs, 10_000)) {
        hangs.push(`worker ${i} (seed ${o.seed + 1000 * i}): one case still running after ${now - t0} ms (a loop); worker stopped after ${view[i * 2 + 1]} cases`);
        view[i * 2] = 0;
        void workers[i]!.terminate();
      }
    }
    if (process.stdout.isTTY) process.stdout.write(`\r${total} cases`);
  }, 250);
  await Promise.all(done);
  clearInterval(watchdog);
  const cases = { reader: 0, decoder: 0, pipeline: 0 };
  const outcomes = { refused: 0, replayed: 0, packets: 0 };
  const failures = [...hangs];
  for (const r of reports) {
    for (const k of Object.keys(cases) as (keyof typeof cases)[]) cases[k] += r.cases[k];
    for (const k of Object.keys(outcomes) as (keyof typeof outcomes)[]) outcomes[k] += r.outcomes[k];
    for (const f of r.failures) failures.push(`worker ${r.index} (seed ${r.seed}): ${f}`);
  }
  const total = cases.reader + cases.decoder + cases.pipeline;
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(
    `${process.stdout.isTTY ? '\n' : ''}fuzz: ${total} cases run (readers ${cases.reader}, decoder ${cases.decoder}, pipeline ${cases.pipeline}) in ${seconds.toFixed(1)} s; ` +
      `reader inputs: ${outcomes.replayed} replayed (${outcomes.packets} packets), ${outcomes.refused} refused by the format check; ` +
      `${failures.length} failures; seed ${o.seed}\n`,
  );
  for (const f of failures) process.stdout.write(`FAILURE ${f}\n`);
  return failures.length === 0 ? 0 : 1;
}

if (isMainThread) {
  if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    main().then((code) => (process.exitCode = code));
  }
} else {
  workerMain(workerData as WorkerInput).then(
    (r) => parentPort!.postMessage(r),
    (e) => {
      throw e;
    },
  );
}
