import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/load.js';
import { builtInDefaults } from '../../src/config/defaults.js';
import { openConfig } from '../../src/config/open.js';

describe('built-in defaults (config/defaults.ts)', () => {
  it('are what the schema gives for an empty config; if not, run npm run gen:defaults', () => {
    expect(builtInDefaults()).toEqual(defaultConfig());
  });

  it('are a fresh copy each time: a run that changes its config changes no other', () => {
    const a = builtInDefaults();
    a.flows.maxFlows = 7;
    a.localNetworks.push('198.51.100.0/24');
    a.detectors.scan!.portMinPorts = 3;
    const b = builtInDefaults();
    expect(b).toEqual(defaultConfig());
    expect(b.flows.maxFlows).toBe(1_000_000);
  });

  it('openConfig: the defaults without a path, the validated file with one', async () => {
    expect(await openConfig(undefined)).toEqual(defaultConfig());
    const fromFile = await openConfig('tapaudit.example.yaml');
    const { loadConfig } = await import('../../src/config/load.js');
    expect(fromFile).toEqual(loadConfig('tapaudit.example.yaml'));
    await expect(openConfig('/nonexistent/tapaudit.yaml')).rejects.toThrow(/no such file/);
  });
});
