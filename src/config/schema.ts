/**
 * The shape of tapaudit.yaml. Every object is strict (an unknown key is an error that
 * names it), every value has a default, and the `detectors` section is built from the
 * registry: each module validates its own section with its own schema, plus the two keys
 * the framework handles for every module (`enabled`, `allowSources`).
 */
import { z } from 'zod';
import type { DetectorModule } from '../detect/types.js';
import { parseIpfixTarget } from '../output/ipfix.js';
import * as kit from './fields.js';
import { cidrList, nonNegativeInt, positiveInt, seconds } from './fields.js';

/**
 * Default local networks: RFC 1918 (IPv4 private), RFC 6598 is deliberately left out
 * (carrier-grade NAT space is the ISP's, not the site's), and RFC 4193 unique local
 * IPv6 (fc00::/7). IPAudit asks the operator for the local network; these defaults make
 * the demo capture and most lab networks work without a config file.
 */
export const DEFAULT_LOCAL_NETWORKS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'];

const bool = (dflt: boolean) => z.boolean({ error: 'expected true or false' }).default(dflt);

/** Flow table settings (SPEC §3 defaults); the flow table takes exactly these keys. */
export const flowsSchema = z.strictObject({
  /** Hard maximum of concurrent flows; when full the LRU flow leaves with reason `capacity`. */
  maxFlows: positiveInt(1_000_000),
  /** Whether the VLAN ids are part of the flow key. */
  vlanInKey: bool(true),
  /** Idle timeouts (SPEC §3; the same figures as softflowd's and YAF's defaults). */
  tcpIdleSeconds: seconds(300),
  /** A TCP flow that never got past the SYN (S0) leaves sooner. */
  tcpEmbryonicSeconds: seconds(30),
  udpIdleSeconds: seconds(60),
  icmpIdleSeconds: seconds(60),
  otherIdleSeconds: seconds(60),
  /** After FIN/RST, how long to wait for the last ACK before the record leaves. */
  closedGraceSeconds: seconds(5),
  /** Long flows are cut into records of this length (IPAudit periods, YAF active timeout). */
  activeSeconds: seconds(1800),
});
export type FlowsConfig = z.output<typeof flowsSchema>;

export const alertsSchema = z.strictObject({
  /**
   * Same rule + source (+ the detector's suppress key) within this many seconds of packet
   * time is counted, not repeated, and written as one summary when the window closes.
   * 300 s = the usual 5-minute scan window (Zeek scan.zeek), so one scan gives one alert
   * and at most one summary per window. 0 turns suppression off.
   */
  suppressSeconds: z
    .number({ error: 'expected a number of seconds >= 0' })
    .min(0, { error: 'expected a number of seconds >= 0' })
    .finite({ error: 'expected a number of seconds >= 0' })
    .default(300),
  /** Bound on suppression state (one entry per rule+source+key). When full, the oldest
   * entry is closed early: its summary is written, nothing is lost. */
  maxSuppressionEntries: positiveInt(100_000),
});
export type AlertsConfig = z.output<typeof alertsSchema>;

const outputPath = z
  .string({ error: 'expected a file path, "-" for stdout, or null' })
  .min(1, { error: 'expected a file path, "-" for stdout, or null' })
  .nullable()
  .default(null);

/** IPFIX export of finished flows (docs/ipfix.md); `--ipfix HOST:PORT` wins over `collector`. */
export const ipfixOutputSchema = z.strictObject({
  /** "host:port" of the collector (nfcapd, ...), e.g. "127.0.0.1:4739" or "[::1]:4739". */
  collector: z.string({ error: 'expected "host:port", e.g. "127.0.0.1:4739"' }).refine(
    (t) => {
      try {
        parseIpfixTarget(t);
        return true;
      } catch {
        return false;
      }
    },
    { error: 'expected "host:port", e.g. "127.0.0.1:4739" or "[::1]:4739"' },
  ),
  /** RFC 7011 observation domain id in every message header. */
  observationDomainId: nonNegativeInt(1).refine((n) => n <= 0xffffffff, { error: 'expected an integer 0..4294967295' }),
  /** Templates are resent every this many messages and every this many seconds (RFC 7011 §8.4, UDP). */
  templateRefreshMessages: positiveInt(20),
  templateRefreshSeconds: seconds(600),
  /** Send pacing (UDP has no flow control); 0 = as fast as the socket takes them. */
  messagesPerSecond: nonNegativeInt(20_000),
});
export type IpfixOutputConfig = z.output<typeof ipfixOutputSchema>;

