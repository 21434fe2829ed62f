/** Shared argument parsing: node:util parseArgs with errors turned into one-line UserErrors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../util/errors.js';

export function parseCommandArgs<T extends ParseArgsConfig>(command: string, config: T) {
  try {
    return parseArgs({ ...config, strict: true });
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
    throw new UserError('E_USAGE', `${command}: ${msg}; see 'tapaudit ${command} --help'`);
  }
}

export function positiveIntOption(command: string, name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new UserError('E_USAGE', `${command}: --${name} must be a positive integer, got "${text}"`);
  }
  return n;
}
