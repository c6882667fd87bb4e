import { AppError } from '../util/app-error.js';

/**
 * The BTN domain's errors. Only src/http/http-errors.ts maps a code onto a status; BTN
 * clients never get a 401 (PeerBanHelper retries a 401 about twenty times, spec §1.2).
 */
export type BtnErrorCode =
  | 'BTN_NO_CREDENTIALS'
  | 'BTN_APP_NOT_FOUND'
  | 'BTN_APP_BANNED'
  | 'BTN_BODY_TOO_LARGE'
  | 'BTN_BAD_BODY'
  | 'BTN_BAD_PARAMETER'
  | 'BTN_PAGE_TOO_LARGE'
  | 'BTN_LOGIN_REQUIRED'
  | 'BTN_FORBIDDEN'
  | 'BTN_NOT_FOUND'
  | 'BTN_APP_LIMIT'
  | 'BTN_POW_FAILED'
  | 'BTN_LOGIN_FAILED'
  | 'BTN_TOO_MANY_LOGINS';

export class BtnError extends AppError {
  declare readonly code: BtnErrorCode;

  constructor(code: BtnErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'BtnError';
  }
}
