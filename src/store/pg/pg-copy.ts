import { once } from 'node:events';
import { finished } from 'node:stream/promises';
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

/** Lines per chunk written to the server (a few hundred KiB). */
const CHUNK_LINES = 2048;

/**
 * COPY `table (columns)` FROM STDIN in text format, the lines (each ending in "\n") joined into
 * chunks of CHUNK_LINES and written with backpressure. Returns the rows copied.
 */
export async function copyLines(client: PgClient, target: string, lines: readonly string[]): Promise<number> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
  const done = finished(stream);
  try {
    for (let i = 0; i < lines.length; i += CHUNK_LINES) {
      const chunk = lines.slice(i, i + CHUNK_LINES).join('');
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
  } catch (err) {
    stream.destroy(err as Error);
  }
  await done;
  return Number(stream.rowCount);
}
