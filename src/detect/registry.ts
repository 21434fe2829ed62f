/**
 * Every detector module, in the order they see each flow. Adding a detector is one import
 * line and one entry here; config (src/config/schema.ts) and the runner
 * (src/detect/framework.ts) build everything else from this list.
 */
import type { DetectorModule } from './types.js';
import { scanModule } from './scan.js';
import { p2pModule } from './p2p.js';
import { floodModule } from './flood.js';
import { backdoorModule } from './backdoor.js';
import { icmpUnreachableModule } from './icmp-unreachable.js';
import { icmpNachiModule } from './icmp-nachi.js';
import { policyModule } from './policy.js';
import { imbalanceModule } from './imbalance.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each module has its own config type
export const DETECTOR_MODULES: DetectorModule<any>[] = [
  scanModule,
  p2pModule,
  floodModule,
  backdoorModule,
  icmpUnreachableModule,
  icmpNachiModule,
  policyModule,
  imbalanceModule,
];
