import { AppError } from '../../util/app-error.js';

export type DashboardErrorCode = 'API_KEY_UNKNOWN' | 'ACCESS_FORBIDDEN' | 'INVALID_PARAMETER' | 'NOT_FOUND';

/** A dashboard request refused (the codes are the API's own: http/http-errors.ts gives their statuses). */
export class DashboardError extends AppError {
  declare readonly code: DashboardErrorCode;

  constructor(code: DashboardErrorCode, message: string) {
    super(code, message);
    this.name = 'DashboardError';
  }
}
