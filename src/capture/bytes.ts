/**
 * Reads of capture-file framing (pcap record headers, pcapng blocks) in either byte
 * order, the file's. Byte arithmetic, not Buffer#readUInt32LE and friends: their argument
 * checks showed up in the readers' profiles (~20 % of the pcap record loop; pcapng block
 * framing of the 2M-packet real bench capture as pcapng, in memory, 170-297 -> 67-130 ns
 * per packet, as fast as the pcap records).
 * Callers read only inside bytes they have checked are there: past the end `b[i]` is
 * undefined and the result NaN, never an exception.
 */
// Big-endian: the decoder's network-order readers (the same values).
export { i32 as i32be, u16 as u16be, u32 as u32be } from '../decode/bytes.js';

export function u32le(b: Buffer, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)) + b[i + 3]! * 0x1000000;
}

export function i32le(b: Buffer, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

export function u16le(b: Buffer, i: number): number {
  return b[i]! | (b[i + 1]! << 8);
}
