/**
 * `npm run bench` (= build + `node dist/bench/run.js`): whole-run throughput and memory,
 * side by side with the tools operators would otherwise use (SPEC §7).
 *
 * For each bench capture (mix: large packets, reading dominates; churn: ~1M short flows,
 * the flow table dominates; real: real traffic replayed, gen/real-replayed.ts, when the
 * shared captures are beside the repo: its packets come in bursts per flow, which the
 * generated mix's do not; headers: the same real traffic cut to HEADERS_SNAPLEN bytes per
 * frame, as header-only traces are, where the per-packet work decides) and in one run:
 *   tapaudit   dist/bin/tapaudit.js replay FILE --flows bench/out/flows.ndjson --stats bench/out/stats.json
 *   bare-read  node dist/bench/bare-read.js FILE (8 MB fs.readSync, walk records: the floor)
 *   tcpdump    tcpdump -r FILE -w /dev/null
 *   softflowd  softflowd -d -r FILE -m 2000000 (-d: no daemon; without -n it exports
 *              nowhere: strace shows no socket calls; it reads to EOF and prints stats)
 *   softflowd -6  the same with -6: without it softflowd tracks IPv4 only (SPEC §7's
 *              command), and a quarter of the real capture's packets are IPv6
 *   argus      argus -r FILE -w /dev/null
 * Each is run `--runs` times (default 3) round-robin, each run right after a read of the
 * whole file (warmPageCache: so every tool finds it in the page cache), and the best wall
 * time is kept with that run's peak RSS. Wall time is taken here with hrtime around the
 * child; peak RSS comes from GNU time's %M (Debian package `time`) or, without it, from
 * polling VmHWM in /proc/PID/status every 20 ms. Then bytes per live flow from
 * dist/bench/flow-memory.js.
 *
 * A run still going after --run-timeout seconds (default: 60 per million packets, at
 * least 120) is killed with its process group and counted as a failed run, so a hung
 * tool (Node's exit-time deadlock, bench/RESULTS.md session 16) fails the harness instead
 * of stalling it, and CI, for good.
 *
 * Flags: --smoke (50,000 packets, one run each, 100,000 flows for the memory figure: seconds,
 * for CI), --packets N, --runs N, --run-timeout S.
 * Output: a console table, the same as markdown for bench/RESULTS.md, and
 * bench/out/results.json.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PACKETS, ensureCapture } from '../gen/bench-captures.js';
import { HEADERS_SNAPLEN, ensureRealCapture } from '../gen/real-replayed.js';
import { STAGES, type MemoryReport, type StageReport, type StageRow } from './stages.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(REPO, 'dist');
/** Captures, outputs and results.json (TAPAUDIT_BENCH_OUT: another folder, for the harness's own test). */
const OUT = process.env.TAPAUDIT_BENCH_OUT ? path.resolve(process.env.TAPAUDIT_BENCH_OUT) : path.join(REPO, 'bench', 'out');
const GNU_TIME = '/usr/bin/time';
/** Real traffic for the "real" capture (gen/real-replayed.ts): the shared bench captures, when present. */
const REAL_INPUT_DIR = path.join(REPO, '..', 'shared', 'captures', 'bench');

function realInputs(): string[] {
  if (!fs.existsSync(REAL_INPUT_DIR)) return [];
  return fs.readdirSync(REAL_INPUT_DIR).filter((f) => f.endsWith('.pcap')).sort().map((f) => path.join(REAL_INPUT_DIR, f));
}
/** The tools tapaudit's throughput is divided by, in the ratio table. */
const COMPARED = ['softflowd', 'softflowd -6', 'tcpdump', 'bare-read', 'argus'];
/** softflowd's table size in SPEC §7's reference command: larger than churn's 1M flows, so it never force-expires. */
const SOFTFLOWD_MAX_FLOWS = '2000000';

interface Options {
  packets: number;
  runs: number;
  /** Seconds a tool's run may take before it is killed and counted as failed. */
  runTimeout: number;
  smoke: boolean;
  memoryFlows: number;
}

