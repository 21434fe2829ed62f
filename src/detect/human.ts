/** Text helpers for alert messages (run once per alert, never per packet). */

/** 4100 -> "4.0 KB" (binary units, as IPAudit and tcpdump users read them). */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Transport name for messages and ECS network.transport. */
export function transportName(proto: number): string {
  switch (proto) {
    case 6: return 'tcp';
    case 17: return 'udp';
    case 1: return 'icmp';
    case 58: return 'ipv6-icmp';
    default: return String(proto);
  }
}
