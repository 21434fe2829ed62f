/**
 * Bytes per live flow (SPEC §7 budget: at most 200 B at 1,000,000 concurrent flows, heap
 * and typed arrays together; softflowd needs ~290 B). Run with
 * `node --expose-gc dist/bench/flow-memory.js [FLOWS]`.
 *
 * Baseline: heapUsed + arrayBuffers after a full GC, taken *before* the table is built,
 * so the table's initial slot arrays count against it (the conservative way round). Then
 * FLOWS distinct UDP 5-tuples go in through one reused DecodedPacket, one packet each, all
 * within one second of packet time so nothing expires; GC again; the difference divided
 * by FLOWS is the figure. Typed-array storage grows by doubling up to maxFlows + 1, so at
 * exactly maxFlows = FLOWS the arrays are full and no slack flatters the number.
 */
import { DecodedPacket, PROTO_UDP } from '../decode/packet.js';
import { R_OK } from '../decode/reasons.js';
import { FlowTable } from '../flow/table.js';

export interface FlowMemoryResult {
  flows: number;
  liveFlows: number;
  emitted: number;
  bytesPerFlow: number;
  heapBytesPerFlow: number;
  arrayBufferBytesPerFlow: number;
  insertSeconds: number;
}

type Gc = () => void;

function settle(gc: Gc): { heap: number; arrays: number } {
  // Several passes: the first one may only promote, weak callbacks need another.
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, arrays: m.arrayBuffers };
}

export function measureFlowMemory(flows: number, gc: Gc): FlowMemoryResult {
  const before = settle(gc);
  let emitted = 0;
  const table = new FlowTable({ maxFlows: flows }, () => {
    emitted++;
  });
  const p = new DecodedPacket();
  p.ipVersion = 4;
  p.proto = PROTO_UDP;
  p.ipLen = 60;
  p.capLen = p.wireLen = 74;
  p.payloadLen = 32;
  p.ttl = 64;
  // IPv4-mapped form as the decoder stores it (see DecodedPacket): words 0, 0, 0xffff, addr.
  p.src[2] = p.dst[2] = 0xffff;
  const t0 = 1_709_632_800 * 1e6;
  let rejected = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < flows; i++) {
    // 65,536 clients in 10.0/16 x source ports -> 256 servers in 192.0.2/24 on two ports:
    // every tuple distinct, and spread the way real traffic spreads over the hash.
    p.src[3] = (0x0a000000 | (i & 0xffff)) >>> 0;
    p.srcPort = 1024 + (i >>> 16);
    p.dst[3] = (0xc0000200 | ((i * 7) & 0xff)) >>> 0;
    p.dstPort = i & 1 ? 443 : 53;
    p.tsMicros = t0 + (i % 1_000_000); // within one second: no idle expiry
    if (table.add(p) !== R_OK) rejected++;
  }
  const insertSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const after = settle(gc);
  if (rejected) throw new Error(`flow table refused ${rejected} packets`);
  const liveFlows = table.size; // read after the GC: the table is live through the measurement
  const heap = after.heap - before.heap;
  const arrays = after.arrays - before.arrays;
  return {
    flows,
    liveFlows,
    emitted,
    bytesPerFlow: (heap + arrays) / flows,
    heapBytesPerFlow: heap / flows,
    arrayBufferBytesPerFlow: arrays / flows,
    insertSeconds,
  };
}

if (process.argv[1]?.endsWith('flow-memory.js')) {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) {
    console.error('run with --expose-gc: node --expose-gc dist/bench/flow-memory.js [FLOWS]');
    process.exit(2);
  }
  const flows = Number(process.argv[2] ?? 1_000_000);
  console.log(JSON.stringify(measureFlowMemory(flows, gc)));
}
