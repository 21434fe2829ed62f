/** Test helpers for the capture readers: run a source and keep a copy of every packet. */
import type { PacketSource } from '../../src/capture/source.js';

export interface Pkt {
  ts: number;
  capLen: number;
  wireLen: number;
  linktype: number;
  data: Buffer;
}

/** Copy every delivered packet (tests may allocate; the reader must not). */
export function collector(): { pkts: Pkt[]; onPacket: (b: Buffer, o: number, c: number, w: number, ts: number, lt: number) => void } {
  const pkts: Pkt[] = [];
  return {
    pkts,
    onPacket: (b, o, c, w, ts, lt) => {
      pkts.push({ ts, capLen: c, wireLen: w, linktype: lt, data: Buffer.from(b.subarray(o, o + c)) });
    },
  };
}

export async function runAll(src: PacketSource): Promise<Pkt[]> {
  const c = collector();
  await src.run(c.onPacket);
  return c.pkts;
}

/** Count packets by link type: { "1": 59, "113": 100 }. */
export function byLinktype(pkts: Pkt[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pkts) out[p.linktype] = (out[p.linktype] ?? 0) + 1;
  return out;
}

/** Convert tshark's frame.time_epoch text ("1721295318.976755289") to whole microseconds, exactly. */
export function epochTextToMicros(text: string): number {
  const [sec, frac = ''] = text.split('.');
  return Number(sec) * 1e6 + Number((frac + '000000').slice(0, 6));
}

/** '' when both lists hold the same packets, else where they first differ. Faster than deep equality on Buffers. */
export function firstDifference(a: Pkt[], b: Pkt[]): string {
  if (a.length !== b.length) return `${a.length} packets vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.ts !== y.ts || x.capLen !== y.capLen || x.wireLen !== y.wireLen || x.linktype !== y.linktype || !x.data.equals(y.data)) {
      return `packet ${i + 1}: ${x.ts}/${x.capLen}/${x.wireLen}/lt${x.linktype} vs ${y.ts}/${y.capLen}/${y.wireLen}/lt${y.linktype}`;
    }
  }
  return '';
}
