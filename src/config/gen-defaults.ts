/**
 * Writes src/config/defaults.ts: every default of the config schema as a literal, so a
 * run without --config starts without zod (see defaults.ts). `npm run gen:defaults` after
 * changing a default; test/config/defaults.test.ts fails until then.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from './load.js';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'config', 'defaults.ts');
const text = `/**
 * Every default of the config schema (config/schema.ts and each detector's section), as
 * \`npm run gen:defaults\` wrote it from the schema: a run without --config takes these
 * instead of validating {} with zod, whose loading and schema building were ~30 ms of
 * start-up. test/config/defaults.test.ts checks them against the schema. Do not edit.
 */
import type { Config } from './schema.js';

const DEFAULTS: Config = ${JSON.stringify(defaultConfig(), null, 2)};

/** A fresh copy of every default (callers may change it, e.g. --max-flows). */
export function builtInDefaults(): Config {
  return structuredClone(DEFAULTS);
}
`;
fs.writeFileSync(out, text);
console.log(`wrote ${out}`);
