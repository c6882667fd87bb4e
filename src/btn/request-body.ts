import type { Readable } from 'node:stream';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import { BtnError } from './btn-error.js';
import type { BodyEncoding } from './submission-decode.js';

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
          () => finish(bodyTooLarge(limits.maxBytes)),
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

/**
 * Reads a request body without inflating it (decode-pool.ts inflates it on its own thread, with the
 * cap on the decoded size there). The bytes read are capped too: at `maxBytes` for an uncompressed
 * body, and for gzip / deflate at what the largest body that inflates within the cap can take
 * (deflate's stored blocks add 5 bytes per 64 KiB, the gzip header and trailer a few dozen): past it,
 * the rest is read and discarded and the answer is BTN_BODY_TOO_LARGE (413), as readBody does.
 */
export function readRawBody(raw: Readable, contentEncoding: string | undefined, limits: BodyLimits): Promise<{ bytes: Buffer; encoding: BodyEncoding }> {
  const enc = (contentEncoding ?? 'identity').trim().toLowerCase();
  const encoding: BodyEncoding | undefined =
    enc === 'gzip' || enc === 'x-gzip' ? 'gzip' : enc === 'deflate' ? 'deflate' : enc === 'identity' || enc === '' ? 'identity' : undefined;
  if (!encoding) {
    return drain(raw, limits.maxDrainBytes).then(() => {
      throw new BtnError('BTN_BAD_BODY', `unsupported Content-Encoding "${enc}" (gzip, deflate or none)`);
    });
  }
  const cap = encoding === 'identity' ? limits.maxBytes : limits.maxBytes + Math.ceil(limits.maxBytes / 8192) + 1024;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= cap) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      raw.off('data', onData);
      raw.off('end', onEnd);
      void drain(raw, limits.maxDrainBytes).then(() => reject(bodyTooLarge(limits.maxBytes)), reject);
    };
    const onEnd = (): void => {
      // Its own ArrayBuffer (never a slice of Buffer's shared pool), so it can be transferred to a thread.
      const bytes = Buffer.from(new ArrayBuffer(size));
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.length;
      }
      resolve({ bytes, encoding });
    };
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('error', reject);
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

export function bodyTooLarge(maxBytes: number): BtnError {
  return new BtnError('BTN_BODY_TOO_LARGE', `request body is larger than ${maxBytes} bytes (decoded)`);
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
