import { addrHash32 } from './hash.js';

/**
 * Addresses as four 32-bit words (IPv4 as ::ffff:a.b.c.d), turned into text only when a
 * record is written.
 */
export function formatAddr(words: Uint32Array, ipVersion: number): string {
  return ipVersion === 4 ? formatIPv4(words[3]!) : formatIPv6(words);
}

/** Dotted quad of an IPv4 address given as one 32-bit word (signed or unsigned). */
export function formatIPv4(word: number): string {
  const a = word | 0;
  const i = (a ^ (a >>> 16)) & V4_CACHE_MASK;
  const cached = v4Text[i]!;
  if (v4Word[i] === a && cached !== '') return cached;
  const text = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  v4Word[i] = a;
  v4Text[i] = text;
  return text;
}

/**
 * The text of recent IPv4 addresses, direct mapped: every flow record formats two, and
 * hosts repeat from flow to flow. Indexed by the low 16 bits xor the high 16, so the
 * hosts of one /16 never evict each other. On the churn bench (65,536 clients, 762
 * servers, 2M calls) a hit costs two loads (often cache misses, ~35 ns) where the
 * template built a new string: 1.34 -> 1.17 s CPU for the replay without detectors or
 * flow output (min of 6 alternating runs). ~1.5 MB of heap when full.
 */
const V4_CACHE_MASK = 0xffff;
const v4Word = new Int32Array(V4_CACHE_MASK + 1);
const v4Text = new Array<string>(V4_CACHE_MASK + 1).fill('');

/**
 * RFC 5952 text: lower case, the first longest run of two or more zero groups as "::".
 * Recent addresses come from a direct-mapped cache like IPv4's (hosts repeat from flow to
 * flow). Built by hand: the version with an array of groups and map/slice/join allocated
 * five arrays a call and was deoptimized four times ("wrong map") in a replay of the real
 * bench capture (23.5 % IPv6), its self time there ~35 ms in the flow-end worker.
 */
export function formatIPv6(w: Uint32Array): string {
  const w0 = w[0]! | 0;
  const w1 = w[1]! | 0;
  const w2 = w[2]! | 0;
  const w3 = w[3]! | 0;
  const i = addrHash32(w) & V6_CACHE_MASK;
  const cached = v6Text[i]!;
  if (cached !== '' && v6Word[4 * i] === w0 && v6Word[4 * i + 1] === w1 && v6Word[4 * i + 2] === w2 && v6Word[4 * i + 3] === w3) {
    return cached;
  }
  // The longest run of zero groups (the first of equal ones).
  let bestStart = -1;
  let bestLen = 0;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    if (group(w, g) === 0) {
      if (runStart < 0) runStart = g;
      if (g - runStart + 1 > bestLen) {
        bestStart = runStart;
        bestLen = g - runStart + 1;
      }
    } else {
      runStart = -1;
    }
  }
  if (bestLen < 2) bestStart = -1;
  let text = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += '::';
      g += bestLen - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += group(w, g).toString(16);
  }
  v6Word[4 * i] = w0;
  v6Word[4 * i + 1] = w1;
  v6Word[4 * i + 2] = w2;
  v6Word[4 * i + 3] = w3;
  v6Text[i] = text;
  return text;
}

/** 16-bit group g (0..7) of an address in words. */
function group(w: Uint32Array, g: number): number {
  const word = w[g >> 1]!;
  return g & 1 ? word & 0xffff : word >>> 16;
}

/** The text of recent IPv6 addresses (formatIPv6), direct mapped by address hash: ~200 KB when full. */
const V6_CACHE_MASK = 0xfff;
const v6Word = new Int32Array(4 * (V6_CACHE_MASK + 1));
const v6Text = new Array<string>(V6_CACHE_MASK + 1).fill('');

/** Parse dotted IPv4 or IPv6 text into words; returns the IP version, 0 if not an address. */
export function parseAddr(text: string, out: Uint32Array): number {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    if (b.some((x) => x > 255)) return 0;
    out[0] = 0; out[1] = 0; out[2] = 0xffff;
    out[3] = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    return 4;
  }
  if (!text.includes(':')) return 0;
  const [headText, tailText, extra] = text.split('::');
  if (extra !== undefined) return 0;
  const parse = (s: string | undefined): number[] | null => {
    if (!s) return [];
    const parts = s.split(':');
    const r: number[] = [];
    for (const p of parts) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      r.push(parseInt(p, 16));
    }
    return r;
  };
  const head = parse(headText);
  const tail = parse(tailText);
  if (!head || !tail) return 0;
  const fill = tailText === undefined ? 0 : 8 - head.length - tail.length;
  if (fill < 0 || (tailText === undefined && head.length !== 8)) return 0;
  const g = [...head, ...new Array<number>(fill).fill(0), ...tail];
  for (let i = 0; i < 4; i++) out[i] = ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0;
  return 6;
}
