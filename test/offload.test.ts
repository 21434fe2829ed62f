import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { CONN_STATES, END_REASONS, FlowRecord, NO_VLANS } from '../src/flow/record.js';
import { SLOT_BYTES, SlotViews } from '../src/flow/wire.js';
import { formatAddr } from '../src/util/ip.js';
import { CAPTURES_DIR, REPO_ROOT, describeShared } from './helpers/shared.js';

// The replays run the built code (npm test builds dist/ first): the worker thread is a
// plain Node worker and loads dist/offload-worker.js, which has no TypeScript source path.
const built = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(path.join(REPO_ROOT, 'dist', rel)).href)) as T;
const { openCaptureFiles } = await built<typeof import('../src/capture/file-source.js')>('capture/file-source.js');
const { loadConfig } = await built<typeof import('../src/config/index.js')>('config/index.js');
const { Pipeline } = await built<typeof import('../src/pipeline.js')>('pipeline.js');
const { UserError } = await built<typeof import('../src/util/errors.js')>('util/errors.js');
const { ensureCapture } = await built<typeof import('../src/gen/bench-captures.js')>('gen/bench-captures.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-offload-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 255 });
const typeOrNone = fc.integer({ min: -1, max: 255 });
// Text as the flow table makes it (formatAddr: RFC 5952, at most 39 characters).
const ipText = fc.oneof(
  fc.constant(''),
  fc.tuple(fc.array(u32, { minLength: 4, maxLength: 4 }), fc.constantFrom(4, 6)).map(([w, v]) => formatAddr(Uint32Array.from(w), v)),
);

const recordArb = fc.record({
  startMicros: fc.integer({ min: 0, max: 2 ** 52 }),
  endMicros: fc.integer({ min: 0, max: 2 ** 52 }),
  ipVersion: fc.constantFrom(4, 6),
  proto: u8,
  src: fc.array(u32, { minLength: 4, maxLength: 4 }),
  dst: fc.array(u32, { minLength: 4, maxLength: 4 }),
  srcPort: u16,
  dstPort: u16,
  pktsToServer: u32,
  pktsToClient: u32,
  bytesToServer: fc.integer({ min: 0, max: 2 ** 50 }),
  bytesToClient: fc.integer({ min: 0, max: 2 ** 50 }),
  payloadToServer: fc.integer({ min: 0, max: 2 ** 50 }),
  payloadToClient: fc.integer({ min: 0, max: 2 ** 50 }),
  firstTalker: fc.constantFrom('src' as const, 'dst' as const),
  lastTalker: fc.constantFrom('src' as const, 'dst' as const),
  tcpFlagsToServer: u8,
  tcpFlagsToClient: u8,
  state: fc.constantFrom(...CONN_STATES),
  endReason: fc.constantFrom(...END_REASONS),
  vlans: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 2 }),
  icmpType: typeOrNone,
  icmpCode: typeOrNone,
  ttlMinToServer: u8,
  ttlMaxToServer: u8,
  icmpErrors: u32,
  icmpErrorType: typeOrNone,
  icmpErrorCode: typeOrNone,
  icmpErrorFrom: ipText,
  icmpQuotedSrcIp: ipText,
  icmpQuotedDstIp: ipText,
  icmpQuotedProto: typeOrNone,
  icmpQuotedDstPort: fc.integer({ min: -1, max: 65535 }),
});

type RecordFields = typeof recordArb extends fc.Arbitrary<infer T> ? T : never;

function toRecord(x: RecordFields): FlowRecord {
  const r = new FlowRecord();
  const { src, dst, vlans, ...rest } = x;
  Object.assign(r, rest);
  r.srcAddr.set(src);
  r.dstAddr.set(dst);
  r.srcIp = formatAddr(r.srcAddr, r.ipVersion);
  r.dstIp = formatAddr(r.dstAddr, r.ipVersion);
  r.tcpFlags = r.tcpFlagsToServer | r.tcpFlagsToClient;
  r.vlans = vlans.length === 0 ? NO_VLANS : vlans;
  return r;
}

// Field by field, the address text by name: it is an accessor, made from the words on first read.
const plain = (r: FlowRecord) => ({
  ...r, srcText: undefined, dstText: undefined, srcIp: r.srcIp, dstIp: r.dstIp, srcAddr: [...r.srcAddr], dstAddr: [...r.dstAddr], vlans: [...r.vlans],
});

