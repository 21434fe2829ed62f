/**
 * Loading tapaudit.yaml: read, parse YAML, validate with zod, and turn the first problem
 * into ONE line that names the file, the key path and what is allowed:
 *
 *   tapaudit.yaml: detectors.scan.portMinPorts: expected a positive integer, got "ten"
 *   tapaudit.yaml: unknown key "detectrs" (allowed: localNetworks, flows, alerts, outputs, detectors)
 *   tapaudit.yaml:3:7: YAML syntax error: ...
 */
import fs from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { DETECTOR_MODULES } from '../detect/registry.js';
import type { DetectorModule } from '../detect/types.js';
import { UserError } from '../util/errors.js';
import { buildConfigSchema, type Config } from './schema.js';

export const E_CONFIG = 'E_CONFIG';

function configError(message: string): UserError {
  return new UserError(E_CONFIG, message, 2);
}

/** Every default: what a run without --config uses. */
export function defaultConfig(modules: readonly DetectorModule<unknown>[] = DETECTOR_MODULES): Config {
  return validate({}, '(defaults)', modules);
}

/**
 * Load and validate a config file; no path = all defaults. Throws UserError E_CONFIG
 * (exit code 2) with one line on any problem.
 */
export function loadConfig(path?: string, modules: readonly DetectorModule<unknown>[] = DETECTOR_MODULES): Config {
  if (path === undefined) return defaultConfig(modules);
  let text: string;
  try {
    if (fs.statSync(path).isDirectory()) {
      throw configError(`${path}: is a directory; give the path of a YAML config file (--config FILE)`);
    }
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file; check the --config path'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied; make it readable by the user tapaudit runs as'
      : code === 'EISDIR' ? 'is a directory; give the path of a YAML config file'
      : `cannot read it (${code ?? String(e)})`;
    throw configError(`${path}: ${why}`);
  }
  return parseConfigText(text, path, modules);
}

/** Parse YAML text as a config (the file name is used in messages only). */
export function parseConfigText(text: string, fileName: string, modules: readonly DetectorModule<unknown>[] = DETECTOR_MODULES): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lineCounter.linePos(e.pos[0]);
    const where = pos ? `${fileName}:${pos.line}:${pos.col}` : fileName;
    const first = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw configError(`${where}: YAML syntax error: ${first}`);
  }
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw configError(`${fileName}: expected a mapping of keys (localNetworks, flows, alerts, outputs, detectors) at the top level, got ${describeValue(data)}`);
  }
  return validate(data, fileName, modules);
}

function validate(data: unknown, fileName: string, modules: readonly DetectorModule<unknown>[]): Config {
  const schema = buildConfigSchema(modules);
  const r = schema.safeParse(data, { reportInput: true, error: errorMap });
  if (r.success) return r.data as Config;
  throw configError(`${fileName}: ${formatIssues(r.error.issues)}`);
}

/** The first problem as "path: message"; unknown keys first (a typo explains the rest). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  const sorted = [...issues].sort((a, b) => {
    const ua = a.code === 'unrecognized_keys' ? 0 : 1;
    const ub = b.code === 'unrecognized_keys' ? 0 : 1;
    return ua - ub || (ua === 0 ? a.path.length - b.path.length : 0);
  });
  const iss = sorted[0]!;
  let message = iss.message;
  let path = iss.path;
  if (iss.code === 'invalid_key') {
    message = `bad key ${describeValue(iss.input)}: ${iss.issues[0]?.message ?? 'not allowed'}`;
    path = path.slice(0, -1);
  } else if (iss.code !== 'unrecognized_keys' && !message.includes(', got ')) {
    const input = (iss as { input?: unknown }).input;
    message += input === undefined ? ' (missing)' : `, got ${describeValue(input)}`;
  }
  const where = formatPath(path);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return `${where ? `${where}: ` : ''}${message}${more}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_$][\w$-]*$/.test(seg)) s += s ? `.${seg}` : seg;
    else s += `[${JSON.stringify(String(seg))}]`;
  }
  return s;
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number', int: 'an integer', string: 'a string', boolean: 'true or false',
  array: 'a list', object: 'a mapping', record: 'a mapping', null: 'null',
};

/**
 * Messages for the issues a schema gave no message of its own (detector modules using
 * plain zod types). Schema-level messages (config/fields.ts) take precedence.
 */
