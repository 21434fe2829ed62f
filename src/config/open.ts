/**
 * The config of a command: the built-in defaults without --config, else the file, loaded
 * and validated by config/load.ts. That module (zod, yaml, every detector's schema) is
 * imported only when there is a file, so a run without one never loads zod.
 */
import { builtInDefaults } from './defaults.js';
import type { Config } from './schema.js';

export async function openConfig(path: string | undefined): Promise<Config> {
  if (path === undefined) return builtInDefaults();
  const { loadConfig } = await import('./load.js');
  return loadConfig(path);
}
