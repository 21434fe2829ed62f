import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lazyModule } from '../../src/util/lazy-module.js';

function tmpFile(name: string, text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tapaudit-lazy-')), name);
  fs.writeFileSync(file, text);
  return file;
}

describe('lazyModule', () => {
  it('loads on the first call only, and the same module every time', () => {
    const file = tmpFile('count.cjs', 'globalThis.__lazyLoads = (globalThis.__lazyLoads ?? 0) + 1; module.exports = { n: 1 };');
    const get = lazyModule<{ n: number }>(file);
    expect((globalThis as { __lazyLoads?: number }).__lazyLoads).toBeUndefined();
    const a = get();
    expect(get()).toBe(a);
    expect((globalThis as { __lazyLoads?: number }).__lazyLoads).toBe(1);
  });

  it('prefers the single-file build when there is one', () => {
    const bundled = tmpFile('bundled.cjs', "module.exports = { from: 'bundled' };");
    expect(lazyModule<{ from: string }>('node:os', { bundled })().from).toBe('bundled');
  });

  it('falls back to the package without the build (the sources, as the tests run them)', () => {
    const missing = path.join(os.tmpdir(), 'tapaudit-no-such-dir', 'pino.cjs');
    expect(lazyModule<typeof os>('node:os', { bundled: missing })().EOL).toBe(os.EOL);
  });

  it('does not hide a broken build behind the package', () => {
    const broken = tmpFile('broken.cjs', 'module.exports = {');
    expect(() => lazyModule('node:os', { bundled: broken })()).toThrow(SyntaxError);
    const needsMissing = tmpFile('needs.cjs', "module.exports = require('./no-such-dependency.cjs');");
    expect(() => lazyModule('node:os', { bundled: needsMissing })()).toThrow(/no-such-dependency/);
  });
});