interface Tool {
  name: string;
  /** Debian package to install when the binary is missing. */
  debian: string;
  binary: string;
  args(file: string): string[];
  /** Packets the tool says it read, when it says so (a cross-check). */
  packetsFrom?(stdout: string, stderr: string): number | undefined;
  /** What packetsFrom counts when that is not every packet of the file. */
  counts?: string;
}

interface Measurement {
  tool: string;
  available: boolean;
  notice?: string;
  wallSeconds?: number;
  allWallSeconds?: number[];
  packetsPerSecond?: number;
  peakRssMB?: number;
  packetsReported?: number;
  /** Runs that failed (timed out, killed by a signal, exited non-zero, or, for tapaudit, wrote no stats), each with its first line of stderr. */
  failures?: string[];
}

interface CaptureReport {
  name: string;
  file: string;
  packets: number;
  flows: number;
  bytes: number;
  results: Measurement[];
  /** Throughput ratios: tapaudit packets/s divided by the other tool's. */
  ratios: Record<string, number>;
  /** Per-stage CPU on one thread (dist/bench/stages.js). */
  stages?: StageReport;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { packets: DEFAULT_PACKETS, runs: 3, runTimeout: 0, smoke: false, memoryFlows: 1_000_000 };
  let packetsGiven = false;
  let runsGiven = false;
  const usage = 'usage: node dist/bench/run.js [--smoke] [--packets N] [--runs N] [--run-timeout SECONDS]';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) {
        console.error(`${a} needs a positive integer, e.g. ${a} 3`);
        process.exit(2);
      }
      return v;
    };
    if (a === '--smoke') o.smoke = true;
    else if (a === '--packets') {
      o.packets = num();
      packetsGiven = true;
    } else if (a === '--runs') {
      o.runs = num();
      runsGiven = true;
    } else if (a === '--run-timeout') {
      o.runTimeout = num();
    } else if (a === '--help' || a === '-h') {
      console.log(usage);
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}; ${usage}`);
      process.exit(2);
    }
  }
  if (o.smoke) {
    // CI: seconds, not minutes. One run each (unless --runs says otherwise); the numbers
    // are start-up dominated at this size and only show that every row still works.
    if (!packetsGiven) o.packets = 50_000;
    if (!runsGiven) o.runs = 1;
    o.memoryFlows = 100_000;
  }
  // The slowest peer (argus) took ~10 s per million packets on churn (bench/RESULTS.md):
  // six times that leaves room for a slow machine and none for a hang.
  if (o.runTimeout === 0) o.runTimeout = Math.max(120, Math.ceil((60 * o.packets) / 1e6));
  return o;
}

/** Finds an executable on PATH or in the sbin directories (softflowd and argus live in /usr/sbin). */
function findExecutable(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function tools(): Tool[] {
  return [
    {
      name: 'tapaudit',
      debian: '',
      // The CLI as an operator runs it (npm's bin link): its first line sets glibc's
      // huge-page tunable, which `node dist/bin/tapaudit.js` would skip (src/cli/main.ts).
      // (TAPAUDIT_BENCH_CLI: a stand-in, for the harness's own test of a failing run.)
      binary: process.env.TAPAUDIT_BENCH_CLI ?? path.join(DIST, 'bin', 'tapaudit.js'),
      args: (file) => [
        'replay',
        file,
        '--flows',
        path.join(OUT, 'flows.ndjson'),
        '--stats',
        path.join(OUT, 'stats.json'),
      ],
    },
    {
      name: 'bare-read',
      debian: '',
      binary: process.execPath,
      args: (file) => [path.join(DIST, 'bench', 'bare-read.js'), file],
      packetsFrom: (stdout) => (JSON.parse(stdout) as { packets: number }).packets,
    },
    { name: 'tcpdump', debian: 'tcpdump', binary: 'tcpdump', args: (file) => ['-r', file, '-w', '/dev/null'] },
    {
      name: 'softflowd',
      debian: 'softflowd',
      binary: 'softflowd',
      args: (file) => ['-d', '-r', file, '-m', SOFTFLOWD_MAX_FLOWS],
      counts: 'IPv4 packets only: without -6 it leaves out IPv6, VLAN-tagged and non-IP frames',
      packetsFrom: softflowdPackets,
    },
    {
      name: 'softflowd -6',
      debian: 'softflowd',
      binary: 'softflowd',
      args: (file) => ['-6', '-d', '-r', file, '-m', SOFTFLOWD_MAX_FLOWS],
      counts: 'IP packets only: VLAN-tagged and non-IP frames are left out',
      packetsFrom: softflowdPackets,
    },
    { name: 'argus', debian: 'argus-server', binary: 'argus', args: (file) => ['-r', file, '-w', '/dev/null'] },
  ];
}

/** softflowd's "Packets processed" line at the end of a run. */
function softflowdPackets(stdout: string, stderr: string): number | undefined {
  const m = /Packets processed:\s*(\d+)/.exec(stdout + stderr);
  return m ? Number(m[1]) : undefined;
}

interface RunResult {
  code: number | null;
  /** The signal that ended it (a crash: SIGABRT, SIGSEGV), when one did. */
  killedBy?: string;
  /** It ran past the time limit and was killed (its process group, SIGKILL). */
  timedOut: boolean;
  wallSeconds: number;
  peakRssKB: number;
  stdout: string;
  stderr: string;
}

const KEEP_OUTPUT = 1 << 20; // enough for any tool's summary; more is discarded

/** The process group of the run going on (killed if the harness is interrupted). */
let runningGroup = 0;
process.once('SIGINT', () => {
  if (runningGroup > 0) killGroup(runningGroup);
  process.exit(130);
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs one command; wall time by hrtime, peak RSS by GNU time or VmHWM polling. With
 * `limitSeconds`, a run still going then is killed: the whole process group, since GNU
 * time's child outlives a killed GNU time.
 */
function runOnce(binary: string, args: string[], haveGnuTime: boolean, limitSeconds = 0): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const timeFile = path.join(OUT, '.time.tmp');
    const cmd = haveGnuTime ? GNU_TIME : binary;
    const argv = haveGnuTime ? ['-f', '%e %M', '-o', timeFile, binary, ...args] : args;
    const start = process.hrtime.bigint();
    // A process group of its own (detached), so a time-out kills the tool under GNU time too.
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    runningGroup = child.pid ?? 0;
    let timedOut = false;
    const limit = limitSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          if (child.pid) killGroup(child.pid);
        }, limitSeconds * 1000)
      : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < KEEP_OUTPUT) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < KEEP_OUTPUT) stderr += d.toString();
    });
    let hwm = 0;
    const poll = haveGnuTime
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s*(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) hwm = Math.max(hwm, Number(m[1]));
          } catch {
            // exited between ticks
          }
        }, 20);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (poll) clearInterval(poll);
      clearTimeout(limit);
      runningGroup = 0;
      let peakRssKB = hwm;
      let killedBy: string | undefined = signal ?? undefined;
      if (haveGnuTime) {
        try {
          const text = fs.readFileSync(timeFile, 'utf8').trim();
          // GNU time writes "Command exited with non-zero status N" or "Command terminated
          // by signal N" before the format line.
          const last = text.split('\n').at(-1) ?? '';
          peakRssKB = Number(last.split(' ')[1]) || 0;
          const sig = /terminated by signal (\d+)/.exec(text);
          if (sig) killedBy = signalName(Number(sig[1]));
        } catch {
          // no time file: leave 0
        }
      }
      resolve({ code: code ?? -1, killedBy, timedOut, wallSeconds, peakRssKB, stdout, stderr });
    });
  });
}

/** SIGABRT for 6, and so on; the number itself when the system has no name for it. */
function signalName(n: number): string {
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}

/**
 * Read the whole file (into one reused buffer, discarded) so the next tool finds it in the
 * page cache. Once per capture was not enough on the 2026-12-06 bench VM: a DAMON pageout scheme
 * (/sys/kernel/mm/damon/admin/kdamonds/0: action pageout, min age 12 intervals) reclaims
 * file pages that were not touched for a few seconds. `fincore` showed ~50 MB of the
 * 1.46 GB mix capture paged out 30 s after a read and all of it after ~40 min, so a
 * tool run late in a round read part of its file from disk.
 */
function warmPageCache(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0) {
      // discard
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function measureCapture(
  name: string,
  cap: { file: string; packets: number; flows: number; bytes: number },
  opts: Options,
  haveGnuTime: boolean,
): Promise<CaptureReport> {
  const results = new Map<string, Measurement>();
  const runnable: { tool: Tool; binary: string }[] = [];
  for (const tool of tools()) {
    const binary = path.isAbsolute(tool.binary) ? tool.binary : findExecutable(tool.binary);
    if (!binary) {
      const notice = `${tool.binary} not installed (Debian package: ${tool.debian}); skipped`;
      console.log(`  ${tool.name}: ${notice}`);
      results.set(tool.name, { tool: tool.name, available: false, notice });
      continue;
    }
    if (tool.name === 'tapaudit' && !fs.existsSync(binary)) {
      console.log('  tapaudit: tapaudit CLI not built yet');
      results.set(tool.name, { tool: tool.name, available: false, notice: 'tapaudit CLI not built yet' });
      continue;
    }
    runnable.push({ tool, binary });
    results.set(tool.name, { tool: tool.name, available: true, allWallSeconds: [] });
  }

  const best = new Map<string, RunResult>();
  for (let r = 0; r < opts.runs; r++) {
    for (const { tool, binary } of runnable) {
      const m = results.get(tool.name)!;
      if (!m.available) continue;
      const statsFile = path.join(OUT, 'stats.json');
      if (tool.name === 'tapaudit') fs.rmSync(statsFile, { force: true });
      warmPageCache(cap.file);
      const res = await runOnce(binary, tool.args(cap.file), haveGnuTime, opts.runTimeout);
      const failed = res.timedOut ? `timed out after ${opts.runTimeout} s, killed`
        : res.killedBy ? `killed by ${res.killedBy}`
        : res.code !== 0 ? `exit ${res.code}`
        : tool.name === 'tapaudit' && !fs.existsSync(statsFile) ? 'no --stats file written' : '';
      if (failed) {
        // A run that fails is counted and its output kept, and the rounds go on: one
        // failure in many runs (a crash) must show as such, with what it printed.
        const kept = path.join(OUT, `${name}-${tool.name.replace(/\W+/g, '_')}-run${r + 1}.stderr.txt`);
        fs.writeFileSync(kept, res.stderr);
        const why = firstLine(res.stderr) || firstLine(res.stdout) || failed;
        (m.failures ??= []).push(`run ${r + 1}: ${failed}: ${why} (stderr: ${path.relative(REPO, kept)})`);
        console.log(`  ${tool.name.padEnd(10)} run ${r + 1}/${opts.runs}: FAILED (${failed}): ${why}; stderr kept in ${path.relative(REPO, kept)}`);
        continue;
      }
      if (tool.name === 'tapaudit') {
        try {
          m.packetsReported = (JSON.parse(fs.readFileSync(statsFile, 'utf8')) as { packets?: number }).packets;
        } catch {
          m.notice = 'stats.json is not JSON';
        }
      } else if (tool.packetsFrom) {
        try {
          m.packetsReported = tool.packetsFrom(res.stdout, res.stderr);
        } catch {
          // unparseable summary: no cross-check
        }
      }
      if (m.packetsReported !== undefined && m.packetsReported !== cap.packets) {
        m.notice = `counted ${m.packetsReported} of the ${cap.packets} packets${tool.counts ? ` (it counts ${tool.counts})` : ''}`;
      }
      m.allWallSeconds!.push(round(res.wallSeconds, 3));
      const prev = best.get(tool.name);
      if (!prev || res.wallSeconds < prev.wallSeconds) best.set(tool.name, res);
      console.log(`  ${tool.name.padEnd(10)} run ${r + 1}/${opts.runs}: ${res.wallSeconds.toFixed(3)} s, ${(res.peakRssKB / 1024).toFixed(0)} MB`);
    }
  }
  for (const m of results.values()) {
    if (!m.available || !m.failures) continue;
    const failures = `${m.failures.length} of ${opts.runs} runs failed (${m.failures.join('; ')})`;
    m.notice = m.notice ? `${m.notice}; ${failures}` : failures;
    if (!best.has(m.tool)) m.available = false;
  }
  for (const [toolName, res] of best) {
    const m = results.get(toolName)!;
    if (!m.available) continue;
    m.wallSeconds = round(res.wallSeconds, 3);
    m.packetsPerSecond = Math.round(cap.packets / res.wallSeconds);
    m.peakRssMB = round(res.peakRssKB / 1024, 1);
  }
  const list = [...results.values()];
  const ratios: Record<string, number> = {};
  const ta = results.get('tapaudit');
  for (const other of COMPARED) {
    const o = results.get(other);
    if (ta?.packetsPerSecond && o?.packetsPerSecond) ratios[`tapaudit/${other}`] = round(ta.packetsPerSecond / o.packetsPerSecond, 2);
  }
  return { name, file: path.relative(REPO, cap.file), packets: cap.packets, flows: cap.flows, bytes: cap.bytes, results: list, ratios };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

interface FlowMemoryReport {
  available: boolean;
  notice?: string;
  flows?: number;
  bytesPerFlow?: number;
  heapBytesPerFlow?: number;
  arrayBufferBytesPerFlow?: number;
}

/** Per packet for the packet stages, per flow for the flow-end ones. */
function perUnit(row: StageRow, r: StageReport): string {
  const perFlow = row.stage === 'expiry' || row.stage === 'detectors' || row.stage === 'output';
  const n = perFlow ? r.flows : r.packets;
  return n > 0 ? `${((row.seconds / n) * 1e6).toFixed(2)} us/${perFlow ? 'flow' : 'pkt'}` : '-';
}

async function stages(file: string, runs: number): Promise<StageReport | undefined> {
  const res = await runOnce(process.execPath, [path.join(DIST, 'bench', 'stages.js'), file, '--runs', String(runs)], false);
  const out = res.stdout.trim();
  if (res.code !== 0 || !out.startsWith('{')) {
    console.log(`    stages failed: ${firstLine(res.stderr) || `exit code ${res.code}`}`);
    return undefined;
  }
  return JSON.parse(out) as StageReport;
}

async function memoryOverReplay(file: string, flows: number): Promise<MemoryReport | null> {
  const res = await runOnce(process.execPath, ['--expose-gc', path.join(DIST, 'bench', 'stages.js'), file, '--memory', String(flows)], false);
  const out = res.stdout.trim();
  if (res.code !== 0 || !out.startsWith('{')) {
    console.log(`    memory run failed: ${firstLine(res.stderr) || `exit code ${res.code}`}`);
    return null;
  }
  return JSON.parse(out) as MemoryReport;
}

async function flowMemory(flows: number): Promise<FlowMemoryReport> {
  const script = path.join(DIST, 'bench', 'flow-memory.js');
  const res = await runOnce(process.execPath, ['--expose-gc', script, String(flows)], false);
  const out = res.stdout.trim();
  if (res.code !== 0 || !out.startsWith('{')) {
    const notice = firstLine(res.stdout) || firstLine(res.stderr) || `exit code ${res.code}`;
    return { available: false, notice };
  }
  const r = JSON.parse(out) as { flows: number; bytesPerFlow: number; heapBytesPerFlow: number; arrayBufferBytesPerFlow: number };
  return {
    available: true,
    flows: r.flows,
    bytesPerFlow: round(r.bytesPerFlow, 1),
    heapBytesPerFlow: round(r.heapBytesPerFlow, 1),
    arrayBufferBytesPerFlow: round(r.arrayBufferBytesPerFlow, 1),
  };
}

function machine(): { nproc: number; cpu: string; node: string; memGB: number; kernel: string } {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // not Linux: keep os.cpus()
  }
  return { nproc: os.availableParallelism(), cpu, node: process.version, memGB: round(os.totalmem() / 2 ** 30, 1), kernel: os.release() };
}

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function markdown(reports: CaptureReport[], mem: FlowMemoryReport, runs: number, memoryFlat: MemoryReport | null): string {
  const lines: string[] = [];
  lines.push(`| capture | tool | best wall s (of ${runs}) | packets/s | peak RSS MB | note |`);
  lines.push('|---|---|---:|---:|---:|---|');
  for (const r of reports) {
    for (const m of r.results) {
      lines.push(
        `| ${r.name} | ${m.tool} | ${fmt(m.wallSeconds, 3)} | ${fmt(m.packetsPerSecond)} | ${fmt(m.peakRssMB, 0)} | ${m.notice ?? ''} |`,
      );
    }
  }
  lines.push('');
  lines.push('| capture | ' + COMPARED.map((t) => `tapaudit/${t}`).join(' | ') + ' |');
  lines.push('|---|' + COMPARED.map(() => '---:').join('|') + '|');
  for (const r of reports) {
    const cell = (t: string): string => (r.ratios[`tapaudit/${t}`] === undefined ? '-' : `${r.ratios[`tapaudit/${t}`]!.toFixed(2)}x`);
    lines.push(`| ${r.name} | ${COMPARED.map(cell).join(' | ')} |`);
  }
  lines.push('');
  lines.push(
    mem.available
      ? `Bytes per live flow at ${fmt(mem.flows)} flows: **${mem.bytesPerFlow}** (heap ${mem.heapBytesPerFlow} + typed arrays ${mem.arrayBufferBytesPerFlow})`
      : `Bytes per live flow: ${mem.notice}`,
  );
  lines.push('');
  lines.push(`Per-stage CPU on one thread (\`dist/bench/stages.js\`, cumulative runs, min of ${runs}; the CLI overlaps packet work (read included) and flow-end work on two or three threads):`);
  lines.push('');
  lines.push('| capture | ' + STAGES.join(' | ') + ' | sum |');
  lines.push('|---|' + STAGES.map(() => '---:').join('|') + '|---:|');
  for (const r of reports) {
    if (!r.stages) continue;
    const cells = r.stages.rows.map((row) => `${row.seconds.toFixed(3)} s (${perUnit(row, r.stages!)})`);
    lines.push(`| ${r.name} | ${cells.join(' | ')} | ${r.stages.rows.at(-1)!.cumulativeSeconds.toFixed(3)} s |`);
  }
  const withParts = reports.filter((r) => r.stages?.perFlow?.length);
  if (withParts.length > 0) {
    const parts = withParts[0]!.stages!.perFlow.map((p) => p.part);
    lines.push('');
    lines.push(`Flow-end parts alone, ns per flow (each over the capture's flow records in the workers' slot format, min of ${runs}; every part includes \`read\`, the slot read back into a record):`);
    lines.push('');
    lines.push('| capture | ' + parts.join(' | ') + ' |');
    lines.push('|---|' + parts.map(() => '---:').join('|') + '|');
    for (const r of withParts) lines.push(`| ${r.name} | ${r.stages!.perFlow.map((p) => String(p.nsPerFlow)).join(' | ')} |`);
  }
  if (memoryFlat) {
    lines.push('');
    lines.push(`Memory over a churn replay ten times the flow table (maxFlows ${fmt(memoryFlat.maxFlows)}): heap after GC at each tenth ${memoryFlat.heapMB.join(', ')} MB; last-half peak / first-half peak **${memoryFlat.growth}**`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(OUT, { recursive: true });
  const capDir = opts.smoke && opts.packets === 50_000 ? path.join(OUT, 'smoke') : opts.packets === DEFAULT_PACKETS ? OUT : path.join(OUT, `n${opts.packets}`);
  const haveGnuTime = fs.existsSync(GNU_TIME);
  if (!haveGnuTime) console.log(`${GNU_TIME} not found (Debian package: time); peak RSS comes from polling /proc/PID/status VmHWM`);
  const mach = machine();
  console.log(`tapaudit bench: ${opts.packets.toLocaleString('en-US')} packets per capture, best of ${opts.runs} runs`);
  console.log(`machine: ${mach.nproc} CPUs, ${mach.cpu}, ${mach.memGB} GB, node ${mach.node}`);

  const reports: CaptureReport[] = [];
  let memoryFlat: MemoryReport | null = null;
  for (const kind of ['mix', 'churn', 'real', 'headers'] as const) {
    const t0 = process.hrtime.bigint();
    const cap =
      kind === 'real' ? ensureRealCapture(path.join(capDir, 'real.pcap'), realInputs(), opts.packets)
      : kind === 'headers' ? ensureRealCapture(path.join(capDir, `real-${HEADERS_SNAPLEN}.pcap`), realInputs(), opts.packets, HEADERS_SNAPLEN)
      : ensureCapture(capDir, kind, opts.packets);
    if (cap === null) {
      console.log(`\n${kind}: skipped, no input captures in ${path.relative(REPO, REAL_INPUT_DIR)} (the shared captures beside the repo)`);
      continue;
    }
    const genSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(
      `\n${kind}: ${path.relative(REPO, cap.file)}, ${cap.packets.toLocaleString('en-US')} packets, ~${cap.flows.toLocaleString('en-US')} flows, ${(cap.bytes / 1e6).toFixed(1)} MB` +
        (kind === 'headers' ? ` (the real capture, each frame cut to ${HEADERS_SNAPLEN} bytes)` : '') +
        (cap.reused ? ' (reused)' : ` (generated in ${genSeconds.toFixed(1)} s)`),
    );
    const report = await measureCapture(kind, cap, opts, haveGnuTime);
    console.log(`  stages (one thread, CPU, min of ${opts.runs}): node dist/bench/stages.js ${path.relative(REPO, cap.file)}`);
    report.stages = await stages(cap.file, opts.runs);
    if (report.stages) {
      for (const row of report.stages.rows) {
        console.log(`    ${row.stage.padEnd(10)} ${row.seconds.toFixed(3)} s  ${perUnit(row, report.stages)}`);
      }
      console.log('  flow-end parts alone, ns per flow (each includes read):');
      console.log(`    ${report.stages.perFlow.map((p) => `${p.part} ${p.nsPerFlow}`).join(', ')}`);
    }
    reports.push(report);
    if (kind === 'churn') {
      console.log(`  memory over a replay ten times the flow table (maxFlows ${Math.floor(cap.flows / 10)}), heap after GC per tenth of the file:`);
      memoryFlat = await memoryOverReplay(cap.file, cap.flows);
      if (memoryFlat) console.log(`    ${memoryFlat.heapMB.join(' ')} MB; last half / first half peak: ${memoryFlat.growth}`);
    }
  }

  console.log(`\nbytes per live flow: node --expose-gc dist/bench/flow-memory.js ${opts.memoryFlows}`);
  const mem = await flowMemory(opts.memoryFlows);
  console.log(mem.available ? `  ${mem.bytesPerFlow} B/flow (heap ${mem.heapBytesPerFlow}, typed arrays ${mem.arrayBufferBytesPerFlow})` : `  ${mem.notice}`);

  const md = markdown(reports, mem, opts.runs, memoryFlat);
  console.log(`\n${md}\n`);
  const results = {
    date: new Date().toISOString(),
    machine: mach,
    runsPerMeasurement: opts.runs,
    bestOf: 'lowest wall time of the runs; peak RSS of that run',
    packets: opts.packets,
    smoke: opts.smoke,
    captures: reports,
    flowMemory: mem,
    memoryOverReplay: memoryFlat,
    markdown: md,
  };
  const resultsFile = path.join(OUT, 'results.json');
  fs.writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n');
  fs.rmSync(path.join(OUT, '.time.tmp'), { force: true });
  console.log(`results: ${path.relative(REPO, resultsFile)} (paste the tables into bench/RESULTS.md)`);
  // A tapaudit run that failed fails the harness (CI's smoke run), after everything else ran.
  const failed = reports.flatMap((r) => (r.results.find((m) => m.tool === 'tapaudit')?.failures ?? []).map((f) => `${r.name} ${f}`));
  if (failed.length > 0) {
    console.error(`\ntapaudit failed in ${failed.length} run(s):\n${failed.map((f) => `  ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