describe('flow records through the ring (src/flow/wire.ts)', () => {
  it('every field of a record comes back as it went in, in any slot', () => {
    const views = new SlotViews(new SharedArrayBuffer(8 * SLOT_BYTES));
    const back = new FlowRecord();
    fc.assert(
      fc.property(recordArb, fc.integer({ min: 0, max: 7 }), (x, slot) => {
        const r = toRecord(x);
        views.writeFlow(slot, r);
        views.readFlow(slot, back);
        expect(plain(back)).toEqual(plain(r));
      }),
      { numRuns: 2000 },
    );
  });

  it('slots do not overlap (numbers and strings halves), and grown() keeps every one', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 8, maxLength: 8 }), (xs) => {
        const views = new SlotViews(new ArrayBuffer(8 * SLOT_BYTES));
        const records = xs.map(toRecord);
        records.forEach((r, slot) => views.writeFlow(slot, r));
        const back = new FlowRecord();
        const bigger = views.grown(16);
        expect(bigger.slots).toBe(16);
        for (const v of [views, bigger]) {
          records.forEach((r, slot) => {
            v.readFlow(slot, back);
            expect(plain(back)).toEqual(plain(r));
          });
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** Flows, alerts and stats of one replay, in this thread or with the flow-end worker. */
async function replay(file: string, offload: boolean, tag: string, when: 'now' | 'adaptive' = 'now') {
  const flows = path.join(tmp, `${tag}-flows.ndjson`);
  const alerts = path.join(tmp, `${tag}-alerts.ndjson`);
  const opts = { config: loadConfig(), flowsDest: flows, alertsDest: alerts };
  const p = offload ? await Pipeline.open(opts, when) : new Pipeline(opts);
  await p.run(openCaptureFiles([file]));
  const stats = await p.finish();
  const { wall_seconds: _w, packets_per_second: _p, ...rest } = stats;
  return { flows: fs.readFileSync(flows, 'utf8'), alerts: fs.readFileSync(alerts, 'utf8'), stats: rest };
}

/** `fn` with TAPAUDIT_FLOW_WORKERS set to `workers` (as it was when undefined), then restored. */
async function withFlowWorkers<T>(workers: '1' | '2' | undefined, fn: () => T | Promise<T>): Promise<T> {
  const saved = process.env.TAPAUDIT_FLOW_WORKERS;
  if (workers) process.env.TAPAUDIT_FLOW_WORKERS = workers;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TAPAUDIT_FLOW_WORKERS;
    else process.env.TAPAUDIT_FLOW_WORKERS = saved;
  }
}

async function expectSame(file: string, workers?: '1' | '2', when: 'now' | 'adaptive' = 'now'): Promise<void> {
  const tag = `${path.basename(file)}-${workers ?? 'default'}-${when}`;
  const a = await replay(file, false, `${tag}-inline`);
  const b = await withFlowWorkers(workers, () => replay(file, true, `${tag}-worker`, when));
  expect(a.flows.length).toBeGreaterThan(0);
  expect(b.flows).toBe(a.flows);
  // Two flow-end workers (scan/p2p/flood and the rest) may interleave their alert lines
  // differently from one thread: the same lines, in any order.
  expect(b.alerts.split('\n').sort()).toEqual(a.alerts.split('\n').sort());
  expect(b.stats).toEqual(a.stats);
}

describe('Pipeline.open (flow-end stage in a worker) against new Pipeline (one thread)', () => {
  it('the demo capture: same flow log, alert log and stats', async () => {
    await expectSame(path.join(REPO_ROOT, 'captures', 'demo.pcap'));
  });

  for (const workers of ['1', '2'] as const) {
    for (const when of ['now', 'adaptive'] as const) {
      it(`the demo capture with ${workers} flow-end worker(s), ${when === 'now' ? 'started at once' : 'adaptive (the demo ends first: flow-end on this thread)'}`, async () => {
        await expectSame(path.join(REPO_ROOT, 'captures', 'demo.pcap'), workers, when);
      });
    }
  }

  // The 'adaptive' runs above end before the workers would start (the demo has 4,000
  // packets), so they take the in-thread end (FlowOffload.finishHere). A generated churn
  // capture of 150,000 packets fills half the ring (32,768 records) part-way through: the
  // workers start mid-run with records already waiting.
  for (const workers of ['1', '2'] as const) {
    it(`a 150,000-packet churn capture with ${workers} worker(s) started part-way through`, async () => {
      const { file, flows } = ensureCapture(path.join(tmp, 'churn'), 'churn', 150_000);
      expect(flows).toBeGreaterThan(65_536);
      await expectSame(file, workers, 'adaptive');
    });
  }

  it('an output the worker cannot open fails Pipeline.open with the one-line error', async () => {
    const config = loadConfig();
    const bad = path.join('/proc', 'version', 'flows.ndjson');
    const err = await Pipeline.open({ config, flowsDest: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as InstanceType<typeof UserError>).message).toContain(bad);
    expect((err as InstanceType<typeof UserError>).exitCode).toBe(4);
  });
});

describeShared('Pipeline.open on shared captures (VLANs, IPv6, ICMP errors, scans)', () => {
  for (const f of [
    'formats/zeek__vlan-qinqinq.pcap',
    'formats/zeek__mixed-vlan-mpls.pcap',
    'detection/sgr__hs-sh-IPscan.pcapng',
    'detection/esnet__udp_0_1000_20190821.pcap',
    'detection/stop__pkt.TCP.synflood.spoofed.pcap',
    'formats/zeek__linux_dlt_sll2.pcap',
  ]) {
    it(f, async () => {
      await expectSame(path.join(CAPTURES_DIR, f));
    });
  }
});

describe('FlowOffload.warmUpAsStarted (the warm-up pipeline\'s throwaway ring)', () => {
  it('takes records on as a started ring does, with no worker and never waiting for one', async () => {
    const { FlowOffload } = await built<typeof import('../src/offload.js')>('offload.js');
    const offload = new FlowOffload({ config: loadConfig() });
    const r = new FlowRecord();
    for (let i = 0; i < 100; i++) offload.onFlow(r);
    offload.warmUpAsStarted();
    // Far more records than the slots it cycles through: a reader that looked behind would
    // make claim() wait for it (60 s, past the test's timeout, then fail), and a started
    // worker would post stats.
    for (let i = 0; i < 20_000; i++) offload.onFlow(r);
    offload.tick(1);
    expect(offload.stats()).toBeNull();
    const stats = await offload.finish(2);
    expect(stats.detectors.alerts).toEqual({});
  }, 20_000);
});

describe('a flow-end worker that fails outside its read loop', () => {
  it('marks the ring dead at once and posts the error, so a packet thread waiting for room stops waiting', async () => {
    const { CTRL_DEAD, ctrlRead } = await built<typeof import('../src/offload.js')>('offload.js');
    const ring = new SharedArrayBuffer(16 * SLOT_BYTES);
    const ctrl = new SharedArrayBuffer(6 * 4);
    const { port1, port2 } = new MessageChannel();
    // The output worker of the split: alerts from group A come over the channel. One it
    // cannot write throws in the channel's listener, outside the loop that reads the ring.
    const data: import('../src/offload.js').WorkerData = {
      options: { config: loadConfig(), alertsDest: path.join(tmp, 'dead-ring-alerts.ndjson') },
      ring, ctrl, index: 0, wrapFrom: 0, wrapSlots: 16, counterBase: 0, peer: { port: port2, role: 'receive' },
    };
    const worker = new Worker(path.join(REPO_ROOT, 'dist', 'offload-worker.js'), { workerData: data, transferList: [port2] });
    const messages: import('../src/offload.js').WorkerMessage[] = [];
    worker.on('message', (m: import('../src/offload.js').WorkerMessage) => messages.push(m));
    worker.on('error', () => {});
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    port1.postMessage({ type: 'alert', alert: null });
    // The flag claim() checks while it waits for room. Without the worker's
    // uncaughtException handler it stayed 0 (the thread died with nothing in ctrl) and
    // this returned 'timed-out'.
    const woke = await new Promise<string>((resolve) => {
      const ctrlView = new Int32Array(ctrl);
      const started = Date.now();
      const poll = (): void => {
        if (Atomics.load(ctrlView, CTRL_DEAD) === 1) resolve('dead');
        else if (Date.now() - started > 10_000) resolve('timed-out');
        else setTimeout(poll, 5);
      };
      poll();
    });
    expect(woke).toBe('dead');
    expect(await exited).toBe(1);
    expect(Atomics.load(new Int32Array(ctrl), ctrlRead(0))).toBe(0);
    const error = messages.find((m) => m.type === 'error');
    expect(error?.type === 'error' && error.error.user).toBe(false);
    expect(error?.type === 'error' && error.error.message).toMatch(/severity/);
    port1.close();
  }, 20_000);
});

describe('the ring past 2^31 records (its shared counters are int32)', () => {
  // A live sensor gets there after about 30 hours at 20,000 flows/s. The counters start
  // 30,000 short of the wrap here, and 100,000 records go through a 65,536-slot ring, so
  // the packet thread also waits for room across it. Before counterAhead, the packet thread
  // saw its worker 2^32 slots behind and waited out the 60 s stall limit, and the worker
  // saw the writer 2^32 ahead and read slots never written.
  for (const split of [false, true]) {
    it(`every record arrives once, in order, with ${split ? 'two workers' : 'one worker'}`, async () => {
      const { FlowOffload } = await built<typeof import('../src/offload.js')>('offload.js');
      const flows = path.join(tmp, `wrap-${split}.ndjson`);
      const offload = await withFlowWorkers(split ? '2' : '1', () => {
        const o = new FlowOffload({ config: loadConfig(), flowsDest: flows }, () => split, 2 ** 31 - 30_000);
        o.start();
        return o;
      });
      const r = new FlowRecord();
      r.ipVersion = 4;
      r.proto = 17;
      r.srcAddr.set([0, 0, 0, 0x0a000001]);
      r.dstAddr.set([0, 0, 0, 0x0a000002]);
      r.addressesChanged();
      const n = 100_000;
      for (let i = 0; i < n; i++) {
        r.startMicros = r.endMicros = i * 1000;
        r.srcPort = i % 65_536;
        r.dstPort = Math.floor(i / 65_536);
        offload.onFlow(r);
      }
      await offload.finish(n * 1000);
      const lines = fs.readFileSync(flows, 'utf8').trim().split('\n');
      expect(lines.length).toBe(n);
      const seen = lines.map((l) => { const f = JSON.parse(l) as { src_port: number; dst_port: number }; return f.dst_port * 65_536 + f.src_port; });
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
    }, 60_000);
  }
});
