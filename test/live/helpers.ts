/**
 * Live tests: the built CLI (dist/, made by `npm test`'s pretest) capturing on `lo` with a
 * BPF filter on a dedicated 127.0.0.x address, traffic sent to that address only.
 *
 * They need root (or CAP_NET_RAW) and the cap addon. Without root they are skipped with
 * the reason printed; when cap cannot load they are skipped too, except under CI=true,
 * where that is a failure (CI installs libpcap-dev and runs as root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { describe } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

export const CLI = path.join(REPO_ROOT, 'dist', 'bin', 'tapaudit.js');

function capLoads(): string | null {
  try {
    createRequire(import.meta.url)('cap');
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  }
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const capError = capLoads();

if (capError && process.env.CI === 'true') {
  throw new Error(`the cap addon does not load under CI (${capError}); CI must install libpcap-dev before npm ci`);
}
export const liveSkipReason = !isRoot
  ? 'live capture tests need root (they capture on lo)'
  : capError
    ? `the cap addon does not load: ${capError}`
    : null;
if (liveSkipReason) console.warn(`[tapaudit tests] skipping live capture tests: ${liveSkipReason}`);

/** `describe` for tests that capture. */
export const describeLive: typeof describe = (liveSkipReason ? describe.skip : describe) as typeof describe;

export interface LiveProcess {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  /** Resolves with the exit code (or 128+signal). */
  exited: Promise<number>;
}

/**
 * Spawn `tapaudit live ARGS` (optionally under a wrapper such as setpriv) and wait for its
 * "listening on" line. Rejects with its stderr when it exits first or takes over 10 s.
 */
export async function startLive(args: string[], wrapper: string[] = []): Promise<LiveProcess> {
  const cmd = wrapper.length ? wrapper[0]! : process.execPath;
  const argv = wrapper.length ? [...wrapper.slice(1), process.execPath, CLI, 'live', ...args] : [CLI, 'live', ...args];
  const child = spawn(cmd, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? osSignal(signal) : 0))),
  );
  const proc: LiveProcess = { child, stderr: () => err, stdout: () => out, exited };
  await waitFor(() => /listening on /.test(err), 10_000, exited, () => `live did not start:\n${err}`);
  return proc;
}

function osSignal(s: NodeJS.Signals): number {
  return (({ SIGTERM: 15, SIGKILL: 9, SIGABRT: 6, SIGSEGV: 11, SIGINT: 2, SIGHUP: 1 }) as Record<string, number>)[s] ?? 0;
}

/** Poll `cond` every 50 ms until true; fail after `ms` or when `exited` settles first. */
export async function waitFor(cond: () => boolean, ms: number, exited?: Promise<number>, why = () => 'timed out'): Promise<void> {
  let gone: number | null = null;
  exited?.then((c) => (gone = c));
  const until = Date.now() + ms;
  while (!cond()) {
    if (gone !== null) throw new Error(`process exited (${gone}) before the condition: ${why()}`);
    if (Date.now() > until) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM and the exit code; fails when the process takes more than `ms` to exit. */
export async function stopLive(p: LiveProcess, ms = 10_000): Promise<number> {
  p.child.kill('SIGTERM');
  const timer = new Promise<number>((_, reject) =>
    setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`live did not exit within ${ms} ms of SIGTERM:\n${p.stderr()}`));
    }, ms).unref(),
  );
  return Promise.race([p.exited, timer]);
}

/**
 * TCP connects to `count` ports of `host` from `localAddress`; loopback answers each with
 * RST (ECONNREFUSED). Resolves with the error codes seen.
 */
export function connectClosedPorts(host: string, firstPort: number, count: number, localAddress?: string): Promise<string[]> {
  const codes: Promise<string>[] = [];
  for (let port = firstPort; port < firstPort + count; port++) {
    codes.push(
      new Promise((resolve) => {
        const s = net.connect({ host, port, localAddress });
        s.on('connect', () => {
          s.destroy();
          resolve('CONNECTED');
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      }),
    );
  }
  return Promise.all(codes);
}

/** One UDP datagram to each of `count` ports; loopback answers closed ports with ICMP port unreachable. */
export async function sendUdp(host: string, firstPort: number, count: number, localAddress?: string): Promise<void> {
  const sock = dgram.createSocket('udp4');
  if (localAddress) await new Promise<void>((r) => sock.bind(0, localAddress, r));
  // Sent one at a time. Linux does not rate-limit ICMP errors per peer on loopback
  // (icmpv4_xrlim_allow skips IFF_LOOPBACK devices); the global limit is
  // net.ipv4.icmp_msgs_per_sec 1000 with a burst of icmp_msgs_burst 50, so a dozen
  // datagrams are all answered.
  for (let port = firstPort; port < firstPort + count; port++) {
    await new Promise<void>((resolve, reject) => sock.send('tapaudit live test', port, host, (e) => (e ? reject(e) : resolve())));
  }
  // Each ICMP error also comes back to this socket as ECONNREFUSED on a later send/recv; ignore.
  sock.on('error', () => {});
  await new Promise((r) => setTimeout(r, 100));
  sock.close();
}

export function readNdjson(text: string): Record<string, any>[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, any>);
}
