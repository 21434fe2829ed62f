/**
 * Zod building blocks for config values, with the messages an operator reads
 * ("expected a positive integer"). Detector modules use them in their own schemas so
 * every section of tapaudit.yaml reports mistakes the same way:
 *
 *   schema: ({ z, positiveInt, seconds }) => z.strictObject({ minHosts: positiveInt(25), windowSeconds: seconds(300) })
 *
 * Use z.strictObject (unknown keys are errors) and give every field a default, so an
 * absent section means "all defaults". For a nested object use `.prefault({})`.
 *
 * Detector modules get this module as a `SchemaKit` (zod's `z` included) when the config
 * loader builds their schema: they import it as a type only, so running a detector
 * (a flow-end worker, a replay without --config) never loads zod. Its evaluation and the
 * schemas' construction were ~25-30 ms of every process's start-up (bench/RESULTS.md).
 */
import { z } from 'zod';
import { isCidr, parseCidr } from './cidr.js';

export { z };

/** What a detector module's `schema` function receives: this module. */
export type SchemaKit = typeof import('./fields.js');

/** An integer >= 1, e.g. a count threshold or a table size. */
export function positiveInt(dflt: number) {
  return z
    .number({ error: 'expected a positive integer' })
    .int({ error: 'expected a positive integer' })
    .min(1, { error: 'expected a positive integer' })
    .default(dflt);
}

/** An integer >= 0. */
export function nonNegativeInt(dflt: number) {
  return z
    .number({ error: 'expected an integer >= 0' })
    .int({ error: 'expected an integer >= 0' })
    .min(0, { error: 'expected an integer >= 0' })
    .default(dflt);
}

/** A duration in seconds, > 0 (fractions allowed). */
export function seconds(dflt: number) {
  return z
    .number({ error: 'expected a number of seconds > 0' })
    .positive({ error: 'expected a number of seconds > 0' })
    .finite({ error: 'expected a number of seconds > 0' })
    .default(dflt);
}

/** A ratio/fraction in [0, 1]. */
export function fraction(dflt: number) {
  return z
    .number({ error: 'expected a number between 0 and 1' })
    .min(0, { error: 'expected a number between 0 and 1' })
    .max(1, { error: 'expected a number between 0 and 1' })
    .default(dflt);
}

export const port = z
  .number({ error: 'expected a port number 0-65535' })
  .int({ error: 'expected a port number 0-65535' })
  .min(0, { error: 'expected a port number 0-65535' })
  .max(65535, { error: 'expected a port number 0-65535' });

export function portList(dflt: number[]) {
  return z.array(port, { error: 'expected a list of port numbers' }).default(dflt);
}

/** "10.0.0.0/8", "2001:db8::/32" or a bare address. */
export const cidr = z.string({ error: 'expected a CIDR such as "10.0.0.0/8" or "2001:db8::/32"' }).refine(isCidr, {
  error: 'expected a CIDR such as "10.0.0.0/8" or "2001:db8::/32"',
});

export function cidrList(dflt: string[]) {
  return z.array(cidr, { error: 'expected a list of CIDRs' }).default(dflt);
}

/** One IPv4 or IPv6 address (no prefix). */
export const ipAddress = z.string({ error: 'expected an IP address' }).refine((s) => {
  const c = parseCidr(s);
  return c !== null && !s.includes('/');
}, { error: 'expected an IP address such as "10.1.0.25" or "2001:db8::25"' });

/**
 * Server zones for policy.server-port: protected server IP -> ports it may serve on.
 * `{ "10.1.0.25": [25, 587] }` (quote the IP in YAML or it is still a string key; both work).
 */
export function serverZones(dflt: Record<string, number[]> = {}) {
  return z
    .record(ipAddress, z.array(port, { error: 'expected a list of port numbers' }), {
      error: 'expected a mapping of IP address -> list of ports',
    })
    .default(dflt);
}

/** A config list of ports: numbers or "low-high" ranges (detect/ports.ts portTable). */
export const portRangeList = z.array(
  z.union([
    z.number().int().min(0).max(65535),
    z
      .string()
      .regex(/^\d{1,5}-\d{1,5}$/, 'a port range is written "low-high", e.g. "6881-6889"')
      // "9-1" or "60000-70000" would otherwise match nothing or be cut silently.
      .refine((r) => {
        const [lo, hi] = r.split('-').map(Number) as [number, number];
        return lo <= hi && hi <= 65535;
      }, 'a port range is "low-high" with low <= high <= 65535, e.g. "6881-6889"'),
  ]),
);
