import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { defaultConfig, loadConfig } from '../../src/config/index.js';
import { REPO_ROOT } from '../helpers/shared.js';

const EXAMPLE = path.join(REPO_ROOT, 'tapaudit.example.yaml');

/** Key paths of plain objects (lists and values are leaves). */
function keyPaths(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
  return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => [`${prefix}${k}`, ...keyPaths(x, `${prefix}${k}.`)]);
}

describe('tapaudit.example.yaml', () => {
  it('loads and equals the defaults (it cannot drift from the code)', () => {
    expect(loadConfig(EXAMPLE)).toEqual(defaultConfig());
  });

  it('spells out every key outside detectors', () => {
    const raw = YAML.parse(fs.readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
    const { detectors: _d, ...rest } = defaultConfig();
    const written = new Set(keyPaths(raw));
    const missing = keyPaths(rest).filter((k) => !written.has(k));
    expect(missing).toEqual([]);
  });

  it('spells out every detector key (reported, not failed: detector authors cannot edit the example)', () => {
    const raw = YAML.parse(fs.readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
    const written = new Set(keyPaths(raw));
    const missing = keyPaths({ detectors: defaultConfig().detectors }).filter((k) => !written.has(k));
    if (missing.length > 0) console.warn(`tapaudit.example.yaml lacks detector keys (add them): ${missing.join(', ')}`);
    expect(written.has('detectors')).toBe(true);
  });
});
