import { AppError } from '../util/app-error.js';

/** Stable codes of the spam list's errors; src/http maps them onto statuses. */
export type SpamErrorCode = 'INVALID_PARAMETER' | 'INVALID_INFOHASH' | 'RATE_LIMITED';

export class SpamError extends AppError {
  declare readonly code: SpamErrorCode;
  /** For RATE_LIMITED: seconds until the caller may try again. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: SpamErrorCode, message: string, options?: { retryAfterSeconds?: number; cause?: unknown }) {
    super(code, message, options);
    this.name = 'SpamError';
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}
