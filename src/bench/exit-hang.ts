/**
 * How often a replay never exits: `node dist/bench/exit-hang.js FILE [--runs N]
 * [--limit S] [--node-flags "..."]` runs `node FLAGS dist/bin/tapaudit.js replay FILE` N
 * times (default 40), kills any run still going after S seconds (default 20) and counts
 * those. The flags default to `--v8-pool-size=1 --interrupt-budget=33792`, which make V8
 * compile more and on one background thread: the way Node's exit-time deadlock
 * (nodejs/node#54918; src/cli/main.ts, exitAtEnd) was provoked often enough to count,
 * on a 500,000-packet cut of the real bench capture (`tcpdump -r bench/out/real.pcap -c
 * 500000 -w FILE`). With `--node-flags ""` (Node's own settings) the first 400,000
 * packets of the mix bench capture hung 17 times in 100 before the collection at exit
 * (src/cli/main.ts, collectGarbage). Figures: bench/RESULTS.md, sessions 16 and 17.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'tapaudit.js');
const USAGE = 'usage: node dist/bench/exit-hang.js FILE [--runs N] [--limit SECONDS] [--node-flags "FLAGS"]';

interface Options {
  file: string;
  runs: number;
  limitSeconds: number;
  nodeFlags: string[];
}

function parse(argv: string[]): Options {
  const o: Options = { file: '', runs: 40, limitSeconds: 20, nodeFlags: ['--v8-pool-size=1', '--interrupt-budget=33792'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value; ${USAGE}`);
      return v;
    };
    const count = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) fail(`${a} needs a positive integer; ${USAGE}`);
      return n;
    };
    if (a === '--runs') o.runs = count();
    else if (a === '--limit') o.limitSeconds = count();
    else if (a === '--node-flags') o.nodeFlags = value().split(/\s+/).filter(Boolean);
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith('-') || o.file) fail(`unexpected argument ${a}; ${USAGE}`);
    else o.file = a;
  }
  if (!o.file) fail(USAGE);
  if (!fs.existsSync(o.file)) fail(`${o.file}: no such file`);
  return o;
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

/** One replay: 'ok', 'hung' (killed at the limit) or its failure. */
function runOnce(o: Options, out: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...o.nodeFlags, CLI, 'replay', o.file, '--flows', out, '--stats', `${out}.stats`, '-q'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, o.limitSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (hung) resolve(fs.existsSync(`${out}.stats`) ? 'hung after writing its stats' : 'hung before its stats');
      else resolve(code === 0 ? 'ok' : `failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n')[0] ?? ''}`);
    });
  });
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-exit-hang-'));
  const outcomes = new Map<string, number>();
  try {
    for (let i = 0; i < o.runs; i++) {
      const out = path.join(dir, `flows-${i}.ndjson`);
      const outcome = await runOnce(o, out);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      fs.rmSync(out, { force: true });
      fs.rmSync(`${out}.stats`, { force: true });
      if (outcome !== 'ok') console.log(`run ${i + 1}: ${outcome}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = [...outcomes].map(([k, n]) => `${n} ${k}`).join(', ');
  console.log(`node ${o.nodeFlags.join(' ')} tapaudit replay ${o.file}: ${o.runs} runs, ${summary} (limit ${o.limitSeconds} s)`);
}

void main();
