/**
 * The one contract every packet source implements: file readers (pcap, pcapng, gzip of
 * either) and the live libpcap source. Everything after the source is shared.
 *
 * A source calls `onPacket` synchronously for each record. `buf` is a reused chunk: the
 * handler must finish with the bytes before it returns (decode copies what it keeps into
 * numbers), and no source allocates per packet.
 */
export type PacketHandler = (
  buf: Buffer,
  offset: number,
  capLen: number,
  wireLen: number,
  timestampMicros: number,
  linktype: number,
) => void;

export interface SourceWarning {
  /** File (or interface) the warning is about. */
  where: string;
  message: string;
}

export interface PacketSource {
  /** Human name for messages: the file path(s) or the interface. */
  readonly name: string;
  /**
   * Deliver packets to `onPacket` until the input ends or `stop()` is called. The returned
   * promise resolves when delivery is over. Between chunks the source yields to the event
   * loop so that signals (SIGTERM) and output streams are served.
   */
  run(onPacket: PacketHandler): Promise<void>;
  /** Ask the source to stop after the current chunk; `run` then resolves. */
  stop(): void;
  /** Non-fatal problems met so far (truncated last record, ...). */
  readonly warnings: SourceWarning[];
  /** Bytes consumed so far and total bytes if known (for progress); -1 when unknown. */
  progress(): { done: number; total: number };
}
