/**
 * The errors berth shows to people. Every error that crosses the API carries a stable
 * `code` (what scripts match on), a `message` a user can act on and an optional `hint`.
 * The HTTP layer maps codes to statuses the way Docker's API does (404, 409, 400, 500).
 */
export type ErrorCode =
  | 'not_found' // unknown container, network, ...
  | 'conflict' // duplicate name, already running, address in use
  | 'invalid_argument' // bad flag, bad name, bad CIDR
  | 'exhausted' // no free address / subnet left
  | 'kernel' // a kernel operation failed (the plan was rolled back)
  | 'missing_feature' // the kernel or a tool berth needs is absent
  | 'permission' // not root, socket not accessible
  | 'unavailable' // daemon not running
  | 'too_large' // a request body over the API's limit
  | 'internal';

export class BerthError extends Error {
  override readonly name: string = 'BerthError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint };
  }
}

export class NotFoundError extends BerthError {
  override readonly name = 'NotFoundError';
  constructor(message: string, hint?: string) {
    super('not_found', message, hint);
  }
}

export class ConflictError extends BerthError {
  override readonly name = 'ConflictError';
  constructor(message: string, hint?: string) {
    super('conflict', message, hint);
  }
}

export class InvalidArgumentError extends BerthError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, hint?: string) {
    super('invalid_argument', message, hint);
  }
}

export class ExhaustedError extends BerthError {
  override readonly name = 'ExhaustedError';
  constructor(message: string, hint?: string) {
    super('exhausted', message, hint);
  }
}

export class MissingFeatureError extends BerthError {
  override readonly name = 'MissingFeatureError';
  constructor(message: string, hint?: string) {
    super('missing_feature', message, hint);
  }
}

/** A kernel step failed. `command` is the exact line that failed, as `explain` renders it. */
export class KernelError extends BerthError {
  override readonly name = 'KernelError';
  constructor(
    message: string,
    readonly command: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super('kernel', message, undefined, options);
  }
}

export function isBerthError(e: unknown): e is BerthError {
  return e instanceof BerthError;
}

/** Turns anything thrown into a BerthError without losing the original as `cause`. */
export function asBerthError(e: unknown): BerthError {
  if (e instanceof BerthError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new BerthError('internal', message, undefined, { cause: e });
}

/** How much of a bad value an error message quotes: enough to recognise it, never the whole of a huge input. */
const QUOTED_VALUE_MAX = 64;

/** A user's value for an error message, cut to a short prefix (a 50 MB name must not make a 50 MB error). */
export function quotePrefix(value: string): string {
  if (value.length <= QUOTED_VALUE_MAX) return value;
  return `${value.slice(0, QUOTED_VALUE_MAX)}... (${value.length - QUOTED_VALUE_MAX} more characters)`;
}
