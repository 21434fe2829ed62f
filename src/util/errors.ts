/**
 * User errors: a mistake the operator can fix (missing file, bad config key, unknown
 * interface, no libpcap). Printed as one line without a stack trace, with a stable code,
 * and the process exits non-zero. Anything else that escapes is a bug and keeps its stack.
 */
export class UserError extends Error {
  readonly code: string;
  /** Process exit code; 2 = usage/config, 3 = input not readable as a capture, 4 = output failure. */
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = 2) {
    super(message);
    this.name = 'UserError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

export const EXIT_USAGE = 2;
export const EXIT_BAD_INPUT = 3;
export const EXIT_OUTPUT = 4;

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
