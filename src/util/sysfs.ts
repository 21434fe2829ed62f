/** Numbers the Linux kernel publishes per network interface under /sys/class/net/IF/. */
import fs from 'node:fs';

/** Where the kernel lists network interfaces (tests pass a fake tree instead). */
export const SYS_CLASS_NET = '/sys/class/net';

/** A sysfs file holding one number (a counter, an MTU, a type); throws when unreadable or not a number. */
export function readSysfsNumber(file: string): number {
  const n = Number(fs.readFileSync(file, 'latin1').trim());
  if (!Number.isFinite(n)) throw new Error(`${file}: not a number`);
  return n;
}

/** readSysfsNumber, or null when the file is missing, unreadable or not a number. */
export function trySysfsNumber(file: string): number | null {
  try {
    return readSysfsNumber(file);
  } catch {
    return null;
  }
}
