/** Config: schema, defaults, loading (docs/config.md). */
export { loadConfig, defaultConfig, parseConfigText, E_CONFIG } from './load.js';
export {
  DEFAULT_LOCAL_NETWORKS,
  type Config,
  type FlowsConfig,
  type AlertsConfig,
  type OutputsConfig,
  type DetectorSectionConfig,
} from './schema.js';
export { CidrMatcher, parseCidr } from './cidr.js';
