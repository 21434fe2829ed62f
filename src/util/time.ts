/**
 * Packet-time microseconds -> "2026-01-02T03:04:05.123456Z". Works for any finite value:
 * captures carry pre-1970 and post-2106 timestamps (see shared formats/ captures).
 */
export function formatMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const frac = micros - ms * 1000; // 0..999 microseconds beyond the millisecond
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return micros < 0 ? '0000-01-01T00:00:00.000000Z' : '9999-12-31T23:59:59.999999Z';
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ (or ±YYYYYY- for far years)
  const us = String(Math.floor(frac)).padStart(3, '0');
  return `${iso.slice(0, -1)}${us}Z`;
}
