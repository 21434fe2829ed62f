/**
 * Human names of the rule ids (ECS rule.name), one table so the alert log and the alerts
 * command agree. The ids themselves are the contract in types.ts (SPEC §4).
 */
import type { RuleId, Severity } from './types.js';

export const RULE_NAMES: Record<RuleId, string> = {
  'scan.address': 'Address scan',
  'scan.port': 'Port scan',
  'scan.random': 'Random scan',
  'backdoor.port': 'Backdoor port',
  'icmp.unreachable': 'ICMP unreachables',
  'icmp.nachi': 'Nachi ICMP sweep',
  'policy.server-port': 'Server port policy',
  'traffic.imbalance': 'Traffic imbalance',
  'flood.spoofed-source': 'Spoofed-source flood',
  'p2p.activity': 'P2P activity',
};

/** event.severity -> the word an operator reads (ECS severity 1..4). */
export const SEVERITY_WORDS: Record<Severity, string> = { 1: 'info', 2: 'low', 3: 'high', 4: 'crit' };

/**
 * event.severity -> log.level. Info findings (P2P) are "info"; low and high ones "warn";
 * critical (data on a backdoor port, a protected server serving out of policy) "error",
 * so a plain `jq 'select(."log.level"=="error")'` finds what needs action now.
 */
export const SEVERITY_LOG_LEVELS: Record<Severity, 'info' | 'warn' | 'error'> = { 1: 'info', 2: 'warn', 3: 'warn', 4: 'error' };
