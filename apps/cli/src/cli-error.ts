/**
 * An expected failure (bad option, unreadable file, no backend): printed as one line without a stack trace and
 * ended with `status`. Anything else that escapes is a bug, reported as such.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status = 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
