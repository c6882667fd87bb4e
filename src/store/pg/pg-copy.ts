import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { writeSafeInt } from '../../util/write-safe-int.js';
import type { PgClient } from './pg-pool.js';

/** One value in COPY's text format: NULL as \N, backslash, tab, newline and CR escaped. */
export function copyText(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 't' : 'f';
  // Fast path: most strings need no escaping.
  if (!/[\\\t\n\r]/.test(v)) return v;
  return v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/**
 * Bytes per chunk of COPY data (a chunk is one CopyData message; rows may straddle chunks). 64 KiB:
 * larger chunks are mmap-ed and unmapped by the allocator each time (measured: 256 KiB chunks cost
 * ~0.8 µs more system time per capture than 64 KiB ones).
 */
const CHUNK_BYTES = 64 * 1024;
const TAB = 9;
const NEWLINE = 10;
const BACKSLASH = 92;
/** Strings up to this length are written byte by byte when ASCII (cheaper than a native call). */
const SHORT = 64;

/**
 * COPY text-format rows written straight into Buffers, field by field: no string per value, line or
 * chunk (building and joining those strings cost more CPU than the server's work per row, most of
 * it in garbage collection). Each field is followed by a tab; `endRow` turns the last tab into a
 * newline. The chunks can be sent more than once (the ingest path's retry through staging).
 */
export class CopyWriter {
  private buf: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private off = 0;
  private readonly done: Buffer[] = [];
  rows = 0;

  /** `sink` (optional) gets each chunk as soon as it is full (CopyIn: sent while the next one is written). */
  constructor(private readonly sink?: (chunk: Buffer) => void) {}

  /** Room for `n` more bytes (the current chunk is closed when full; a row may straddle two). */
  private room(n: number): void {
    if (this.buf.length - this.off >= n) return;
    if (this.off > 0) this.close(this.buf.subarray(0, this.off));
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, n));
    this.off = 0;
  }

  private close(chunk: Buffer): void {
    this.done.push(chunk);
    this.sink?.(chunk);
  }

  /** An integer column (or NULL). Other numbers are written as String(n) would. */
  int(n: number | null | undefined): this {
    if (n === null || n === undefined) return this.nul();
    this.room(32);
    const buf = this.buf;
    if (!Number.isSafeInteger(n)) {
      this.off += buf.write(`${String(n)}\t`, this.off, 'latin1');
      return this;
    }
    let off = writeSafeInt(buf, this.off, n);
    buf[off++] = TAB;
    this.off = off;
    return this;
  }

  bool(b: boolean): this {
    this.room(2);
    this.buf[this.off++] = b ? 116 : 102; // 't' | 'f'
    this.buf[this.off++] = TAB;
    return this;
  }

  nul(): this {
    this.room(3);
    this.buf[this.off++] = BACKSLASH;
    this.buf[this.off++] = 78; // 'N'
    this.buf[this.off++] = TAB;
    return this;
  }

  /** A text column (or NULL), escaped as COPY's text format wants. */
  text(s: string | null | undefined): this {
    if (s === null || s === undefined) return this.nul();
    const len = s.length;
    if (len <= SHORT) {
      this.room(len + 1);
      const buf = this.buf;
      let off = this.off;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128 || c === BACKSLASH || c === TAB || c === NEWLINE || c === 13) break;
        buf[off++] = c;
      }
      if (i === len) {
        buf[off++] = TAB;
        this.off = off;
        return this;
      }
      // Not plain ASCII: the general path writes the whole value again from the start.
    }
    const v = copyText(s);
    this.room(v.length * 3 + 1);
    this.off += this.buf.write(v, this.off, 'utf8');
    this.buf[this.off++] = TAB;
    return this;
  }

  /** Ends the row (its last field's tab becomes the newline). */
  endRow(): void {
    this.buf[this.off - 1] = NEWLINE;
    this.rows++;
  }

  /** The COPY data written so far, as chunks (the writer keeps them: call once, at the end). */
  chunks(): Buffer[] {
    if (this.off > 0) {
      this.close(this.buf.subarray(0, this.off));
      this.buf = Buffer.allocUnsafe(0);
      this.off = 0;
    }
    return this.done;
  }
}

/** COPY `target` FROM STDIN (text format) with data already encoded; returns the rows copied. */
export async function copyChunks(client: PgClient, target: string, chunks: readonly Buffer[]): Promise<number> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
  const done = finished(stream);
  try {
    for (const chunk of chunks) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
  } catch (err) {
    stream.destroy(err as Error);
  }
  await done;
  return Number(stream.rowCount);
}

/**
 * A COPY `target` FROM STDIN whose rows are sent while they are written: each 64 KiB chunk of the
 * CopyWriter goes to the server as soon as it is full, so the server parses and inserts chunk n
 * while node encodes chunk n+1 (before, a batch was encoded whole, then sent: node and the server
 * took turns). Writes are not held back (no 'drain' wait): the chunks are kept in memory anyway
 * (`end()` returns them, for a retry), so the socket's buffer holds nothing more than the batch.
 * Several CopyIns may be started one after the other on one client: the client sends each COPY
 * when the one before is done, the rows of the later ones wait in their streams until then.
 */
export class CopyIn {
  readonly writer: CopyWriter;
  private readonly stream: ReturnType<typeof copyFrom>;
  private readonly finished: Promise<void>;

  constructor(client: PgClient, target: string) {
    const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
    this.stream = stream;
    this.finished = finished(stream);
    // Awaited by done(); until then a failure must not count as an unhandled rejection.
    this.finished.catch(() => undefined);
    this.writer = new CopyWriter((chunk) => stream.write(chunk));
  }

  /** Ends the data (the last chunk is sent); returns every chunk of it. */
  end(): Buffer[] {
    const chunks = this.writer.chunks();
    this.stream.end();
    return chunks;
  }

  /** Abandons the COPY (CopyFail: the server rolls the statement back), e.g. when encoding threw. */
  fail(err: Error): void {
    this.stream.destroy(err);
  }

  /** Resolves with the rows copied once the server has them all; rejects with the server's error. */
  async done(): Promise<number> {
    await this.finished;
    return Number(this.stream.rowCount);
  }
}

/** Lines per chunk written to the server (a few hundred KiB). */
const CHUNK_LINES = 2048;

/**
 * COPY `table (columns)` FROM STDIN in text format, the lines (each ending in "\n") joined into
 * chunks of CHUNK_LINES and written with backpressure. Returns the rows copied.
 */
export async function copyLines(client: PgClient, target: string, lines: readonly string[]): Promise<number> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < lines.length; i += CHUNK_LINES) chunks.push(Buffer.from(lines.slice(i, i + CHUNK_LINES).join('')));
  return copyChunks(client, target, chunks);
}
