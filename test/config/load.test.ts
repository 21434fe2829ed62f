import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defaultConfig, loadConfig, parseConfigText } from '../../src/config/index.js';
import { positiveInt, seconds, serverZones } from '../../src/config/fields.js';
import type { DetectorModule } from '../../src/detect/types.js';
import { UserError } from '../../src/util/errors.js';

// Fake modules so these tests do not depend on what the detector engineers ship.
const scanLike: DetectorModule<{ portMinPorts: number; windowSeconds: number }> = {
  id: 'scan',
  rules: ['scan.port'],
  schema: () => z.strictObject({ portMinPorts: positiveInt(15), windowSeconds: seconds(300) }),
  create: () => ({ onFlowEnd() {} }),
};
const policyLike: DetectorModule<{ serverZones: Record<string, number[]> }> = {
  id: 'policy',
  rules: ['policy.server-port'],
  schema: () => z.strictObject({ serverZones: serverZones() }),
  create: () => ({ onFlowEnd() {} }),
};
const MODULES = [scanLike, policyLike] as DetectorModule<unknown>[];

function errorOf(text: string): UserError {
  try {
    parseConfigText(text, 'tapaudit.yaml', MODULES);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error(`expected an error for: ${text}`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('defaults', () => {
  it('fills every section with SPEC §3 defaults', () => {
    const c = defaultConfig(MODULES);
    expect(c.flows).toEqual({
      maxFlows: 1_000_000, vlanInKey: true, tcpIdleSeconds: 300, tcpEmbryonicSeconds: 30,
      udpIdleSeconds: 60, icmpIdleSeconds: 60, otherIdleSeconds: 60, closedGraceSeconds: 5, activeSeconds: 1800,
    });
    expect(c.localNetworks).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']);
    expect(c.alerts.suppressSeconds).toBe(300);
    expect(c.outputs).toEqual({ alerts: null, flows: null, flowsFormat: 'json', stats: null, statsIntervalSeconds: 60, metricsListen: null, ipfix: null });
    expect(c.detectors.scan).toEqual({ portMinPorts: 15, windowSeconds: 300, enabled: true, allowSources: [] });
    expect(c.detectors.policy).toEqual({ serverZones: {}, enabled: true, allowSources: [] });
  });

  it('an empty file and no path both mean all defaults', () => {
    expect(parseConfigText('', 'x.yaml', MODULES)).toEqual(defaultConfig(MODULES));
    expect(parseConfigText('# only a comment\n', 'x.yaml', MODULES)).toEqual(defaultConfig(MODULES));
    expect(loadConfig(undefined, MODULES)).toEqual(defaultConfig(MODULES));
  });

  it('a partial section keeps the other defaults', () => {
    const c = parseConfigText('detectors:\n  scan:\n    portMinPorts: 10\n    enabled: false\nflows:\n  udpIdleSeconds: 30\n', 'x.yaml', MODULES);
    expect(c.detectors.scan).toMatchObject({ portMinPorts: 10, windowSeconds: 300, enabled: false });
    expect(c.flows.udpIdleSeconds).toBe(30);
    expect(c.flows.tcpIdleSeconds).toBe(300);
  });

  it('accepts server zones, IPv6 networks and allowSources', () => {
    const c = parseConfigText(
      [
        'localNetworks: ["10.1.0.0/16", "2001:db8::/32"]',
        'detectors:',
        '  policy:',
        '    serverZones: {"10.1.0.25": [25, 587], "2001:db8::25": [443]}',
        '    allowSources: [192.0.2.7, 198.51.100.0/24]',
      ].join('\n'),
      'x.yaml', MODULES,
    );
    expect(c.localNetworks).toEqual(['10.1.0.0/16', '2001:db8::/32']);
    expect(c.detectors.policy!.serverZones).toEqual({ '10.1.0.25': [25, 587], '2001:db8::25': [443] });
    expect(c.detectors.policy!.allowSources).toEqual(['192.0.2.7', '198.51.100.0/24']);
  });
});

describe('errors: one line naming file, key path and what is allowed', () => {
  it('bad value type', () => {
    const e = errorOf('detectors:\n  scan:\n    portMinPorts: ten\n');
    expect(e.message).toBe('tapaudit.yaml: detectors.scan.portMinPorts: expected a positive integer, got "ten"');
    expect(e.code).toBe('E_CONFIG');
    expect(e.exitCode).toBe(2);
  });

  it('out of range values', () => {
    expect(errorOf('detectors:\n  scan:\n    portMinPorts: 0\n').message).toBe('tapaudit.yaml: detectors.scan.portMinPorts: expected a positive integer, got 0');
    expect(errorOf('flows:\n  tcpIdleSeconds: -1\n').message).toBe('tapaudit.yaml: flows.tcpIdleSeconds: expected a number of seconds > 0, got -1');
    expect(errorOf('outputs:\n  flowsFormat: csv\n').message).toBe('tapaudit.yaml: outputs.flowsFormat: expected one of "json", "ipaudit", got "csv"');
    expect(errorOf('flows:\n  vlanInKey: maybe\n').message).toBe('tapaudit.yaml: flows.vlanInKey: expected true or false, got "maybe"');
  });

  it('unknown keys at every level, with the allowed ones', () => {
    expect(errorOf('detectrs: {}\n').message).toBe('tapaudit.yaml: unknown key "detectrs" (allowed: localNetworks, flows, alerts, outputs, detectors)');
    expect(errorOf('flows:\n  maxFlow: 10\n').message).toMatch(/^tapaudit\.yaml: flows: unknown key "maxFlow" \(allowed: maxFlows, vlanInKey, /);
    expect(errorOf('detectors:\n  nosuch: {}\n').message).toBe('tapaudit.yaml: detectors: unknown key "nosuch" (allowed: scan, policy)');
    expect(errorOf('detectors:\n  scan:\n    minPorts: 3\n').message).toMatch(/^tapaudit\.yaml: detectors\.scan: unknown key "minPorts" \(allowed: portMinPorts, windowSeconds, enabled, allowSources\)$/);
  });

  it('bad CIDRs, IPs and ports', () => {
    expect(errorOf('localNetworks: ["10.0.0.0/33"]\n').message).toMatch(/^tapaudit\.yaml: localNetworks\[0\]: expected a CIDR .*, got "10.0.0.0\/33"$/);
    expect(errorOf('localNetworks: 10.0.0.0/8\n').message).toBe('tapaudit.yaml: localNetworks: expected a list of CIDRs, got "10.0.0.0/8"');
    expect(errorOf('detectors:\n  scan:\n    allowSources: [10.1]\n').message).toMatch(/detectors\.scan\.allowSources\[0\]: expected a CIDR/);
    expect(errorOf('detectors:\n  policy:\n    serverZones: {"10.1.0.25": [70000]}\n').message).toBe(
      'tapaudit.yaml: detectors.policy.serverZones["10.1.0.25"][0]: expected a port number 0-65535, got 70000',
    );
    expect(errorOf('detectors:\n  policy:\n    serverZones: {"mail": [25]}\n').message).toMatch(
      /^tapaudit\.yaml: detectors\.policy\.serverZones: bad key "mail": expected an IP address/,
    );
  });

  it('plain zod number schemas in detector modules read as well', () => {
    const plain = {
      id: 'plain', rules: ['scan.port'], create: () => ({ onFlowEnd() {} }),
      schema: () => z.strictObject({ minHosts: z.number().int().min(2).default(25), share: z.number().min(0).max(1).default(0.5) }),
    } as DetectorModule<unknown>;
    const err = (t: string) => { try { parseConfigText(t, 'p.yaml', [plain]); } catch (e) { return (e as Error).message; } return ''; };
    expect(err('detectors:\n  plain:\n    minHosts: ten\n')).toBe('p.yaml: detectors.plain.minHosts: expected an integer >= 2, got "ten"');
    expect(err('detectors:\n  plain:\n    share: no\n')).toBe('p.yaml: detectors.plain.share: expected a number from 0 to 1, got "no"');
    expect(err('detectors:\n  plain:\n    share: 2\n')).toBe('p.yaml: detectors.plain.share: expected a number <= 1, got 2');
  });

  it('several problems: the first one and a count', () => {
    expect(errorOf('flows:\n  tcpIdleSeconds: x\n  udpIdleSeconds: y\n').message).toBe(
      'tapaudit.yaml: flows.tcpIdleSeconds: expected a number of seconds > 0, got "x" (and 1 more problem)',
    );
  });

  it('YAML syntax error with a line number', () => {
    const e = errorOf('flows:\n  tcpIdleSeconds: 3\n bad: [1, 2\n');
    expect(e.message).toMatch(/^tapaudit\.yaml:\d+:\d+: YAML syntax error: /);
    expect(e.message).not.toContain('\n');
    expect(errorOf('flows: {a: 1, a: 2}\n').message).toMatch(/^tapaudit\.yaml:1:\d+: YAML syntax error: .*unique/i);
  });

  it('top level must be a mapping', () => {
    expect(errorOf('- 1\n- 2\n').message).toMatch(/^tapaudit\.yaml: expected a mapping .* got a list$/);
  });

  it('unreadable file, missing file, directory', () => {
    const missing = path.join(tmp, 'nope.yaml');
    expect(() => loadConfig(missing, MODULES)).toThrow(`${missing}: no such file; check the --config path`);
    expect(() => loadConfig(tmp, MODULES)).toThrow(/is a directory/);
    if (process.getuid?.() !== 0) {
      const locked = path.join(tmp, 'locked.yaml');
      fs.writeFileSync(locked, 'flows: {}\n', { mode: 0o000 });
      expect(() => loadConfig(locked, MODULES)).toThrow(/permission denied/);
    }
    const good = path.join(tmp, 'good.yaml');
    fs.writeFileSync(good, 'alerts:\n  suppressSeconds: 60\n');
    expect(loadConfig(good, MODULES).alerts.suppressSeconds).toBe(60);
  });
});
