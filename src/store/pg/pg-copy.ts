import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
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

/** Chunks of about this many characters go to the server at a time. */
const CHUNK_CHARS = 1 << 18;

/**
 * COPY `table (columns)` FROM STDIN in text format, the lines (each ending in "\n") made lazily
 * by `lines` and sent in chunks of ~256 KiB. Returns the rows copied.
 */
export async function copyLines(client: PgClient, target: string, lines: Iterable<string>): Promise<number> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
  function* chunks(): Generator<string> {
    let buf = '';
    for (const line of lines) {
      buf += line;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    }
    if (buf.length > 0) yield buf;
  }
  await pipeline(Readable.from(chunks(), { objectMode: false }), stream);
  return Number(stream.rowCount);
}
