import type { FastifyError } from 'fastify';
import type { BtnErrorCode } from '../btn/btn-error.js';
import type { FilterErrorCode } from '../filter/filter-errors.js';
import type { InvalidInfoHashError } from '../model/infohash.js';
import type { SpamErrorCode } from '../spam/spam-errors.js';
import { AppError } from '../util/app-error.js';
import { probeWritable, storageFault } from '../util/storage-fault.js';

/** Codes of the errors the HTTP layer raises itself (authentication, parameters, request shape). */
export type RequestErrorCode =
  | 'API_KEY_UNKNOWN'
  | 'API_KEY_SUSPENDED'
  | 'ACCESS_FORBIDDEN'
  | 'INVALID_PARAMETER'
  | 'CAPTURE_NOT_FOUND'
  | 'PCAP_NOT_FOUND'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'REQUEST_TIMEOUT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'REQUEST_TOO_LARGE'
  | 'STORAGE_UNAVAILABLE'
  | 'INTERNAL_ERROR';

/** A request the API refuses for a reason of its own (not a domain rule). */
export class RequestError extends AppError {
  declare readonly code: RequestErrorCode;

  constructor(code: RequestErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RequestError';
  }
}

/** Every code the API answers with. Domain modules own theirs; the statuses live here only. */
export type ApiErrorCode = RequestErrorCode | FilterErrorCode | InvalidInfoHashError['code'] | SpamErrorCode | 'INVALID_TORRENT' | BtnErrorCode | 'QUERY_FIELD_INVALID';

/** The one map from error codes to HTTP statuses (docs/api.md lists the same table). */
export const HTTP_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  INVALID_PARAMETER: 400,
  INVALID_INFOHASH: 400,
  INVALID_TORRENT: 400,
  API_KEY_UNKNOWN: 401,
  API_KEY_SUSPENDED: 403,
  ACCESS_FORBIDDEN: 403,
  FILTER_NOT_FOUND: 404,
  INFOHASH_NOT_FOUND: 404,
  CAPTURE_NOT_FOUND: 404,
  PCAP_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  TORRENT_FILE_NOT_FOUND: 409,
  FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  REQUEST_TOO_LARGE: 431,
  INTERNAL_ERROR: 500,
  // The BTN server (src/btn/): never 401 for a BTN client, which retries a 401 about twenty times
  // (spec §1.2, §5); wrong credentials are 404, missing or banned ones 403.
  BTN_NO_CREDENTIALS: 403,
  BTN_APP_NOT_FOUND: 404,
  BTN_APP_BANNED: 403,
  BTN_BODY_TOO_LARGE: 413,
  BTN_BAD_BODY: 400,
  BTN_BAD_PARAMETER: 400,
  BTN_PAGE_TOO_LARGE: 400,
  BTN_LOGIN_REQUIRED: 403,
  BTN_FORBIDDEN: 403,
  BTN_NOT_FOUND: 404,
  BTN_APP_LIMIT: 507,
  BTN_POW_FAILED: 403,
  BTN_LOGIN_FAILED: 403,
  BTN_TOO_MANY_LOGINS: 429,
  QUERY_FIELD_INVALID: 400,
  STORAGE_UNAVAILABLE: 503,
};

export interface HttpError {
  status: number;
  /** The body: `{error, message}`. */
  body: { error: ApiErrorCode; message: string };
}

function isApiCode(code: string): code is ApiErrorCode {
  return Object.hasOwn(HTTP_STATUS, code);
}

const INTERNAL: HttpError = { status: 500, body: { error: 'INTERNAL_ERROR', message: 'internal server error' } };

function response(code: ApiErrorCode, message: string): HttpError {
  const status = HTTP_STATUS[code];
  // 5xx hide their details, except the seed's 507 "too many user applications" (a client's own limit)
  // and 503 STORAGE_UNAVAILABLE (the reason is the operator's and the client's to know).
  return status >= 500 && code !== 'BTN_APP_LIMIT' && code !== 'STORAGE_UNAVAILABLE' ? INTERNAL : { status, body: { error: code, message } };
}

/**
 * The status and body of any error a request raised: typed errors by their code, fastify's own
 * client errors by their status; anything else (an AppError of a code the API does not answer
 * with included) is a 500 without details.
 */
export function toHttpError(err: unknown, storageDir?: string): HttpError {
  // The database locked by another process, a full or read-only disk: say so, and that it passes.
  // SQLite says "disk I/O error" for a disk that turned read-only under it: the probe tells which.
  const fault = storageFault(err);
  if (fault && !(err instanceof AppError && isApiCode(err.code))) {
    const reason = (fault.kind === 'io-error' && storageDir !== undefined ? probeWritable(storageDir) : undefined) ?? fault;
    return response('STORAGE_UNAVAILABLE', `${reason.reason}: the change was not saved, try again later`);
  }
  if (err instanceof AppError) return isApiCode(err.code) ? response(err.code, err.message) : INTERNAL;
  const fe = err as Partial<FastifyError> | null;
  const status = fe?.statusCode ?? 500;
  const code = fe?.code ?? '';
  if (status === 413 || code === 'FST_REQ_FILE_TOO_LARGE' || code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT') {
    return response('PAYLOAD_TOO_LARGE', 'request body is too large');
  }
  if (status === 415) return response('UNSUPPORTED_MEDIA_TYPE', 'use application/x-www-form-urlencoded (or multipart/form-data for uploads)');
  if (status === 408) return response('REQUEST_TIMEOUT', 'request took too long');
  if (status >= 400 && status < 500) return response('INVALID_PARAMETER', fe?.message ?? 'bad request');
  return INTERNAL;
}

/** The response for an error code the HTTP layer decides itself (not found, bad request line, …). */
export function httpError(code: RequestErrorCode, message: string): HttpError {
  return response(code, message);
}
