import type { Readable } from 'node:stream';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import { BtnError } from './btn-error.js';

export interface BodyLimits {
  /** Bytes of the decoded (inflated) body at most. */
  maxBytes: number;
  /** Raw bytes read and discarded after the limit is passed before the connection is closed instead (RFC 9112 §9.6). */
  maxDrainBytes: number;
}

/**
 * Reads a request body as PeerBanHelper sends it: gzip (Content-Encoding) and chunked, of unknown
 * length. The body is inflated as it streams in and stops being buffered at `maxBytes` of
 * decoded data (a gzip bomb cannot grow memory); the rest of the request is still read and
 * discarded so the client receives the 413 instead of a reset connection. Returns the decoded
 * UTF-8 text ('' for no body).
 */
export function readBody(raw: Readable, contentEncoding: string | undefined, limits: BodyLimits): Promise<string> {
  const enc = (contentEncoding ?? 'identity').trim().toLowerCase();
  let decoder: Gunzip | Inflate | undefined;
  if (enc === 'gzip' || enc === 'x-gzip') decoder = createGunzip();
  else if (enc === 'deflate') decoder = createInflate();
  else if (enc !== 'identity' && enc !== '') {
    return drain(raw, limits.maxDrainBytes).then(() => {
      throw new BtnError('BTN_BAD_BODY', `unsupported Content-Encoding "${enc}" (gzip, deflate or none)`);
    });
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    let settled = false;
    const finish = (err: Error | undefined, text?: string): void => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(text ?? '');
    };
    const onData = (chunk: Buffer): void => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limits.maxBytes) {
        tooLarge = true;
        chunks.length = 0;
        if (decoder) {
          raw.unpipe(decoder);
          decoder.destroy();
        }
        void drain(raw, limits.maxDrainBytes).then(
          () => finish(new BtnError('BTN_BODY_TOO_LARGE', `request body is larger than ${limits.maxBytes} bytes (decoded)`)),
          (err: unknown) => finish(err as Error),
        );
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (!tooLarge) finish(undefined, Buffer.concat(chunks, size).toString('utf8'));
    };
    if (decoder) {
      decoder.on('data', onData);
      decoder.on('end', onEnd);
      decoder.on('error', (err) => {
        if (tooLarge) return;
        tooLarge = true; // stop collecting; read the rest, then report
        void drain(raw, limits.maxDrainBytes).then(() =>
          finish(new BtnError('BTN_BAD_BODY', `request body is not valid ${enc}: ${err.message}`, { cause: err })),
        );
      });
      raw.on('error', (err) => finish(err));
      raw.pipe(decoder);
    } else {
      raw.on('data', onData);
      raw.on('end', onEnd);
      raw.on('error', (err) => finish(err));
    }
  });
}

/** Reads and discards the rest of a request, up to `maxBytes`; beyond that it stops reading (the server closes the connection). */
function drain(raw: Readable, maxBytes: number): Promise<void> {
  return new Promise((resolve) => {
    if (raw.readableEnded) return resolve();
    let seen = 0;
    const done = (): void => {
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > maxBytes) {
        raw.pause();
        done();
      }
    };
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('error', done);
    raw.resume();
  });
}

/** Parses JSON text; an invalid document is a BtnError the client sees as 400. */
export function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BtnError('BTN_BAD_BODY', `request body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}