/** Where things are written; the command-line flags (--alerts, --flows, ...) win. */
export const outputsSchema = z.strictObject({
  alerts: outputPath,
  flows: outputPath,
  flowsFormat: z.enum(['json', 'ipaudit']).default('json'),
  stats: outputPath,
  statsIntervalSeconds: seconds(60),
  ipfix: ipfixOutputSchema.nullable().default(null),
  /**
   * Live: serve Prometheus metrics (the stats line's numbers) on "host:port", e.g.
   * "127.0.0.1:9900". null = off.
   */
  metricsListen: z
    .string({ error: 'expected "host:port" or null' })
    .regex(/^(?:\[[^\]]+\]|[^:]*):\d{1,5}$/, { error: 'expected "host:port", e.g. "127.0.0.1:9900", or null' })
    .nullable()
    .default(null),
});
export type OutputsConfig = z.output<typeof outputsSchema>;

/** Keys the framework adds to every detector section. */
export const commonDetectorShape = {
  enabled: bool(true),
  /** Alerts whose source.ip is in these CIDRs are dropped (docs/config.md). */
  allowSources: cidrList([]),
};

/** A detector's section after validation: its module's config plus the common keys. */
export type DetectorSectionConfig = { enabled: boolean; allowSources: string[] } & Record<string, unknown>;

/**
 * A module's section schema: its own (strict) object plus `enabled`/`allowSources`,
 * defaulting to {} so a missing section is all defaults.
 */
export function detectorSectionSchema(m: DetectorModule<unknown>) {
  const schema = moduleSchema(m);
  if (!(schema instanceof z.ZodObject)) {
    // A programming error in the module, not a user mistake.
    throw new Error(`detector module "${m.id}": schema must be a z.strictObject({...}) so the framework can add enabled/allowSources`);
  }
  return (schema as z.ZodObject).extend(commonDetectorShape).strict().prefault({});
}

const moduleSchemas = new WeakMap<DetectorModule<unknown>, z.ZodType>();

/** A module's own schema, built once from the kit (config/fields.ts). */
export function moduleSchema<C>(m: DetectorModule<C>): z.ZodType<C> {
  let schema = moduleSchemas.get(m as DetectorModule<unknown>);
  if (schema === undefined) {
    schema = m.schema(kit);
    moduleSchemas.set(m as DetectorModule<unknown>, schema);
  }
  return schema as z.ZodType<C>;
}

export function buildConfigSchema(modules: readonly DetectorModule<unknown>[]) {
  const detectorShape: Record<string, z.ZodType> = {};
  for (const m of modules) {
    if (detectorShape[m.id]) throw new Error(`two detector modules share the id "${m.id}"`);
    detectorShape[m.id] = detectorSectionSchema(m);
  }
  return z.strictObject({
    localNetworks: cidrList([...DEFAULT_LOCAL_NETWORKS]),
    flows: flowsSchema.prefault({}),
    alerts: alertsSchema.prefault({}),
    outputs: outputsSchema.prefault({}),
    detectors: z.strictObject(detectorShape).prefault({}),
  });
}

export interface Config {
  localNetworks: string[];
  flows: FlowsConfig;
  alerts: AlertsConfig;
  outputs: OutputsConfig;
  /** module id -> its validated section. Every registered module has an entry. */
  detectors: Record<string, DetectorSectionConfig>;
}
