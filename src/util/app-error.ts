/**
 * Base class for every error the daemon raises on purpose: a stable `code`, a human message, an
 * optional cause. Modules raise their own typed subclasses (`FilterError`,
 * `InvalidInfoHashError`, …); only `http/` knows which HTTP status a code becomes
 * (src/http/http-errors.ts).
 */
export class AppError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
