/**
 * Connection history bits kept per flow, and the Zeek conn_state they map to (SPEC §3).
 * Zeek derives conn_state from its TCP analyzer's endpoint states; we only see flags, so
 * we keep the handful of facts conn_state needs and map them at emit time.
 */
import type { ConnState } from './record.js';

/** Originator sent a SYN without ACK. */
export const H_SYN_ORIG = 1 << 0;
/** Responder sent SYN+ACK. */
export const H_SYNACK_RESP = 1 << 1;
export const H_FIN_ORIG = 1 << 2;
export const H_FIN_RESP = 1 << 3;
export const H_RST_ORIG = 1 << 4;
export const H_RST_RESP = 1 << 5;
/** The first RST of the connection came from the originator (RSTO vs RSTR). */
export const H_FIRST_RST_ORIG = 1 << 6;
/** The responder itself sent a packet (ICMP errors about the flow do not count). */
export const H_RESP_SPOKE = 1 << 7;
/** The responder sent something other than a bare RST (a real answer for UDP/ICMP/TCP). */
export const H_RESP_NON_RST = 1 << 8;

/**
 * Zeek conn_state from the history bits. Mapping choices where Zeek has more states than
 * SPEC's subset: S2/S3 (established, one side closed) -> S1; RSTOS0 (orig SYN then orig
 * RST, no SYN/ACK seen: a SYN scanner resetting an answer we did not capture) -> SH;
 * RSTRH (resp SYN/ACK then RST, no SYN seen) -> SHR.
 */
export function connState(history: number, proto: number): ConnState {
  if (proto !== 6) return history & H_RESP_SPOKE ? 'SF' : 'S0';
  const synOrig = (history & H_SYN_ORIG) !== 0;
  const synAck = (history & H_SYNACK_RESP) !== 0;
  if (synOrig && synAck) {
    if (history & (H_RST_ORIG | H_RST_RESP)) return history & H_FIRST_RST_ORIG ? 'RSTO' : 'RSTR';
    if ((history & H_FIN_ORIG) && (history & H_FIN_RESP)) return 'SF';
    return 'S1';
  }
  if (synOrig) {
    if (history & H_RST_RESP) return 'REJ';
    if (history & (H_FIN_ORIG | H_RST_ORIG)) return 'SH';
    if (history & H_RESP_SPOKE) return 'OTH';
    return 'S0';
  }
  if (synAck) return history & (H_FIN_RESP | H_RST_RESP) ? 'SHR' : 'OTH';
  return 'OTH';
}
