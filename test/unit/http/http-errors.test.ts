import { describe, expect, it } from 'vitest';
import { FilterError } from '../../../src/filter/filter-errors.js';
import { HTTP_STATUS, RequestError, toHttpError } from '../../../src/http/http-errors.js';
import { InvalidInfoHashError, requireInfoHash } from '../../../src/model/infohash.js';
import { parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { SpamError } from '../../../src/spam/spam-errors.js';
import { AppError } from '../../../src/util/app-error.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('domain errors carry a code, and only http/ maps codes to statuses', () => {
  it('domain modules throw typed errors without an HTTP status', () => {
    const ih = thrown(() => requireInfoHash(''));
    expect(ih).toBeInstanceOf(InvalidInfoHashError);
    expect(ih).toMatchObject({ code: 'INVALID_INFOHASH' });
    expect(ih).not.toHaveProperty('status');
    const torrent = thrown(() => parseTorrentFile(Buffer.from('not bencode')));
    expect(torrent).toMatchObject({ code: 'INVALID_TORRENT' });
    expect(torrent).not.toHaveProperty('status');
    expect(new FilterError('FILTER_NOT_FOUND', 'x')).not.toHaveProperty('status');
  });

  it.each([
    [new InvalidInfoHashError(), 400, 'INVALID_INFOHASH'],
    [new AppError('INVALID_TORRENT', 'bad'), 400, 'INVALID_TORRENT'],
    [new FilterError('FILTER_NOT_FOUND', 'x'), 404, 'FILTER_NOT_FOUND'],
    [new FilterError('INFOHASH_NOT_FOUND', 'x'), 404, 'INFOHASH_NOT_FOUND'],
    [new FilterError('TORRENT_FILE_NOT_FOUND', 'x'), 409, 'TORRENT_FILE_NOT_FOUND'],
    [new FilterError('FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED', 'x'), 409, 'FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED'],
    [new RequestError('API_KEY_UNKNOWN', 'x'), 401, 'API_KEY_UNKNOWN'],
    [new RequestError('METHOD_NOT_ALLOWED', 'x'), 405, 'METHOD_NOT_ALLOWED'],
    [new SpamError('RATE_LIMITED', 'x', { retryAfterSeconds: 3 }), 429, 'RATE_LIMITED'],
  ])('%s → %i %s with its message', (err, status, code) => {
    expect(toHttpError(err)).toEqual({ status, body: { error: code, message: err.message } });
  });

  it('an AppError of a code the API does not answer with (a database failure, …) is a 500 without details', () => {
    for (const err of [new AppError('DB_OPEN_FAILED', 'cannot open /secret/path'), new Error('boom'), 'text', null]) {
      expect(toHttpError(err)).toEqual({ status: 500, body: { error: 'INTERNAL_ERROR', message: 'internal server error' } });
    }
    expect(toHttpError(new AppError('toString', 'x')).status).toBe(500); // no prototype keys
  });

  it("fastify's own client errors become the API's codes", () => {
    expect(toHttpError({ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'x' }).body.error).toBe('PAYLOAD_TOO_LARGE');
    expect(toHttpError({ statusCode: 415, message: 'x' }).status).toBe(415);
    expect(toHttpError({ statusCode: 400, message: 'Body is not valid JSON' })).toEqual({
      status: 400,
      body: { error: 'INVALID_PARAMETER', message: 'Body is not valid JSON' },
    });
  });

  it("every status in the table is a 4xx, except INTERNAL_ERROR and the Sparkle seed's 507 for too many user applications, and STORAGE_UNAVAILABLE", () => {
    for (const [code, status] of Object.entries(HTTP_STATUS)) {
      if (code === 'INTERNAL_ERROR') expect(status).toBe(500);
      else if (code === 'BTN_APP_LIMIT') expect(toHttpError(new AppError(code, 'limit'))).toEqual({ status: 507, body: { error: code, message: 'limit' } });
      else if (code === 'STORAGE_UNAVAILABLE') expect(status).toBe(503);
      else expect(status >= 400 && status < 500, code).toBe(true);
    }
  });

  it('a storage fault (database locked, disk full) → 503 STORAGE_UNAVAILABLE saying which', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    expect(toHttpError(busy)).toEqual({
      status: 503,
      body: { error: 'STORAGE_UNAVAILABLE', message: 'database locked by another process: the change was not saved, try again later' },
    });
    expect(toHttpError(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })).body.message).toMatch(/^disk full/);
  });
});
