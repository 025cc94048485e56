const MARKER = Symbol.for('expgen.error');

/**
 * An error the user can act on: its message is one line that says what happened, where (file, key, feature,
 * plugin) and what to do. The CLI prints it without a stack trace and exits non-zero. Recognised by a
 * `Symbol.for` marker rather than `instanceof`, so checks work across duplicated installs of @expgen/core.
 */
export class ExpgenError extends Error {
  readonly [MARKER] = true;
  /** Process exit code the CLI uses for it. */
  readonly exitCode: number;

  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ExpgenError';
    this.exitCode = options.exitCode ?? 2;
  }
}

export function isExpgenError(error: unknown): error is ExpgenError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
}

/** Thrown by commands whose stage a later release implements; never pretends to do the work. */
export class NotAvailableError extends ExpgenError {
  constructor(what: string) {
    super(`${what} is not available yet in this version of expgen`, { exitCode: 3 });
    this.name = 'NotAvailableError';
  }
}

/** Stamps an error from a plugin with the plugin's name and the operation, keeping the original as the cause. */
export function pluginError(plugin: string, operation: string, error: unknown): ExpgenError {
  const message = error instanceof Error ? error.message : String(error);
  if (isExpgenError(error) && message.startsWith(`plugin "${plugin}"`)) return error;
  return new ExpgenError(`plugin "${plugin}" failed in ${operation}: ${message}`, { cause: error });
}
