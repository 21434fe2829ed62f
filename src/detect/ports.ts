/**
 * Port lists shared by the scan, P2P and flood detectors: worm hints for scanned ports and
 * the well-known P2P ports. (Backdoor and IRC lists live with the backdoor detector.)
 * Lists are turned into a 64 KiB lookup table once at set-up so the per-flow check is one
 * array read. The config schema of a port list is config/fields.ts portRangeList.
 */

/**
 * Worm / bot families known for scanning a port, for the `worm_hint` evidence of address
 * scans. Sources: the NetFlow article "Detecting worms and abnormal activities with
 * NetFlow" part 2 (445 Sasser/Conficker, 135 Blaster, 1434/udp Slammer, 3127 MyDoom,
 * 2745 Bagle, 6129 Dameware, 1025) and the IPAudit article (6667 IRC bots).
 * Key: transport + "/" + port.
 */
export const WORM_HINTS: Readonly<Record<string, string>> = {
  'tcp/135': 'Blaster / MS RPC DCOM worms',
  'tcp/139': 'NetBIOS session worms (SMB over NetBIOS)',
  'tcp/445': 'Sasser / Conficker / SMB worms',
  'tcp/1025': 'MS RPC (Blaster variants) worms',
  'tcp/1433': 'MS SQL worms (Spida)',
  'udp/1434': 'SQL Slammer',
  'tcp/2745': 'Bagle backdoor',
  'tcp/3127': 'MyDoom backdoor',
  'tcp/5000': 'Bobax / UPnP worms',
  'tcp/6129': 'Dameware remote control exploits',
  'tcp/6667': 'IRC bots (command channel)',
};

export function wormHint(transport: string, port: number): string | undefined {
  return WORM_HINTS[`${transport}/${port}`];
}

/**
 * Well-known P2P ports. BitTorrent 6881-6889 (the classic client default range),
 * Gnutella 6346/6347 (IANA gnutella-svc / gnutella-rtr), eDonkey/eMule 4662 tcp and
 * 4672 udp (eMule defaults), FastTrack/KaZaA 1214 (IANA "kazaa"), WinMX 6699 and 6257.
 * These are the ports the IPAudit article lists as P2P traffic to watch.
 */
export const P2P_PORTS: readonly (number | string)[] = ['6881-6889', 6346, 6347, 4662, 4672, 1214, 6699, 6257];

/**
 * Service source ports whose packets to a port >= 1024 are replies, not probes: Bro's
 * scan.bro backscatter_ports (80, 8080, 53, 179, 6666, 6667), plus 20 (FTP active data)
 * and 443.
 */
export const REPLY_SRC_PORTS: readonly number[] = [20, 53, 80, 179, 443, 6666, 6667, 8080];

/** Ports from 1024 up are the registered/dynamic range where P2P peers listen (RFC 6335 §6). */
export const FIRST_UNPRIVILEGED_PORT = 1024;

/** One byte per port: 1 when listed. Built once at set-up. */
export function portTable(list: readonly (number | string)[]): Uint8Array {
  const table = new Uint8Array(65536);
  for (const item of list) {
    if (typeof item === 'number') {
      table[item] = 1;
      continue;
    }
    const [lo, hi] = item.split('-').map(Number) as [number, number];
    for (let p = Math.max(0, lo); p <= Math.min(65535, hi); p++) table[p] = 1;
  }
  return table;
}

/** P2P family name of a port, for evidence. */
export function p2pFamily(port: number): string | undefined {
  if (port >= 6881 && port <= 6889) return 'BitTorrent';
  switch (port) {
    case 6346: case 6347: return 'Gnutella';
    case 4662: case 4672: return 'eDonkey/eMule';
    case 1214: return 'FastTrack/KaZaA';
    case 6699: case 6257: return 'WinMX';
    default: return undefined;
  }
}
