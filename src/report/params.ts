/**
 * What the analyst types (addresses, times, ports, protocols) checked and put in the form
 * the flow log uses, so a filter either matches the way the sensor wrote the field or is
 * refused in one line. These values are then bound as statement parameters (db.ts).
 */
import { formatAddr, parseAddr } from '../util/ip.js';
import { UserError } from '../util/errors.js';

/** Address text as the flow writer prints it (RFC 5952 for IPv6: "2001:DB8:0::1" -> "2001:db8::1"). */
export function canonicalAddr(command: string, option: string, text: string): string {
  const words = new Uint32Array(4);
  const version = parseAddr(text.trim(), words);
  if (version === 0) throw new UserError('E_USAGE', `${command}: --${option} needs an IPv4 or IPv6 address, got "${text}"`);
  return formatAddr(words, version);
}

/**
 * Time bound -> microseconds since the epoch (UTC). Accepts what analysts paste: the flow
 * log's own "2026-01-02T03:04:05.123456Z", an ISO date or date-time without a zone (taken
 * as UTC, like every time tapaudit writes), or epoch seconds.
 */
export function parseTimeMicros(command: string, option: string, text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1e6);
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (m) {
    const zone = m[4] ?? 'Z';
    const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${zone}`);
    if (!Number.isNaN(ms)) {
      const frac = m[3] ? Math.round(Number(m[3]) * 1e6) : 0;
      return ms * 1000 + frac;
    }
  }
  throw new UserError('E_USAGE', `${command}: --${option} needs a time like 2026-01-02T03:04:05Z, 2026-01-02 or epoch seconds, got "${text}"`);
}

export function portOption(command: string, option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UserError('E_USAGE', `${command}: --${option} must be a port number 0-65535, got "${text}"`);
  }
  return n;
}

export function countOption(command: string, option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UserError('E_USAGE', `${command}: --${option} must be a whole number >= 0, got "${text}"`);
  }
  return n;
}

/** Protocol names as the flow log writes them (SPEC §3: tcp|udp|icmp|icmp6|<number>). */
const PROTO_NAMES: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmp6', 'icmpv6': 'icmp6', 'ipv6-icmp': 'icmp6' };

export function protoOption(command: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const t = text.trim().toLowerCase();
  if (t === 'tcp' || t === 'udp' || t === 'icmp' || t === 'icmp6') return t;
  const named = PROTO_NAMES[t];
  if (named) return named;
  const n = Number(t);
  if (Number.isInteger(n) && n >= 0 && n <= 255) return String(n);
  throw new UserError('E_USAGE', `${command}: --proto must be tcp, udp, icmp, icmp6 or an IP protocol number 0-255, got "${text}"`);
}

/** JSON-safe row values: DuckDB sums come back as bigint; byte counts stay far below 2^53. */
export function plainRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = plainValue(v);
  return out;
}

function plainValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plainValue);
  return v;
}