function errorMap(iss: z.core.$ZodRawIssue): string | undefined {
  const numberWords = numberSchemaWords(iss.inst);
  switch (iss.code) {
    case 'invalid_type':
      if (iss.expected === 'number' && numberWords) return `expected ${numberWords}`;
      return `expected ${TYPE_WORDS[iss.expected] ?? iss.expected}`;
    case 'too_small': {
      if (iss.origin === 'number' && numberWords) return `expected ${numberWords}`;
      const min = String(iss.minimum);
      if (iss.origin === 'array' || iss.origin === 'set') return `expected at least ${min} item(s)`;
      if (iss.origin === 'string') return `expected at least ${min} character(s)`;
      return `expected a number ${iss.inclusive ? '>=' : '>'} ${min}`;
    }
    case 'too_big': {
      if (iss.origin === 'number' && numberWords) return `expected ${numberWords}`;
      const max = String(iss.maximum);
      if (iss.origin === 'array' || iss.origin === 'set') return `expected at most ${max} item(s)`;
      if (iss.origin === 'string') return `expected at most ${max} character(s)`;
      return `expected a number ${iss.inclusive ? '<=' : '<'} ${max}`;
    }
    case 'invalid_value':
      return `expected one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys': {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      const allowed = shape ? Object.keys(shape).join(', ') : '';
      const keys = iss.keys.map((k) => JSON.stringify(k)).join(', ');
      return `unknown key${iss.keys.length > 1 ? 's' : ''} ${keys}${allowed ? ` (allowed: ${allowed})` : ''}`;
    }
    case 'not_multiple_of':
      return `expected a multiple of ${String(iss.divisor)}`;
    default:
      return undefined;
  }
}

interface NumberCheckDef { check?: string; format?: string; value?: unknown; inclusive?: boolean }

/**
 * What a plain zod number schema accepts, in words ("a positive integer", "an integer
 * >= 2", "a number from 0 to 1"), read from its checks so detector schemas written with
 * z.number().int().min(2) report as well as the config/fields.ts helpers.
 */
function numberSchemaWords(inst: unknown): string | undefined {
  const def = (inst as { _zod?: { def?: { type?: string; checks?: { _zod: { def: NumberCheckDef } }[] } } } | undefined)?._zod?.def;
  if (!def || def.type !== 'number') return undefined;
  let integer = false;
  let min: number | undefined;
  let minInclusive = true;
  let max: number | undefined;
  let maxInclusive = true;
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    if (d.check === 'number_format' && (d.format === 'safeint' || d.format?.startsWith('int'))) integer = true;
    else if (d.check === 'greater_than' && typeof d.value === 'number') { min = d.value; minInclusive = d.inclusive === true; }
    else if (d.check === 'less_than' && typeof d.value === 'number') { max = d.value; maxInclusive = d.inclusive === true; }
  }
  const noun = integer ? 'integer' : 'number';
  const article = integer ? 'an' : 'a';
  if (integer && max === undefined && min !== undefined && ((min === 1 && minInclusive) || (min === 0 && !minInclusive))) return 'a positive integer';
  if (min !== undefined && max !== undefined && minInclusive && maxInclusive) return `${article} ${noun} from ${min} to ${max}`;
  const parts: string[] = [];
  if (min !== undefined) parts.push(`${minInclusive ? '>=' : '>'} ${min}`);
  if (max !== undefined) parts.push(`${maxInclusive ? '<=' : '<'} ${max}`);
  return `${article} ${noun}${parts.length ? ` ${parts.join(' and ')}` : ''}`;
}
