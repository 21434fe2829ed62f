/**
 * Port lists for backdoor.port (SPEC §4). One table, so the name an alert prints and the
 * default config come from the same row. Each number is the listening port of a
 * well-known trojan/backdoor or worm shell as published by its analyses; a port here is
 * judged only as the SERVER port of a flow (see backdoor.ts), never as a client's port.
 */

export interface BackdoorPort {
  port: number;
  name: string;
}

/**
 * Sources: the IPAudit article (nc -l -p 31337), SANS ISC port reports and the worm
 * write-ups the SPEC's scan hints cite (MyDoom 3127, Bagle 2745, Dameware 6129,
 * Sasser 5554/9996, Blaster 4444).
 */
export const KNOWN_BACKDOOR_PORTS: readonly BackdoorPort[] = [
  { port: 31337, name: 'Back Orifice / Elite' },
  { port: 54320, name: 'Back Orifice 2000' },
  { port: 54321, name: 'Back Orifice 2000' },
  { port: 12345, name: 'NetBus' },
  { port: 12346, name: 'NetBus' },
  { port: 20034, name: 'NetBus 2 Pro' },
  { port: 27374, name: 'SubSeven' },
  { port: 1243, name: 'SubSeven' },
  { port: 6776, name: 'SubSeven' },
  { port: 4444, name: 'Metasploit / Blaster shell' },
  { port: 3127, name: 'MyDoom' },
  { port: 2745, name: 'Bagle' },
  { port: 6129, name: 'Dameware (exploited by worms)' },
  { port: 1524, name: 'ingreslock backdoor' },
  { port: 5554, name: 'Sasser FTP' },
  { port: 9996, name: 'Sasser shell' },
  { port: 65506, name: 'Phatbot/Agobot proxy' },
];

export const DEFAULT_BACKDOOR_PORTS: number[] = KNOWN_BACKDOOR_PORTS.map((p) => p.port);

/** IRC client ports: 6660-6669 (IANA ircu range) and 7000 (common IRC/SSL alternative). */
export const DEFAULT_IRC_PORTS: number[] = [6660, 6661, 6662, 6663, 6664, 6665, 6666, 6667, 6668, 6669, 7000];

const NAMES = new Map<number, string>(KNOWN_BACKDOOR_PORTS.map((p) => [p.port, p.name]));

/** Display name of a listed port; configured ports outside the table get a generic name. */
export function backdoorPortName(port: number): string {
  return NAMES.get(port) ?? 'configured backdoor port';
}

/**
 * A 65536-entry lookup so the per-flow test is one typed-array read (no Set hashing):
 * 64 KB once at set-up.
 */
export function portTable(ports: readonly number[]): Uint8Array {
  const t = new Uint8Array(65536);
  for (const p of ports) t[p] = 1;
  return t;
}
