/**
 * What the file driver (file-source.ts) needs from a record parser. A parser walks whole
 * records in `buf[start, end)`, calls `onPacket` for each, and returns the offset of the
 * first byte it could not use yet. The driver keeps those bytes (copying them to the front
 * of its chunk buffer), reads more and calls again; so I/O, gzip and memory input share one
 * parser and none of them allocates per packet.
 */
import type { PacketHandler } from './source.js';

export interface RecordParser {
  /**
   * Parse whole records from `buf[start, end)`. `base` is the file (content) offset of
   * `buf[0]`, used only in messages. Returns the offset of the first unconsumed byte.
   */
  parse(buf: Buffer, start: number, end: number, base: number, onPacket: PacketHandler): number;
  /** After `parse` returned short of `end`: bytes needed at that offset to go on. */
  need: number;
  /** Set when the file cannot go on (damaged framing): the message for the warning. */
  damaged: string | null;
  /** Packets delivered so far from this file. */
  packets: number;
  /** A closing remark for the warnings (e.g. blocks skipped), or null. */
  summary(): string | null;
}
