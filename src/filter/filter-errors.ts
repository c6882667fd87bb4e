import { AppError } from '../util/app-error.js';

/** A missing filter, or why an API change of its infohashes was refused (the Capture API's codes). */
export type FilterErrorCode =
  | 'FILTER_NOT_FOUND'
  | 'INFOHASH_NOT_FOUND'
  | 'TORRENT_FILE_NOT_FOUND'
  | 'FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED';

/** An unknown filter or a refused addInfohash / deleteInfohash. The HTTP layer maps the code to a status. */
export class FilterError extends AppError {
  declare readonly code: FilterErrorCode;

  constructor(code: FilterErrorCode, message: string) {
    super(code, message);
    this.name = 'FilterError';
  }
}
