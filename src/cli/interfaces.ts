/** `tapaudit interfaces`: what libpcap can capture on, one line each, with addresses. */
import { listInterfaces, type CapDevice } from '../capture/live.js';
import { parseCommandArgs } from './args.js';

export const INTERFACES_HELP = `Usage: tapaudit interfaces

List the interfaces libpcap can capture on (through the cap addon), one per line: the
name to give 'tapaudit live -i', its addresses, and libpcap's description and flags.

Exit status: 0 done, 2 usage error or no live capture support (libpcap/cap missing).
`;

export async function interfacesCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('interfaces', {
    args: argv,
    allowPositionals: false,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(INTERFACES_HELP);
    return 0;
  }
  const devices = listInterfaces();
  const width = Math.max(4, ...devices.map((d) => d.name.length)) + 2;
  process.stdout.write(devices.map((d) => formatDevice(d, width)).join(''));
  return 0;
}

export function formatDevice(d: CapDevice, width = d.name.length + 2): string {
  const addrs = d.addresses.flatMap((a) => (a.addr ? [a.netmask ? `${a.addr}/${prefixLength(a.netmask)}` : a.addr] : []));
  const extra = [d.description, d.flags ? d.flags.replace(/PCAP_IF_/g, '').toLowerCase().replace(/\|/g, ',') : undefined]
    .filter(Boolean)
    .join('; ');
  return `${d.name.padEnd(width)}${addrs.length ? addrs.join(' ') : '-'}${extra ? `  (${extra})` : ''}\n`;
}

/** "255.255.255.0" -> 24, "ffff:ffff::" -> 32; the mask itself when it is not contiguous. */
export function prefixLength(mask: string): string {
  let bits = '';
  if (mask.includes(':')) {
    const [head = '', tail = ''] = mask.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    for (const g of groups) bits += parseInt(g || '0', 16).toString(2).padStart(16, '0');
  } else {
    for (const o of mask.split('.')) bits += Number(o).toString(2).padStart(8, '0');
  }
  const n = bits.indexOf('0') === -1 ? bits.length : bits.indexOf('0');
  return bits.slice(n).includes('1') ? mask : String(n);
}
