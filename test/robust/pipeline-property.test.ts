/**
 * Issue 7 §2, the CI-sized part for the full pipeline (the long run is `npm run fuzz`):
 * random bytes, random bytes behind a valid file header, and real captures mutated by
 * src/fuzz/mutate.ts go through replayBytes -> Pipeline -> finish. Never a throw other than
 * the format check's UserError; packets == flow_packets + not_flowed; every record counted.
 * (The decoder and the readers have their own property tests in test/decode and
 * test/capture.)
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/index.js';
import { pipelineCase } from '../../src/fuzz/check.js';
import { headerBytes, mutate, mutationArb } from '../../src/fuzz/mutate.js';
import { capturePath, describeShared } from '../helpers/shared.js';

/** A Pipeline costs ~5-20 ms to build (preallocated LRU tables): 150 cases is a few seconds. */
const NUM_RUNS = 150;
const config = defaultConfig();

/** Valid classic pcap header (LE, microseconds, v2.4, snaplen 65535) for a link type. */
function pcapHeader(linktype: number): Uint8Array {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0xa1b2c3d4, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(65535, 16);
  b.writeUInt32LE(linktype, 20);
  return b;
}

async function holds(name: string, bytes: Uint8Array, chunk: number): Promise<void> {
  const r = await pipelineCase(name, bytes, config, chunk);
  if (r.problem !== null) throw new Error(`${name} (${bytes.length} bytes, chunk ${chunk}): ${r.problem}`);
}

describe('pipeline on random bytes', () => {
  it('any bytes: refused by the format check or replayed with the accounting intact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 512 }), (bytes, chunk) => holds('random', bytes, chunk)),
      { numRuns: NUM_RUNS },
    );
  });

  it('random records behind a valid pcap header (Ethernet, raw IP, SLL, null)', async () => {
    let replayed = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 101, 113, 0, 228, 229), fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 700 }), async (lt, body, chunk) => {
        const bytes = Buffer.concat([pcapHeader(lt), body]);
        await holds(`linktype ${lt}`, bytes, chunk);
        replayed++;
      }),
      { numRuns: NUM_RUNS },
    );
    expect(replayed).toBe(NUM_RUNS);
  });
});

describeShared('pipeline on mutated real captures', () => {
  const seeds = [
    'formats/zeek__get-to-ssh-server.pcap',
    'formats/pcpp__VlanPackets.pcap',
    'formats/pcpp__pcapng-example.pcapng',
    'formats/pcapngtg-be__test001.pcapng',
    'formats/zeek__mixed-vlan-mpls.pcap',
    'formats/pcpp__ip6_fragments.pcap',
    'detection/sgr__hs-icmpScan.pcapng',
    'detection/ndpi__http-lines-split.pcap',
  ].map((f) => {
    const b = fs.readFileSync(capturePath(f));
    // The first 6 KB: enough records for several flows, small enough to mutate per case.
    return { name: f, bytes: b.subarray(0, Math.min(b.length, 6144)) };
  });

  it('the unmutated seeds replay with flows', async () => {
    for (const s of seeds) {
      const r = await pipelineCase(s.name, s.bytes, config, 4096);
      expect(r.problem).toBeNull();
      expect(r.stats!.flow_packets, s.name).toBeGreaterThan(0);
    }
  });

  it('mutations (header kept or not) never break the pipeline', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(seeds.length - 1),
        fc.array(mutationArb, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 8192 }),
        async (i, muts, keepHeader, chunk) => {
          const s = seeds[i]!;
          const bytes = mutate(s.bytes, muts, keepHeader ? headerBytes(s.bytes) : 0);
          await holds(s.name, bytes, chunk);
        },
      ),
      { numRuns: NUM_RUNS * 2 },
    );
  });
});
